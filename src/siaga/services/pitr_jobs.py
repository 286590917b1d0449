"""Point-in-time recovery for backup jobs with ``pitr: true``: the heartbeat, setup, restores and drills.

Siaga writes one row a minute into ``siaga_heartbeat`` in the job's source database. The rows travel in the
WAL like any other commit, so after a restore to a time T the newest row in the copy tells how much was
recovered: a drill's RPO is T minus it. pgBackRest itself is driven through ``siaga.integrations.pitr``.

Errors::

    BackupUsageError   (services.backups) unknown job, no ``pitr: true``, a scratch directory in use …
    PitrJobError       the job's source database could not be reached or refused (its reason, one line,
                       no secrets), or its WAL was not archived in time
    PitrError …        (integrations.pitr) pgBackRest or the scratch cluster failed
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict

from siaga.domain.backups import judge_drill
from siaga.integrations.pitr import (
    ARCHIVE_TIMEOUT_MAX,
    SECRETS_FILE,
    BaseBackup,
    Host,
    PgBackRest,
    PitrError,
    RestoredCluster,
    StanzaSetup,
    WalRepository,
    postgresql_settings,
    render_config,
    render_postgresql_conf,
    write_config,
)
from siaga.services.backups import BackupUsageError, Context, RunReport, job_of, record
from siaga.spec.backups import Job

__all__ = [
    "DEFAULT_ARCHIVE_TIMEOUT",
    "HEARTBEAT_KEPT",
    "HEARTBEAT_TABLE",
    "PitrJobError",
    "drill",
    "heartbeat",
    "restore_to_time",
    "setup",
    "setup_text",
    "stop_restored",
]

HEARTBEAT_TABLE = "siaga_heartbeat"
HEARTBEAT_KEPT = timedelta(days=35)  # past the 7-day PITR window and the full backup older than it
DEFAULT_ARCHIVE_TIMEOUT = timedelta(seconds=60)
_ARCHIVE_GRACE = timedelta(seconds=30)  # beyond archive_timeout: the push itself, a retry
_CONNECT_TIMEOUT = 10
_DEBIAN_HOST = Host()
_DEBIAN_SOCKETS = Path("/var/run/postgresql")

_INSERT = "INSERT INTO siaga_heartbeat (beat_at) VALUES (%s) ON CONFLICT DO NOTHING"
_CREATE = "CREATE TABLE IF NOT EXISTS siaga_heartbeat (beat_at timestamptz PRIMARY KEY)"
_PRUNE = "DELETE FROM siaga_heartbeat WHERE beat_at < %s"
_NEWEST = "SELECT max(beat_at) FROM siaga_heartbeat"


class PitrJobError(Exception):
    """The job's source database could not be reached or refused; one line, secrets removed."""


def _first_line(exc: BaseException) -> str:
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)


@dataclass(frozen=True)
class _Source:
    url: str
    secrets: tuple[str, ...]
    port: int
    socket_dir: Path | None

    def reason(self, exc: BaseException) -> str:
        text = _first_line(exc)
        for secret in self.secrets:
            text = text.replace(secret, "********")
        return text

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, connect_timeout=_CONNECT_TIMEOUT, autocommit=True)


def _pitr_job(ctx: Context, name: str) -> Job:
    job = job_of(ctx.spec, name)
    if not job.pitr:
        raise BackupUsageError(
            f"job '{name}' has no `pitr: true`: it archives no WAL, so it can be restored to a snapshot "
            "only, not to a time (docs/pitr.md)"
        )
    return job


def _source(name: str, job: Job) -> _Source:
    if job.source.postgres is None:  # the spec allows pitr on postgres sources only
        raise BackupUsageError(f"job '{name}': point-in-time recovery is for postgres sources")
    url = job.source.postgres.get_secret_value()
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        raise PitrJobError(f"job '{name}': its postgres URL cannot be parsed") from None
    password = str(params.get("password") or "")
    secrets = tuple(sorted({password, quote(password, safe=""), quote(password)}, key=len, reverse=True))
    host = str(params.get("host") or "").split(",")[0]
    port = str(params.get("port") or "5432").split(",")[0]
    return _Source(
        url=url,
        secrets=secrets if password else (),
        port=int(port),
        socket_dir=Path(host) if host.startswith("/") else None,
    )


