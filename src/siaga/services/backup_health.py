"""Backup runs as signals: each run is recorded with the alerts it raises or clears, in one transaction.

Alerts per job: BackupFailed (the newest backup failed; at once), BackupStale (no success within the
schedule + 10 %; checked every 30 s), BackupVerifyFailed, BackupDrillMissed. Which of them fire is kept in
the rule-state table (rule ``backup:JOB``), so each is raised once and resolved once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from siaga.domain import backups as domain
from siaga.domain.alerts import AlertIn, AlertStatus, fingerprint
from siaga.services import ingest
from siaga.services.policy import Policy
from siaga.services.ports import Row, Store, UnitOfWork
from siaga.spec.backups import schedule_cron
from siaga.spec.models import Spec

SOURCE = "backups"
ACTOR = "siaga:backups"


def _rule(job: str) -> str:
    return f"backup:{job}"


def job_record(
    spec: Spec, job: str, latest: Mapping[tuple[str, str, bool], Row], since: datetime
) -> domain.JobRecord:
    def at(kind: str, ok: bool) -> datetime | None:
        row = latest.get((job, kind, ok))
        return None if row is None else row["finished_at"]

    def reason(kind: str) -> str | None:
        row = latest.get((job, kind, False))
        return None if row is None else row["reason"]

    return domain.JobRecord(
        job=job,
        cron=schedule_cron(spec.backups.jobs[job].schedule),
        zone=spec.project.timezone,
        watching_since=since,
        last_backup_ok=at("backup", True),
        last_backup_failed=at("backup", False),
        failure_reason=reason("backup"),
        last_verify_ok=at("verify", True),
        last_verify_failed=at("verify", False),
        verify_reason=reason("verify"),
        last_drill_ok=at("drill", True),
        last_drill_missed=at("drill", False),
        drill_reason=reason("drill"),
    )


def _severity(spec: Spec, job: str) -> str:
    wanted = spec.backups.jobs[job].severity
    level = spec.severity(wanted) if wanted else None
    if level is not None:
        return level.name
    return spec.severities[min(1, len(spec.severities) - 1)].name


def settle(store: Store, policy: Policy, spec: Spec, now: datetime) -> list[AlertIn]:
    """Raise or clear each job's alerts from what the store holds now; return the alerts applied."""
    latest = store.latest_backup_runs()
    states = store.rule_states()
    upserts: list[dict[str, Any]] = []
    deletes: list[tuple[str, str]] = []
    alerts: list[AlertIn] = []
    for job in sorted(spec.backups.jobs):
        # Staleness counts from the first time Siaga saw the job (kept across restarts), not from a start.
        since = store.job_cursor(f"backup:{job}:watched")
        if since is None:
            since = now
            store.set_job_cursor(f"backup:{job}:watched", now)
        record = job_record(spec, job, latest, since)
        for condition in domain.conditions(record, now):
            key = (_rule(job), condition.alertname)
            was = states.get(key)
            if condition.firing == (was is not None):
                continue
            labels = {
                "alertname": condition.alertname,
                "backup_job": job,
                "category": "backup",
                "severity": _severity(spec, job),
            }
            began = now if was is None else was["active_since"]
            alerts.append(
                AlertIn(
                    labels=labels,
                    status=AlertStatus.FIRING if condition.firing else AlertStatus.RESOLVED,
                    starts_at=began,
                    ends_at=None if condition.firing else now,
                    annotations={"summary": condition.summary},
                    fingerprint=fingerprint({"rule": key[0], "alertname": key[1]}),
                )
            )
            if condition.firing:
                upserts.append({"rule": key[0], "instance": key[1], "active_since": now, "firing": True})
            else:
                deletes.append(key)
    if upserts or deletes:
        store.save_rule_states(upserts, deletes)
    if alerts:
        ingest.apply(store, policy, [ingest.Submission(alerts, SOURCE, ACTOR)], now)
    return alerts


def record_run(
    *,
    uow: UnitOfWork,
    policy: Policy,
    spec: Spec,
    run: Mapping[str, Any],
    now: datetime,
) -> list[AlertIn]:
    """Store one run (backup, verify, drill, forget) and the alerts it changes, atomically."""
    with uow.transaction() as store:
        store.insert_backup_run(dict(run))
        return settle(store, policy, spec, now)


def evaluate(*, uow: UnitOfWork, policy: Policy, spec: Spec, now: datetime) -> list[AlertIn]:
    """The periodic pass: staleness moves with the clock alone."""
    if not spec.backups.jobs:
        return []
    with uow.transaction() as store:
        return settle(store, policy, spec, now)
