"""``siaga backup run|list|verify|drill|forget|restore JOB``: backups that prove themselves.

These act on the machine they run on (the repositories and databases the spec names), with the local data
directory as the record; every run is recorded, with the alerts it raises or clears.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from siaga.cli import ConfigOpt, JsonOpt, UserError, out, print_json, settings
from siaga.cli.backend import when

backup_app = typer.Typer(no_args_is_help=True, help="Backups: run, list, verify, drill, forget, restore.")
JobArg = Annotated[str, typer.Argument(help="The backup job (a key of backups.jobs).")]


def _context(config: Path | None) -> Any:
    from siaga.adapters.clock import SystemClock
    from siaga.bootstrap import open_database
    from siaga.services.backups import Context
    from siaga.services.policy import Policy
    from siaga.spec import load_spec

    found = settings(config)
    spec = load_spec(found.config_path)
    clock = SystemClock()
    return Context(
        spec=spec,
        uow=open_database(found),
        policy=Policy.from_spec(spec),
        clock=clock,
        data_dir=found.data_dir,
    )


def _guard(action: Any) -> Any:
    from siaga.services.backups import BackupUsageError

    try:
        return action()
    except BackupUsageError as error:
        raise UserError(str(error)) from None


def _report(report: Any, as_json: bool) -> None:
    if as_json:
        print_json(report.__dict__)
    else:
        verdict = "[green]ok[/]" if report.ok else f"[bold red]failed[/]: {report.reason}"
        size = f", {report.bytes / 1e6:.1f} MB" if report.bytes else ""
        out.print(f"{report.kind} {report.job}: {verdict} ({report.seconds:.1f} s{size})")
        for name, snapshot in sorted(report.snapshots.items()):
            out.print(f"  {name}: snapshot {snapshot[:8]}")
        for key in ("read_data_subset", "phases", "rto_seconds", "rpo_seconds"):
            if key in report.detail:
                out.print(f"  {key}: {report.detail[key]}")
    if not report.ok:
        raise typer.Exit(1)


@backup_app.command("run")
def run(job: JobArg, config: ConfigOpt = None, json_: JsonOpt = False) -> None:
    """Back the job up now (then apply its retention); exit 1 when it failed."""
    from siaga.services import backups

    ctx = _context(config)
    with out.status(f"backing up {job} …"):
        report = _guard(lambda: backups.run_backup(ctx, job))
    _report(report, json_)


@backup_app.command("verify")
def verify(job: JobArg, config: ConfigOpt = None, json_: JsonOpt = False) -> None:
    """restic check (a rotating data subset) and a restore compared with the backup's own counts."""
    from siaga.services import backups

    ctx = _context(config)
    with out.status(f"verifying {job} …"):
        report = _guard(lambda: backups.verify(ctx, job))
    _report(report, json_)


@backup_app.command("drill")
def drill(job: JobArg, config: ConfigOpt = None, json_: JsonOpt = False) -> None:
    """Restore into scratch, validate, and measure the RTO and RPO against the job's targets."""
    from siaga.services import backups

    ctx = _context(config)
    with out.status(f"restore drill of {job} …"):
        report = _guard(lambda: backups.drill(ctx, job))
    _report(report, json_)


@backup_app.command("list")
def list_(
    job: Annotated[str | None, typer.Argument(help="Only this job.")] = None,
    config: ConfigOpt = None,
    json_: JsonOpt = False,
    snapshots: Annotated[bool, typer.Option("--snapshots", help="List the repositories' snapshots.")] = False,
) -> None:
    """Recorded runs (newest first), or with --snapshots a job's snapshots in each repository."""
    from siaga.services import backups

    ctx = _context(config)
    if snapshots:
        if job is None:
            raise UserError("--snapshots needs a JOB")
        found = _guard(lambda: backups.snapshots(ctx, job))
        if json_:
            print_json({repo: [info.__dict__ for info in items] for repo, items in found.items()})
            return
        table = Table("repository", "snapshot", "time", "tags")
        for repo, items in found.items():
            for info in reversed(items):
                table.add_row(repo, info.id[:8], when(info.time), ", ".join(info.tags))
        out.print(table)
        return
    runs = _guard(lambda: backups.history(ctx, job))
    if json_:
        print_json({"items": runs})
        return
    table = Table("job", "kind", "started", "result", "size", "reason")
    for item in runs:
        size = f"{item['bytes'] / 1e6:.1f} MB" if item["bytes"] else ""
        result = "[green]ok[/]" if item["ok"] else "[red]failed[/]"
        table.add_row(item["job"], item["kind"], when(item["started_at"]), result, size, item["reason"] or "")
    out.print(table)


