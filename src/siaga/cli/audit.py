"""``siaga audit``: the security posture — headers, TLS, open ports, secrets, containers, nginx — scored.

Exit codes (for CI): 0 posture acceptable, 1 the overall score is under ``--fail-under`` or a finding at or
above ``--fail-on`` is present, 2 a usage error.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from siaga.cli import UserError, out

_FORMATS = ("table", "json", "sarif", "html")
DEFAULT_FAIL_UNDER = 70  # as the spec's security.fail_under


def _ports(text: str | None) -> list[int]:
    if not text:
        return []
    try:
        ports = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--allow-ports '{text}' is not a comma-separated list of ports") from None
    if any(not 1 <= p <= 65535 for p in ports):
        raise UserError(f"--allow-ports '{text}': ports are 1 to 65535")
    return ports


def audit(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Audit what the spec's `security:` section names.")
    ] = None,
    url: Annotated[list[str] | None, typer.Option("--url", help="Audit this URL (repeatable).")] = None,
    host: Annotated[str | None, typer.Option("--host", help="Probe this host's ports.")] = None,
    allow_ports: Annotated[
        str | None, typer.Option("--allow-ports", help="Ports --host may expose, e.g. 22,80,443.")
    ] = None,
    check_ports: Annotated[
        str | None, typer.Option("--check-ports", help="Ports to probe on --host (default --allow-ports).")
    ] = None,
    path: Annotated[
        list[Path] | None, typer.Option("--path", help="Scan this directory (repeatable).")
    ] = None,
    output: Annotated[str, typer.Option("--format", help="table, json, sarif or html.")] = "table",
    fail_under: Annotated[
        int | None, typer.Option("--fail-under", help="Exit 1 under this overall score.")
    ] = None,
    fail_on: Annotated[
        str | None,
        typer.Option("--fail-on", help="Exit 1 when a finding at or above this severity is found."),
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the report here instead of stdout.")
    ] = None,
    record: Annotated[
        bool,
        typer.Option(
            "--record/--no-record", help="Keep the run in the history and raise alerts (with --config)."
        ),
    ] = True,
) -> None:
    """Audit the security posture and score it per area (0 to 100; overall = the weakest area)."""
    from siaga.audit.run import AuditRequest
    from siaga.domain.audit import Severity
    from siaga.services import audit as service
    from siaga.spec import load_spec
    from siaga.spec.security import HeaderPolicy, HostPolicy

    if output not in _FORMATS:
        raise UserError(f"--format '{output}' is not one of {', '.join(_FORMATS)}")
    threshold = None
    if fail_on is not None:
        try:
            threshold = Severity.parse(fail_on)
        except ValueError as error:
            raise UserError(f"--fail-on: {error}") from None
    if host is None and (allow_ports or check_ports):
        raise UserError("--allow-ports and --check-ports need --host")
    for folder in path or []:
        if not folder.exists():
            raise UserError(f"--path {folder} does not exist")
    spec = None
    try:
        if config is not None:
            spec = load_spec(config)
            request = service.request_from_spec(spec, config.resolve().parent)
            fail_under = spec.security.fail_under if fail_under is None else fail_under
        else:
            if not (url or host or path):
                raise UserError("nothing to audit: give --config, or --url, --host or --path")
            hosts = (
                (HostPolicy(host=host, allow_ports=_ports(allow_ports), check_ports=_ports(check_ports)),)
                if host
                else ()
            )
            request = AuditRequest(
                urls=tuple(url or ()), hosts=hosts, paths=tuple(path or ()), headers=HeaderPolicy()
            )
            fail_under = DEFAULT_FAIL_UNDER if fail_under is None else fail_under
    except service.AuditInputError as error:
        raise UserError(str(error)) from None
    result = asyncio.run(service.audit(request, now=lambda: datetime.now(UTC)))
    new: list[Any] = []
    fixed: list[str] = []
    history: list[dict[str, Any]] = []
    if spec is not None and record:
        from siaga.bootstrap import open_database
        from siaga.cli import settings
        from siaga.services.policy import Policy

        db = open_database(settings(config))
        new, fixed = service.record(uow=db, policy=Policy.from_spec(spec), spec=spec, result=result)
        history = list(reversed(service.history(uow=db)))
    _emit(result, output, out_file, new, fixed, history, spec.project.name if spec else "ad hoc audit")
    failing = (fail_under is not None and result.scores.overall < fail_under) or (
        threshold is not None and any(f.severity >= threshold for f in result.findings)
    )
    if failing:
        raise typer.Exit(1)


def _emit(
    result: Any,
    output: str,
    out_file: Path | None,
    new: list[Any],
    fixed: list[str],
    history: list[Any],
    project: str,
) -> None:
    from siaga.audit import report

    text: str | None = None
    if output == "json":
        text = json.dumps(report.to_json(result, new, fixed), indent=2) + "\n"
    elif output == "sarif":
        text = json.dumps(report.to_sarif(result), indent=2) + "\n"
    elif output == "html":
        text = report.to_html(result, project=project, new=new, fixed=fixed, history=history)
    if text is not None:
        if out_file is not None:
            out_file.write_text(text, encoding="utf-8")
        else:
            typer.echo(text, nl=False)
        return
    table = Table("severity", "area", "rule", "location", "what", "fix")
    for finding in result.findings:
        table.add_row(
            finding.severity.label, finding.area, finding.rule, finding.location, finding.message, finding.fix
        )
    out.print(table)
    scores = ", ".join(
        f"{a.area} {a.score}" + (f" ({a.grade})" if a.grade else "") for a in result.scores.areas
    )
    out.print(f"overall {result.scores.overall}/100 — {scores}")
    if new or fixed:
        out.print(f"{len(new)} new, {len(fixed)} fixed since the last audit")