def _stanza(
    ctx: Context, name: str, job: Job, *, host: Host, data_dir: Path, archive_timeout: timedelta
) -> StanzaSetup:
    """The job's stanza: named after the job, its repositories beside the job's restic ones."""
    source = _source(name, job)
    try:
        stanza = StanzaSetup(
            name=name,
            pg_data_dir=data_dir,
            pg_port=source.port,
            pg_socket_dir=source.socket_dir or _DEBIAN_SOCKETS,
            repositories=tuple(
                WalRepository.beside(ctx.spec.backups.repositories[r]) for r in job.repositories
            ),
            archive_timeout=archive_timeout,
        )
        render_config(host=host, stanzas=[stanza])  # refuses what pgBackRest cannot use (S3 over HTTP)
    except ValueError as exc:
        raise BackupUsageError(f"job '{name}': {exc}") from None
    return stanza


def _write_beat(conn: psycopg.Connection[Any], now: datetime) -> None:
    # Insert first: from PostgreSQL 15 on, a role without CREATE on the schema cannot even run CREATE TABLE
    # IF NOT EXISTS, and a DBA may have created the table for it.
    try:
        with conn.transaction():
            conn.execute(_INSERT, (now,))
    except pg_errors.UndefinedTable:
        with conn.transaction():
            conn.execute(_CREATE)
            conn.execute(_INSERT, (now,))
    conn.execute(_PRUNE, (now - HEARTBEAT_KEPT,))


def heartbeat(ctx: Context, job_name: str, now: datetime) -> None:
    """Write the heartbeat row ``now`` into the job's source database (creating ``siaga_heartbeat`` when
    missing) and drop rows older than HEARTBEAT_KEPT. Raise BackupUsageError or PitrJobError."""
    if now.tzinfo is None:
        raise ValueError("a heartbeat needs an aware time")
    source = _source(job_name, _pitr_job(ctx, job_name))
    try:
        with source.connect() as conn:
            _write_beat(conn, now)
    except psycopg.Error as exc:
        raise PitrJobError(f"heartbeat of job '{job_name}' failed: {source.reason(exc)}") from None


def _data_directory(name: str, source: _Source) -> Path:
    try:
        with source.connect() as conn:
            row = conn.execute("SHOW data_directory").fetchone()
    except psycopg.Error as exc:
        raise PitrJobError(
            f"cannot read the data directory of job '{name}' ({source.reason(exc)}): give it explicitly"
        ) from None
    if row is None:
        raise PitrJobError(f"job '{name}': SHOW data_directory returned nothing: give it explicitly")
    return Path(str(row[0]))


def _pgbackrest_command(host: Host, stanza: str, *args: str) -> str:
    config = [] if host.config_path == _DEBIAN_HOST.config_path else [f"--config-path={host.config_path}"]
    return shlex.join(["pgbackrest", *config, f"--stanza={stanza}", *args])


def _secret_placeholders(ctx: Context, job: Job) -> list[str]:
    lines = []
    for index, name in enumerate(job.repositories, start=1):
        repo = WalRepository.beside(ctx.spec.backups.repositories[name])
        named = {
            "cipher-pass": (repo.cipher_pass, f"the password of restic repository '{name}'"),
            "s3-key": (repo.s3_key, f"the access_key of repository '{name}'"),
            "s3-key-secret": (repo.s3_key_secret, f"the secret_key of repository '{name}'"),
        }
        lines += [f"repo{index}-{key}=<{what}>" for key, (value, what) in named.items() if value is not None]
    return lines


