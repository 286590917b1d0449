"""Backup schedules and the health of a job, pure: when runs are due, when a job is stale, which part of
the repository a verify reads, and which alerts a job's record calls for.

Stale means no successful backup for longer than the schedule's interval plus 10 % (a daily job alerts
26 h 24 min after its last success). A failed run alerts at once, and the alert resolves with the next
success. A verify rotates ``restic check --read-data-subset=k/n`` with n chosen so every stored byte is
read at least once every 28 days (weekly verifies: n = 4; daily: n = 28).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

STALE_MARGIN = 0.10
READ_ALL_WITHIN = timedelta(days=28)

BACKUP_FAILED = "BackupFailed"
BACKUP_STALE = "BackupStale"
VERIFY_FAILED = "BackupVerifyFailed"
DRILL_MISSED = "BackupDrillMissed"


def _local(at: datetime, zone: str) -> datetime:
    return at.astimezone(ZoneInfo(zone))


def next_run(cron: str, zone: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` that the cron (read in ``zone``) names."""
    found: datetime = croniter(cron, _local(after, zone)).get_next(datetime)
    return found.astimezone(after.tzinfo)


def previous_run(cron: str, zone: str, at: datetime) -> datetime:
    """The last time at or before ``at`` that the cron names."""
    local = _local(at, zone)
    if (
        croniter.match(cron, local.replace(second=0, microsecond=0))
        and local.second == local.microsecond == 0
    ):
        return at
    found: datetime = croniter(cron, local).get_prev(datetime)
    return found.astimezone(at.tzinfo)


def due_runs(cron: str, zone: str, since: datetime, until: datetime) -> list[datetime]:
    """Every time in (since, until] the cron names, oldest first."""
    runs = []
    at = since
    while (at := next_run(cron, zone, at)) <= until:
        runs.append(at)
    return runs


def interval(cron: str, zone: str, at: datetime) -> timedelta:
    """The gap between the run before ``at`` and the one after it (a cron's local period around ``at``)."""
    before = previous_run(cron, zone, at)
    return next_run(cron, zone, before) - before


def stale(
    last_success: datetime | None, watching_since: datetime, cron: str, zone: str, now: datetime
) -> bool:
    """Whether a job has gone too long without a successful backup (never: counted from when Siaga began
    watching it, so a new job is not stale before its first run was due)."""
    reference = last_success or watching_since
    allowed = interval(cron, zone, now) * (1 + STALE_MARGIN)
    return now - reference > allowed


def data_subset(verify_cron: str, zone: str, index: int, at: datetime) -> str:
    """The ``--read-data-subset`` of the ``index``-th verify (0-based)."""
    parts = max(1, math.ceil(READ_ALL_WITHIN / interval(verify_cron, zone, at)))
    return f"{index % parts + 1}/{parts}"


@dataclass(frozen=True, slots=True)
class Condition:
    """One alert a job's record calls for (``firing``) or clears."""

    alertname: str
    firing: bool
    summary: str


@dataclass(frozen=True, slots=True)
class JobRecord:
    """What the store knows of one job, for ``conditions``."""

    job: str
    cron: str
    zone: str
    watching_since: datetime
    last_backup_ok: datetime | None = None
    last_backup_failed: datetime | None = None
    failure_reason: str | None = None
    last_verify_ok: datetime | None = None
    last_verify_failed: datetime | None = None
    verify_reason: str | None = None
    last_drill_ok: datetime | None = None
    last_drill_missed: datetime | None = None
    drill_reason: str | None = None


def _newer(a: datetime | None, b: datetime | None) -> bool:
    return a is not None and (b is None or a > b)


def conditions(record: JobRecord, now: datetime) -> list[Condition]:
    """The four alerts of a job and whether each should fire now."""
    job = record.job
    failed = _newer(record.last_backup_failed, record.last_backup_ok)
    is_stale = stale(record.last_backup_ok, record.watching_since, record.cron, record.zone, now)
    age = "never" if record.last_backup_ok is None else f"{_human(now - record.last_backup_ok)} ago"
    return [
        Condition(BACKUP_FAILED, failed, f"backup {job} failed: {record.failure_reason or 'unknown reason'}"),
        Condition(BACKUP_STALE, is_stale, f"backup {job} is stale: last success {age}"),
        Condition(
            VERIFY_FAILED,
            _newer(record.last_verify_failed, record.last_verify_ok),
            f"backup {job} did not verify: {record.verify_reason or 'unknown reason'}",
        ),
        Condition(
            DRILL_MISSED,
            _newer(record.last_drill_missed, record.last_drill_ok),
            f"restore drill of {job} missed its targets: {record.drill_reason or 'unknown reason'}",
        ),
    ]


def _human(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"


@dataclass(frozen=True, slots=True)
class DrillVerdict:
    ok: bool
    reason: str | None


def judge_drill(
    rto: timedelta, rpo: timedelta, achieved_rto: timedelta, achieved_rpo: timedelta | None
) -> DrillVerdict:
    """Whether a drill met its targets (an RPO that could not be measured is a miss: it is unproven)."""
    misses = []
    if achieved_rto > rto:
        misses.append(f"RTO {_human(achieved_rto)} > target {_human(rto)}")
    if achieved_rpo is None:
        misses.append("RPO could not be measured")
    elif achieved_rpo > rpo:
        misses.append(f"RPO {_human(achieved_rpo)} > target {_human(rpo)}")
    return DrillVerdict(not misses, "; ".join(misses) or None)
