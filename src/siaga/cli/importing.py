"""``siaga import prometheus-rules|alertmanager``: existing Prometheus / Alertmanager files as spec.

Without ``--merge`` the fragment goes to stdout (YAML, or JSON with ``--json``) and the report to stderr.
With ``--merge SPEC`` the spec file is rewritten with the new entries and then validated (unset variables
standing in); exit 1 when the merged spec does not load.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from siaga.cli import UserError, print_json
from siaga.importers import (
    ImportResult,
    SourceError,
    dump_yaml,
    format_report,
    import_alertmanager,
    import_prometheus_rules,
    merge_into_spec,
    read_yaml,
)

import_app = typer.Typer(
    no_args_is_help=True, help="Turn existing Prometheus / Alertmanager files into spec."
)

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the fragment and the report as one JSON object on stdout.")
]
MergeOpt = Annotated[
    Path | None,
    typer.Option("--merge", help="Add the imported sections to this spec file (existing names are kept)."),
]


def _load(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    try:
        return read_yaml(text, str(path))
    except SourceError as error:
        raise UserError(str(error)) from None


@import_app.command("prometheus-rules")
def prometheus_rules(
    files: Annotated[list[Path], typer.Argument(help="Prometheus rule files (groups: …).")],
    merge: MergeOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Alerting rules → `rules:`; recording rules and group intervals → `prometheus:`."""
    sources = [(str(path), _load(path)) for path in files]
    try:
        result = import_prometheus_rules(sources)
    except SourceError as error:
        raise UserError(str(error)) from None
    _finish(result, f"siaga import prometheus-rules {' '.join(map(str, files))}", merge, json_)


@import_app.command("alertmanager")
def alertmanager(
    file: Annotated[Path, typer.Argument(help="An alertmanager.yml.")],
    merge: MergeOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Receivers → `channels:`, the route tree → `routes:` (flattened), inhibit rules → `inhibit:`."""
    data = _load(file)
    try:
        result = import_alertmanager(data, filename=str(file))
    except SourceError as error:
        raise UserError(str(error)) from None
    _finish(result, f"siaga import alertmanager {file}", merge, json_)


def _finish(result: ImportResult, title: str, merge: Path | None, as_json: bool) -> None:
    if merge is None:
        if as_json:
            print_json(result.to_json())
        else:
            typer.echo(dump_yaml(result.fragment), nl=False)
            typer.echo(format_report(result, title), err=True)
        return
    try:
        text = merge.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise UserError(f"cannot read {merge}: {reason}") from None
    try:
        outcome = merge_into_spec(text, result.fragment, filename=str(merge))
    except SourceError as error:
        raise UserError(str(error)) from None
    if outcome.text != text:
        _write(merge, outcome.text)
    problems = _validate(merge, outcome.text)
    if as_json:
        print_json(
            {
                **result.to_json(),
                "merged": {
                    "file": str(merge),
                    "added": outcome.added,
                    "conflicts": outcome.conflicts,
                    "routes_left_out": outcome.routes_left_out,
                    "problems": problems,
                },
            }
        )
    else:
        typer.echo(format_report(result, title), err=True)
        added = ", ".join(outcome.added) if outcome.added else "nothing"
        typer.echo(f"{merge}: added {added}")
        for conflict in outcome.conflicts:
            typer.echo(f"{merge}: {conflict}")
        if outcome.routes_left_out:
            typer.echo(
                f"{merge}: already has routes, so the imported ones were not merged (first match wins: "
                "place them yourself):"
            )
            typer.echo(dump_yaml({"routes": outcome.routes_left_out}), nl=False)
        if problems:
            typer.echo(f"{merge}: the merged spec does not load:", err=True)
            for problem in problems:
                typer.echo(f"  {problem}", err=True)
    if problems:
        raise typer.Exit(1)


def _write(path: Path, text: str) -> None:
    """Replace the file in one step, so that a crash leaves the old spec or the new one, never half."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as sink:
            sink.write(text)
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {error.strerror or error}") from None


def _validate(path: Path, text: str) -> list[str]:
    """The merged spec's load errors. Variables it names that are not set count as set: the import's own
    placeholders are in the report, and `siaga validate` checks the spec against the real environment."""
    from siaga.spec import SpecError, load_spec

    env = dict(os.environ)
    for name in _REFERENCE.findall(text.replace("$$", "")):
        env.setdefault(name, f"<{name}>")
    try:
        load_spec(path, env=env)
    except SpecError as error:
        return [str(issue) for issue in error.issues]
    return []