def setup_text(
    ctx: Context,
    job_name: str,
    data_dir: Path | None = None,
    *,
    host: Host = _DEBIAN_HOST,
    archive_timeout: timedelta = DEFAULT_ARCHIVE_TIMEOUT,
) -> str:
    """Return what a DBA applies on the database host for the job: pgBackRest's configuration, the secrets
    file's keys (not their values), the ``postgresql.conf`` settings and the commands to run. Without
    ``data_dir`` it is read with ``SHOW data_directory``. Raise BackupUsageError or PitrJobError."""
    job = _pitr_job(ctx, job_name)
    found = data_dir is None
    where = data_dir or _data_directory(job_name, _source(job_name, job))
    stanza = _stanza(ctx, job_name, job, host=host, data_dir=where, archive_timeout=archive_timeout)
    owner = host.os_user or "the PostgreSQL OS user"
    private = f"owner {owner}, mode 0600"
    origin = " (from SHOW data_directory)" if found else ""
    parts = [
        f"# Point-in-time recovery of backup job '{job_name}': apply on its database host (docs/pitr.md).",
        f"# Data directory: {where}{origin}",
        "",
        f"# ---- {host.config_path / 'pgbackrest.conf'} ({private})",
        render_config(host=host, stanzas=[stanza]).rstrip("\n"),
        "",
        f"# ---- {host.config_path / SECRETS_FILE} ({private}; the values are in Siaga's spec environment)",
        f"[{stanza.name}]",
        *_secret_placeholders(ctx, job),
        "",
        "# ---- postgresql.conf (archive_mode needs a restart, the others a reload)",
        render_postgresql_conf(postgresql_settings(host=host, stanza=stanza)).rstrip("\n"),
        "",
        f"# ---- then, as {owner}: create the stanza, check that WAL reaches it, take a first full backup",
        _pgbackrest_command(host, stanza.name, "stanza-create"),
        _pgbackrest_command(host, stanza.name, "check"),
        _pgbackrest_command(host, stanza.name, "--type=full", "backup"),
    ]
    return "\n".join(parts) + "\n"


def setup(
    ctx: Context,
    job_name: str,
    *,
    host: Host,
    data_dir: Path | None = None,
    timeout: float | None = None,
) -> BaseBackup:
    """On the database host: write pgBackRest's configuration (this job's stanza only), create the stanza
    and take a first full base backup; return it. PostgreSQL must already archive (``setup_text``). Raise
    BackupUsageError, PitrJobError or PitrError."""
    job = _pitr_job(ctx, job_name)
    where = data_dir or _data_directory(job_name, _source(job_name, job))
    stanza = _stanza(ctx, job_name, job, host=host, data_dir=where, archive_timeout=DEFAULT_ARCHIVE_TIMEOUT)
    write_config(host=host, stanzas=[stanza])
    pitr = PgBackRest(host=host, stanza=stanza)
    pitr.stanza_create()
    return pitr.base_backup(type="full", timeout=timeout)


def _pgbackrest(ctx: Context, job_name: str, *, host: Host, scratch_dir: Path) -> PgBackRest:
    job = _pitr_job(ctx, job_name)
    # A restore's pg1-path is the scratch directory: the production data directory is not needed, nor read.
    stanza = _stanza(
        ctx, job_name, job, host=host, data_dir=scratch_dir, archive_timeout=DEFAULT_ARCHIVE_TIMEOUT
    )
    return PgBackRest(host=host, stanza=stanza)


def restore_to_time(
    ctx: Context,
    job_name: str,
    target_time: datetime,
    *,
    host: Host,
    scratch_dir: Path,
    port: int,
    timeout: float = 600,
) -> RestoredCluster:
    """Restore the job's cluster as it was at ``target_time`` into a scratch PostgreSQL on ``port``; return
    it running (``stop_restored`` ends it). Raise BackupUsageError or PitrError."""
    pitr = _pgbackrest(ctx, job_name, host=host, scratch_dir=scratch_dir)
    return pitr.restore_to_time(
        target_time=target_time, scratch_data_dir=scratch_dir, port=port, timeout=timeout
    )


