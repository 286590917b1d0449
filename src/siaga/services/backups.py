"""Backup jobs carried out: run, list, forget (retention), verify, drill and restore.

Every run is recorded with the alerts it raises or clears in one transaction (``backup_health``). A
failed backup never triggers retention, so nothing is deleted because of a failure; failed runs have no
snapshot to count (the engines leave none behind).
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from siaga.domain import backups as domain
from siaga.domain import retention
from siaga.integrations import backup_engines as engines
from siaga.integrations.restic import RepoLocation, Restic, ResticError, SnapshotInfo
from siaga.services import backup_health
from siaga.services.policy import Policy
from siaga.services.ports import Clock, UnitOfWork
from siaga.spec.backups import Job, schedule_cron
from siaga.spec.models import Spec

JOB_TAG = "siaga:job="
# Forgetting is cheap and runs after every backup; pruning (rewriting packs to reclaim space) is costly and
# runs at most this often per job, as restic's own docs suggest for frequent forgets.
PRUNE_EVERY = timedelta(days=7)
# Repositories this process has opened already (`restic init` on an existing one still costs a command).
_OPENED: set[str] = set()


class BackupUsageError(Exception):
    """A request that cannot be carried out as asked (unknown job, no snapshot yet…): one line."""


@dataclass(frozen=True)
class Context:
    """What a backup operation needs, without the whole application container."""

    spec: Spec
    uow: UnitOfWork
    policy: Policy
    clock: Clock
    data_dir: Path


@dataclass
class RunReport:
    job: str
    kind: str
    ok: bool
    reason: str | None
    snapshots: dict[str, str] = field(default_factory=dict)
    bytes: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def job_of(spec: Spec, name: str) -> Job:
    job = spec.backups.jobs.get(name)
    if job is None:
        known = ", ".join(sorted(spec.backups.jobs)) or "none"
        raise BackupUsageError(f"no backup job '{name}' in the spec (jobs: {known})")
    return job


def repositories(ctx: Context, name: str) -> list[Restic]:
    job = job_of(ctx.spec, name)
    cache = ctx.data_dir / "restic-cache"
    return [
        Restic(
            RepoLocation.from_spec(ctx.spec.backups.repositories[repo], repo),
            cache_dir=cache,
            clock=ctx.clock.now,
        )
        for repo in job.repositories
    ]


def record(ctx: Context, report: RunReport, started: datetime, *, seconds: float | None = None) -> RunReport:
    """Store a run (and the alerts it changes); ``seconds`` when the caller measured the wall time itself."""
    finished = ctx.clock.now()
    report.seconds = round(seconds, 3) if seconds is not None else (finished - started).total_seconds()
    backup_health.record_run(
        uow=ctx.uow,
        policy=ctx.policy,
        spec=ctx.spec,
        run={
            "job": report.job,
            "kind": report.kind,
            "started_at": started,
            "finished_at": finished,
            "ok": report.ok,
            "reason": report.reason,
            "snapshots": report.snapshots,
            "bytes": report.bytes,
            "detail": report.detail,
        },
        now=finished,
    )
    return report


def _hooks(commands: list[str], what: str) -> str | None:
    for command in commands:
        try:
            done = subprocess.run(shlex.split(command), capture_output=True, timeout=600, check=False)  # noqa: S603
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{what} hook '{command}' could not run: {type(exc).__name__}"
        if done.returncode != 0:
            return f"{what} hook '{command}' exited {done.returncode}"
    return None


def run_backup(ctx: Context, name: str, *, apply_retention: bool = True) -> RunReport:
    """Back a job up into all its repositories, record it, then apply retention when it succeeded."""
    job = job_of(ctx.spec, name)
    started = ctx.clock.now()
    problem = _hooks(job.hooks.before, "before")
    if problem is not None:
        _hooks(job.hooks.on_failure, "on_failure")
        return record(ctx, RunReport(name, "backup", False, problem, detail={"failure": "hook"}), started)
    restics = repositories(ctx, name)
    try:
        for restic in restics:
            if restic.repository.url not in _OPENED:
                restic.init()
                _OPENED.add(restic.repository.url)
    except ResticError as exc:
        _hooks(job.hooks.on_failure, "on_failure")
        return record(
            ctx, RunReport(name, "backup", False, f"{exc.message}", detail={"failure": exc.kind}), started
        )
    scratch = ctx.data_dir / "scratch"
    try:
        scratch.mkdir(parents=True, exist_ok=True)
        outcome = engines.back_up(
            job.source,
            restics,
            [f"{JOB_TAG}{name}"],
            scratch=scratch,
            timeout=job.timeout.total_seconds() if job.timeout else None,
        )
    except OSError as exc:  # the scratch space itself (full, unwritable): a failed backup, not a crash
        _hooks(job.hooks.on_failure, "on_failure")
        why = f"scratch space {scratch}: {exc.strerror or type(exc).__name__}"
        return record(ctx, RunReport(name, "backup", False, why, detail={"failure": "scratch"}), started)
    if outcome.ok:
        _hooks(job.hooks.after, "after")
    else:
        _hooks(job.hooks.on_failure, "on_failure")
    detail: dict[str, Any] = {"durations": dict(outcome.durations)}
    if outcome.kind:
        detail["failure"] = outcome.kind
    if outcome.manifest is not None:
        detail["tables"] = len(outcome.manifest.tables)
        detail["rows"] = sum(t.rows for t in outcome.manifest.tables.values())
    # A backup that reached only some repositories is a failure (the job promised all of them).
    complete = outcome.ok and set(outcome.snapshots) == set(job.repositories)
    reason = outcome.reason or None
    if outcome.ok and not complete:
        missing = sorted(set(job.repositories) - set(outcome.snapshots))
        reason = f"not written to {', '.join(missing)}"
    report = record(
        ctx,
        RunReport(name, "backup", complete, reason, dict(outcome.snapshots), outcome.bytes or None, detail),
        started,
    )
    if complete and apply_retention and job.retention is not None:
        forget(ctx, name, dry_run=False)
    return report


def _job_snapshots(restic: Restic, name: str) -> list[SnapshotInfo]:
    return engines.data_snapshots(restic.snapshots(tags=[f"{JOB_TAG}{name}"]))


def forget(ctx: Context, name: str, *, dry_run: bool) -> dict[str, retention.Selection]:
    """Apply the job's retention to each repository; with ``dry_run`` only say what would go. The real
    run and the dry run choose through the same ``select_kept``."""
    job = job_of(ctx.spec, name)
    policy = retention.Policy.from_spec(job.retention)
    chosen: dict[str, retention.Selection] = {}
    removed: dict[str, list[str]] = {}
    started = ctx.clock.now()
    prune = not dry_run and _prune_due(ctx, name, started)
    for restic in repositories(ctx, name):
        found = _job_snapshots(restic, name)
        snapshots = [retention.Snapshot(info.id, info.time, True) for info in found]
        selection = retention.select_kept(snapshots, policy, ctx.clock.now(), ctx.spec.project.timezone)
        chosen[restic.label] = selection
        if not dry_run and selection.remove:
            restic.unlock()  # stale locks of a killed run expire here
            engines.forget_backups(restic, list(selection.remove), prune=prune)
            removed[restic.label] = list(selection.remove)
    if not dry_run:
        detail = {"removed": removed, "pruned": prune and bool(removed)}
        record(ctx, RunReport(name, "forget", True, None, detail=detail), started)
    return chosen


def _prune_due(ctx: Context, name: str, now: datetime) -> bool:
    with ctx.uow.read() as store:
        for run in store.backup_runs(name, "forget", limit=50):
            if (run["detail"] or {}).get("pruned"):
                return bool(now - run["started_at"] >= PRUNE_EVERY)
    return True


def snapshots(ctx: Context, name: str) -> dict[str, list[SnapshotInfo]]:
    return {restic.label: _job_snapshots(restic, name) for restic in repositories(ctx, name)}


def _scratch_target(ctx: Context, name: str, job: Job) -> str:
    """Where verify and drills restore to: a scratch database beside the source, or a scratch path."""
    kind = job.source.kind
    if kind in ("postgres", "mariadb", "mysql"):
        value = getattr(job.source, kind)
        url = urlsplit(str(value.get_secret_value()))
        return urlunsplit(url._replace(path=f"/siaga_scratch_{name.replace('-', '_')}"))
    suffix = ".db" if kind == "sqlite" else ""
    target = ctx.data_dir / "scratch" / f"{name}{suffix}"
    target.parent.mkdir(parents=True, exist_ok=True)
    return str(target)


def _newest(ctx: Context, name: str) -> tuple[Restic, SnapshotInfo]:
    for restic in repositories(ctx, name):
        found = _job_snapshots(restic, name)
        if found:
            return restic, max(found, key=lambda info: info.time)
    raise BackupUsageError(f"job '{name}' has no snapshot yet: run `siaga backup run {name}` first")


def verify(ctx: Context, name: str) -> RunReport:
    """``restic check`` on this verify's rotating data subset in every repository, then a restore of the
    newest snapshot into scratch compared with the counts and checksums taken at backup time."""
    job = job_of(ctx.spec, name)
    started = ctx.clock.now()
    with ctx.uow.read() as store:
        index = len(store.backup_runs(name, "verify", limit=10_000))
    cron = schedule_cron(job.verify or "weekly")
    subset = domain.data_subset(cron, ctx.spec.project.timezone, index, started)
    detail: dict[str, Any] = {"read_data_subset": subset}
    try:
        for restic in repositories(ctx, name):
            restic.check(subset)
        restic, newest = _newest(ctx, name)
    except ResticError as exc:
        return record(ctx, RunReport(name, "verify", False, exc.message, detail=detail), started)
    except BackupUsageError as exc:
        return record(ctx, RunReport(name, "verify", False, str(exc), detail=detail), started)
    outcome = engines.restore(restic, newest.id, _scratch_target(ctx, name, job))
    detail |= {"snapshot": newest.id, "durations": dict(outcome.durations)}
    return record(ctx, RunReport(name, "verify", outcome.ok, outcome.reason or None, detail=detail), started)


def drill(ctx: Context, name: str, *, perf: Callable[[], float] = time.perf_counter) -> RunReport:
    """Restore the newest snapshot into scratch, validate it, and measure the RTO per phase and the RPO
    achieved (the newest snapshot's age when the drill starts: what a disaster now would lose)."""
    job = job_of(ctx.spec, name)
    started = ctx.clock.now()
    t0 = perf()
    try:
        restic, newest = _newest(ctx, name)
        manifest = engines.load_manifest(restic, newest)
    except (BackupUsageError, ResticError, engines.BackupError) as exc:
        reason = str(exc) if isinstance(exc, BackupUsageError) else getattr(exc, "reason", str(exc))
        return record(ctx, RunReport(name, "drill", False, reason), started)
    fetched = perf() - t0
    outcome = engines.restore(restic, newest.id, _scratch_target(ctx, name, job), manifest=manifest)
    phases = {"fetch": round(fetched, 3), **{k: round(v, 3) for k, v in outcome.durations.items()}}
    rto = timedelta(seconds=perf() - t0)
    rpo = started - newest.time
    detail: dict[str, Any] = {
        "snapshot": newest.id,
        "phases": phases,
        "rto_seconds": round(rto.total_seconds(), 3),
        "rpo_seconds": round(rpo.total_seconds(), 3),
    }
    if not outcome.ok:
        return record(ctx, RunReport(name, "drill", False, outcome.reason, detail=detail), started)
    if job.drill is None:
        return record(ctx, RunReport(name, "drill", True, None, detail=detail), started)
    verdict = domain.judge_drill(job.drill.rto, job.drill.rpo, rto, rpo)
    detail |= {
        "rto_target_seconds": job.drill.rto.total_seconds(),
        "rpo_target_seconds": job.drill.rpo.total_seconds(),
    }
    return record(ctx, RunReport(name, "drill", verdict.ok, verdict.reason, detail=detail), started)


def restore(ctx: Context, name: str, *, target: str, snapshot: str | None = None) -> engines.RestoreOutcome:
    """Restore a snapshot (default the newest) of a job into ``target`` and validate it."""
    if snapshot is None:
        restic, newest = _newest(ctx, name)
        return engines.restore(restic, newest.id, target)
    for restic in repositories(ctx, name):
        if any(info.id.startswith(snapshot) for info in _job_snapshots(restic, name)):
            return engines.restore(restic, snapshot, target)
    raise BackupUsageError(f"no snapshot '{snapshot}' of job '{name}' in its repositories")


def history(ctx: Context, name: str | None = None, limit: int = 50) -> list[Mapping[str, Any]]:
    if name is not None:
        job_of(ctx.spec, name)
    with ctx.uow.read() as store:
        return [dict(row) for row in store.backup_runs(name, limit=limit)]