@backup_app.command("forget")
def forget(
    job: JobArg,
    config: ConfigOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would be removed.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Apply the job's retention (GFS, docs/retention.md) to each repository."""
    from siaga.services import backups

    ctx = _context(config)
    chosen = _guard(lambda: backups.forget(ctx, job, dry_run=dry_run))
    if json_:
        print_json({repo: {"keep": s.keep, "remove": s.remove} for repo, s in chosen.items()})
        return
    for repo, selection in chosen.items():
        verb = "would remove" if dry_run else "removed"
        out.print(f"{repo}: keep {len(selection.keep)}, {verb} {len(selection.remove)}")
        for snapshot in selection.remove:
            out.print(f"  - {snapshot[:8]}")


@backup_app.command("restore")
def restore(
    job: JobArg,
    target: Annotated[str, typer.Option("--target", help="Database URL or path to restore into.")],
    config: ConfigOpt = None,
    snapshot: Annotated[str | None, typer.Option("--snapshot", help="Snapshot id (default newest).")] = None,
    to_time: Annotated[
        str | None, typer.Option("--to-time", help="Point in time (PostgreSQL jobs with pitr).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before overwriting the target.")] = False,
    port: Annotated[int, typer.Option("--port", help="With --to-time: the restored cluster's port.")] = 54329,
) -> None:
    """Restore a snapshot into TARGET and validate it against the counts and checksums taken at backup."""
    from siaga.services import backups

    if to_time is not None:
        _restore_to_time(job, target, to_time, config, port)
        return
    ctx = _context(config)
    if not yes and not typer.confirm(f"Restore {job} into {_safe(target)}? Whatever is there is replaced."):
        raise typer.Exit(1)
    with out.status(f"restoring {job} …"):
        outcome = _guard(lambda: backups.restore(ctx, job, target=target, snapshot=snapshot))
    if outcome.ok:
        out.print(f"restored snapshot {outcome.snapshot_id[:8]} into {outcome.target}: matches its manifest")
        return
    out.print(f"[bold red]restore failed[/]: {outcome.reason}")
    raise typer.Exit(1)


def _restore_to_time(job: str, target: str, to_time: str, config: Path | None, port: int) -> None:
    """PostgreSQL point-in-time recovery: a new cluster in the (empty) directory TARGET, recovered to the
    time and left running on PORT (its Unix socket only), through pgBackRest on this host."""
    from siaga.integrations.pitr import Host, PitrError
    from siaga.services import pitr_jobs

    try:
        moment = datetime.fromisoformat(to_time)
    except ValueError:
        raise UserError(
            f"--to-time '{to_time}' is not an ISO 8601 time such as 2026-12-01T10:30+07:00"
        ) from None
    if moment.tzinfo is None:
        raise UserError(f"--to-time '{to_time}' needs a time zone, e.g. 2026-12-01T10:30+07:00")
    ctx = _context(config)
    with out.status(f"restoring {job} to {moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC …"):
        try:
            cluster = _guard(
                lambda: pitr_jobs.restore_to_time(
                    ctx, job, moment, host=Host(), scratch_dir=Path(target), port=port
                )
            )
        except (PitrError, pitr_jobs.PitrJobError) as error:
            out.print(f"[bold red]restore failed[/]: {str(error).splitlines()[0]}")
            raise typer.Exit(1) from None
    out.print(
        f"restored {job} as of {cluster.target_time.isoformat()} into {cluster.data_dir}: {cluster.url}"
    )


def _safe(target: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(target)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":********@")
        return urlunsplit(parts._replace(netloc=netloc))
    return target