def stop_restored(ctx: Context, job_name: str, cluster: RestoredCluster, *, host: Host) -> None:
    """Stop a cluster ``restore_to_time`` started and delete its copy of the data."""
    _pgbackrest(ctx, job_name, host=host, scratch_dir=cluster.data_dir).stop_scratch(cluster)


def _wait_archived_past(name: str, source: _Source, moment: datetime) -> float:
    """Write a heartbeat at ``moment`` and wait until the WAL holding it is archived, so that a restore to
    ``moment`` can end; return the seconds waited. Raise PitrJobError."""
    started = time.perf_counter()
    try:
        with source.connect() as conn:
            _write_beat(conn, moment)
            row = conn.execute(
                "SELECT pg_walfile_name(pg_current_wal_lsn()), "
                "(SELECT setting::int FROM pg_settings WHERE name = 'archive_timeout')"
            ).fetchone()
            if row is None:
                raise PitrJobError(f"job '{name}': the source database has no current WAL position")
            segment, archive_timeout = str(row[0]), int(row[1] or 0)
            limit = (archive_timeout or ARCHIVE_TIMEOUT_MAX.total_seconds()) + _ARCHIVE_GRACE.total_seconds()
            while True:
                state = conn.execute("SELECT last_archived_wal, last_failed_wal FROM pg_stat_archiver")
                archived, failed = state.fetchone() or (None, None)
                # In name order: a later segment archived means this one was (archive_command runs in order).
                if archived is not None and (archived == segment or archived[:24] > segment):
                    return time.perf_counter() - started
                if time.perf_counter() - started > limit:
                    raise PitrJobError(
                        f"WAL segment {segment} of job '{name}' (written at {moment.isoformat()}) was not "
                        f"archived within {limit:.0f} s: archiving is behind or failing (last archived "
                        f"{archived}, last failed {failed})"
                    )
                time.sleep(0.25)
    except psycopg.Error as exc:
        raise PitrJobError(f"job '{name}': the source database: {source.reason(exc)}") from None


@dataclass(frozen=True)
class _Recovered:
    phases: dict[str, float]
    rto: timedelta
    newest_beat: datetime | None
    backup_label: str


def _newest_beat(conn: psycopg.Connection[Any]) -> datetime | None:
    try:
        row = conn.execute(_NEWEST).fetchone()
    except pg_errors.UndefinedTable:
        return None
    newest: datetime | None = None if row is None else row[0]
    return newest


def _restore_and_validate(
    pitr: PgBackRest, *, to_time: datetime, scratch_dir: Path, port: int, timeout: float
) -> _Recovered:
    wall_start, start = time.time(), time.perf_counter()
    restored = pitr.restore_to_time(
        target_time=to_time, scratch_data_dir=scratch_dir, port=port, timeout=timeout
    )
    try:
        promoted = time.perf_counter()
        with psycopg.connect(restored.url, connect_timeout=_CONNECT_TIMEOUT, autocommit=True) as conn:
            row = conn.execute("SELECT pg_is_in_recovery(), pg_postmaster_start_time()").fetchone()
            if row is None or row[0]:
                raise PitrJobError("the restored copy is still in recovery")
            postmaster_started: datetime = row[1]
            newest = _newest_beat(conn)
        validated = time.perf_counter()
    except psycopg.Error as exc:
        raise PitrJobError(f"the restored copy could not be validated: {_first_line(exc)}") from None
    finally:
        pitr.stop_scratch(restored)
    # restore_to_time is one call; the scratch postmaster's start splits it into pgBackRest laying down the
    # files (fetch) and PostgreSQL replaying WAL until it promoted (replay).
    restoring = promoted - start
    fetch = min(max(postmaster_started.timestamp() - wall_start, 0.0), restoring)
    return _Recovered(
        phases={"fetch": fetch, "replay": restoring - fetch, "validate": validated - promoted},
        rto=timedelta(seconds=validated - start),
        newest_beat=newest,
        backup_label=restored.backup_label,
    )


