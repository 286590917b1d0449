"""The check plan: the checks and rules of the spec in force, each with its database row.

Building a plan syncs the `checks` table with the spec: new checks get a row, removed ones are marked (and
an alert they had firing is resolved), re-added ones revive, heartbeats get a push token.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from siaga.domain import checks as domain
from siaga.domain.alerts import AlertIn, AlertStatus, fingerprint
from siaga.domain.severity import Ladder
from siaga.services import ingest
from siaga.services.policy import Policy
from siaga.services.ports import Row, Store, UnitOfWork
from siaga.spec import Spec
from siaga.spec.checks import Check, HeartbeatProbe, Rule
from siaga.spec.references import select_checks

SOURCE = "siaga-checks"
ACTOR = "siaga"


@dataclass(frozen=True, slots=True)
class PlannedCheck:
    id: int
    service: str
    spec: Check
    severity: str
    labels: Mapping[str, str]  # the alert's labels
    thresholds: domain.Thresholds
    conditions: tuple[str, ...]
    heartbeat: domain.Heartbeat | None = None
    push_token: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def key(self) -> str:
        return f"{self.service}/{self.spec.name}"

    @property
    def every(self) -> timedelta:
        return self.spec.every


@dataclass(frozen=True, slots=True)
class PlannedRule:
    spec: Rule
    severity: str


@dataclass(frozen=True, slots=True)
class CheckPlan:
    """The checks and rules of one spec, with their database ids; rebuilt when the spec changes."""

    checks: tuple[PlannedCheck, ...] = ()
    rules_by_check: Mapping[int, tuple[PlannedRule, ...]] = field(default_factory=dict)
    tokens: Mapping[str, int] = field(default_factory=dict)  # push token → check id

    def by_id(self) -> dict[int, PlannedCheck]:
        return {check.id: check for check in self.checks}


def _severity(ladder: Ladder, name: str | None) -> str:
    level = ladder.get(name) if name else None
    return (level or ladder.least_urgent).name


def plan(*, uow: UnitOfWork, spec: Spec, policy: Policy, now: datetime) -> CheckPlan:
    """Given the spec, make sure every check has its row (new ones added, removed ones marked, re-added ones
    revived, heartbeats given a push token) and return the plan the scheduler runs."""
    # Checks `via: blackbox` are Prometheus' to run; their alerts arrive through Alertmanager.
    wanted = {
        (service, check.name): check
        for service, svc in spec.services.items()
        for check in svc.checks
        if check.via == "siaga"
    }
    with uow.transaction() as store:
        rows = {(row["service"], row["name"]): row for row in store.check_rows()}
        ids: dict[tuple[str, str], int] = {}
        tokens: dict[tuple[str, str], str | None] = {}
        updates: list[dict[str, Any]] = []
        new: list[dict[str, Any]] = []
        for key, check in wanted.items():
            row = rows.get(key)
            token = None
            if check.heartbeat is not None:
                pinned = check.heartbeat.token
                token = pinned.get_secret_value() if pinned else (row or {}).get("push_token")
                token = token or secrets.token_urlsafe(24)
            if row is None:
                new.append(
                    {
                        "service": key[0],
                        "name": key[1],
                        "kind": check.kind,
                        "every_s": check.every.total_seconds(),
                        "push_token": token,
                        "status": domain.Status.UNKNOWN.value,
                        "failures": 0,
                        "successes": 0,
                        "alerting": False,
                        "created_at": now,
                    }
                )
            else:
                ids[key] = int(row["id"])
                changes: dict[str, Any] = {}
                if row["kind"] != check.kind:
                    changes |= {"kind": check.kind, "status": domain.Status.UNKNOWN.value, "failures": 0}
                if row["every_s"] != check.every.total_seconds():
                    changes["every_s"] = check.every.total_seconds()
                if row["push_token"] != token:
                    changes["push_token"] = token
                if row["removed_at"] is not None:
                    changes |= {"removed_at": None, "created_at": now}
                if changes:
                    updates.append({"b_id": row["id"], **_full(row, changes)})
            tokens[key] = token
        gone = [row for key, row in rows.items() if key not in wanted and row["removed_at"] is None]
        updates += [
            {"b_id": row["id"], **_full(row, {"removed_at": now, "push_token": None, "alerting": False})}
            for row in gone
        ]
        store.update_checks(updates)
        if new:
            store.insert_checks(new)
            ids |= {(row["service"], row["name"]): int(row["id"]) for row in store.check_rows()}
        if alerting := [row for row in gone if row["alerting"]]:
            _resolve_removed(store, policy, alerting, now)
    planned = []
    for (service, name), check in wanted.items():
        svc = spec.services[service]
        severity = _severity(policy.ladder, check.severity)
        labels = {
            **svc.labels,
            **check.labels,
            "alertname": name,
            "service": service,
            "check": name,
            "kind": check.kind,
            "severity": severity,
        }
        if svc.environment:
            labels["environment"] = svc.environment
        planned.append(
            PlannedCheck(
                id=ids[(service, name)],
                service=service,
                spec=check,
                severity=severity,
                labels=labels,
                thresholds=domain.Thresholds(
                    failures_before_alert=check.failures_before_alert,
                    successes_before_resolve=check.successes_before_resolve,
                    for_=check.for_ or timedelta(0),
                ),
                conditions=check.conditions,
                heartbeat=_heartbeat(check.heartbeat, spec.project.timezone) if check.heartbeat else None,
                push_token=tokens[(service, name)],
            )
        )
    services_data = spec.model_dump(mode="json", by_alias=True)["services"]
    rules: dict[int, list[PlannedRule]] = {}
    for rule in spec.rules:
        if rule.signal is None:
            continue  # a PromQL rule: Prometheus evaluates it
        planned_rule = PlannedRule(rule, _severity(policy.ladder, rule.severity))
        for service, check_data in select_checks(services_data, rule.signal):
            rules.setdefault(ids[(service, check_data["name"])], []).append(planned_rule)
    return CheckPlan(
        checks=tuple(planned),
        rules_by_check={check_id: tuple(found) for check_id, found in rules.items()},
        tokens={token: check.id for check in planned if (token := check.push_token)},
    )


def _full(row: Row, changes: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: changes.get(name, row[name])
        for name in (
            "kind",
            "every_s",
            "push_token",
            "removed_at",
            "created_at",
            "status",
            "failures",
            "alerting",
        )
    }


def _heartbeat(probe: HeartbeatProbe, zone: str) -> domain.Heartbeat:
    return domain.Heartbeat(grace=probe.grace, period=probe.period, cron=probe.cron, zone=zone)


def _resolve_removed(store: Store, policy: Policy, rows: Sequence[Row], now: datetime) -> None:
    """A check taken out of the spec while its alert fired: resolve that alert (nobody can fix it now)."""
    alerts = [
        AlertIn(
            labels={"alertname": str(row["name"]), "service": str(row["service"]), "check": str(row["name"])},
            status=AlertStatus.RESOLVED,
            starts_at=row["failing_since"] or now,
            ends_at=now,
            annotations={"summary": "check removed from the spec"},
            fingerprint=check_fingerprint(f"{row['service']}/{row['name']}"),
        )
        for row in rows
    ]
    ingest.apply(store, policy, [ingest.Submission(alerts, SOURCE, ACTOR)], now)


def check_fingerprint(key: str) -> str:
    return fingerprint({"siaga_check": key})


def rule_fingerprint(rule: str, instance: str) -> str:
    return fingerprint({"siaga_rule": rule, "instance": instance})


class PlanCache:
    """The check plan of the spec in force, rebuilt (once, under a lock) when the spec object changes; the
    scheduler and the heartbeat endpoint share it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spec: Spec | None = None
        self._plan = CheckPlan()

    def get(self, *, uow: UnitOfWork, spec: Spec, policy: Policy, now: datetime) -> CheckPlan:
        with self._lock:
            if spec is not self._spec:
                self._plan = plan(uow=uow, spec=spec, policy=policy, now=now)
                self._spec = spec
            return self._plan