def drill(
    ctx: Context,
    job_name: str,
    *,
    host: Host,
    scratch_dir: Path,
    port: int,
    to_time: datetime | None = None,
    timeout: float = 600,
) -> RunReport:
    """Restore the job to ``to_time`` (default now, once the WAL past it is archived) into a scratch cluster,
    validate it, measure the RTO per phase and the RPO (``to_time`` minus the newest heartbeat in the copy),
    judge them against ``job.drill`` and record a ``drill`` run (a miss raises BackupDrillMissed). The
    scratch cluster is stopped and deleted in all cases. Raise BackupUsageError for a request that cannot
    be carried out; every other failure is a recorded, failed drill."""
    job = _pitr_job(ctx, job_name)
    if to_time is not None and to_time.tzinfo is None:
        raise BackupUsageError(
            f"drill of job '{job_name}': the target {to_time.isoformat()} needs a time zone"
        )
    if scratch_dir.exists() and any(scratch_dir.iterdir()):
        raise BackupUsageError(f"scratch directory {scratch_dir} is not empty: give a new one")
    pitr = _pgbackrest(ctx, job_name, host=host, scratch_dir=scratch_dir)
    started = ctx.clock.now()
    began = time.perf_counter()
    target = to_time or started
    detail: dict[str, Any] = {"pitr": True, "to_time": target.isoformat()}
    try:
        if to_time is None:  # nobody waits for the archive in a disaster: not part of the RTO
            waited = _wait_archived_past(job_name, _source(job_name, job), target)
            detail["archive_wait_seconds"] = round(waited, 3)
        recovered = _restore_and_validate(
            pitr, to_time=target, scratch_dir=scratch_dir, port=port, timeout=timeout
        )
    except (PitrError, PitrJobError) as exc:
        message = str(exc).strip()
        detail |= {"failure": type(exc).__name__, "error": message}
        why = message.splitlines()[0] if message else type(exc).__name__
        report = RunReport(job_name, "drill", False, why, detail=detail)
        return record(ctx, report, started, seconds=time.perf_counter() - began)
    # Heartbeats are stamped by Siaga's clock and cut by the database's: a skew must not make a negative RPO.
    rpo = None if recovered.newest_beat is None else max(timedelta(0), target - recovered.newest_beat)
    detail |= {
        "backup_label": recovered.backup_label,
        "phases": {name: round(seconds, 3) for name, seconds in recovered.phases.items()},
        "rto_seconds": round(recovered.rto.total_seconds(), 3),
        "rpo_seconds": None if rpo is None else round(rpo.total_seconds(), 3),
        "last_heartbeat": None if recovered.newest_beat is None else recovered.newest_beat.isoformat(),
    }
    ok, reason = True, None  # no targets: a drill that restored and validated is a success
    if job.drill is not None:
        verdict = judge_drill(job.drill.rto, job.drill.rpo, recovered.rto, rpo)
        ok, reason = verdict.ok, verdict.reason
        detail |= {
            "rto_target_seconds": job.drill.rto.total_seconds(),
            "rpo_target_seconds": job.drill.rpo.total_seconds(),
        }
    if reason is not None and job.drill is not None:
        # judge_drill speaks in whole minutes; a PITR miss is often seconds: say them.
        measured = "unmeasured" if rpo is None else f"{rpo.total_seconds():.1f} s"
        reason += (
            f" (RPO {measured} / target {job.drill.rpo.total_seconds():g} s, "
            f"RTO {recovered.rto.total_seconds():.1f} s / target {job.drill.rto.total_seconds():g} s)"
        )
    if rpo is None and reason is not None:
        reason += f"; no {HEARTBEAT_TABLE} row in the restored copy: is Siaga writing the heartbeat?"
    report = RunReport(job_name, "drill", ok, reason, detail=detail)
    return record(ctx, report, started, seconds=time.perf_counter() - began)
