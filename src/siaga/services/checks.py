"""Checks as a use case: the plan read from the spec, runs recorded with the alerts they cause, heartbeats.

One call to `record` is one transaction: the raw results, each check's new state, rule instances and the
alerts (through the same ingest as external alerts, hence the same incidents, routes and pages) commit
together, so a crash can neither lose an alert whose state change was stored nor raise one twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from siaga.domain import checks as domain
from siaga.domain import rules as rule_domain
from siaga.domain.alerts import AlertIn, AlertStatus
from siaga.domain.conditions import compile_condition
from siaga.integrations.probes.base import ProbeResult
from siaga.services import ingest
from siaga.services.check_plan import (
    ACTOR,
    SOURCE,
    CheckPlan,
    PlanCache,
    PlannedCheck,
    PlannedRule,
    check_fingerprint,
    plan,
    rule_fingerprint,
)
from siaga.services.policy import Policy
from siaga.services.ports import ConflictError, Row, UnitOfWork

__all__ = ["CheckPlan", "PlanCache", "PlannedCheck", "Recorded", "Run", "ping", "plan", "record"]
PING_KINDS = ("success", "start", "fail")


@dataclass(frozen=True, slots=True)
class Run:
    """One finished run: which check, when it was due, what the probe saw (None for heartbeats)."""

    check_id: int
    due_at: datetime
    result: ProbeResult | None = None
    ping: str | None = None  # a heartbeat's ping kind that came with this run (noted in the same transaction)


@dataclass(slots=True)
class Recorded:
    fired: list[str] = field(default_factory=list)  # check keys (and rule instances) whose alert fired
    resolved: list[str] = field(default_factory=list)
    queued: int = 0  # notifications queued by the incidents those alerts opened


def _state(row: Row) -> domain.CheckState:
    return domain.CheckState(
        status=domain.Status(row["status"]),
        failures=int(row["failures"]),
        successes=int(row["successes"]),
        failing_since=row["failing_since"],
        alerting=bool(row["alerting"]),
        changed_at=row["changed_at"],
    )


def record(
    *, uow: UnitOfWork, policy: Policy, plan: CheckPlan, runs: Sequence[Run], now: datetime
) -> Recorded:
    """Given finished runs, store results and state and raise or clear alerts, all in one transaction
    (retried when a concurrent writer, e.g. alert intake, won a race for the same incident)."""
    for attempt in range(ingest.MAX_ATTEMPTS):
        try:
            return _record_once(uow, policy, plan, runs, now)
        except ConflictError:
            if attempt == ingest.MAX_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _record_once(
    uow: UnitOfWork, policy: Policy, plan: CheckPlan, runs: Sequence[Run], now: datetime
) -> Recorded:
    planned = plan.by_id()
    runs = [run for run in runs if run.check_id in planned]
    outcome = Recorded()
    if not runs:
        return outcome
    with uow.transaction() as store:
        rows = {
            check_id: dict(row) for check_id, row in store.check_rows_by_id(r.check_id for r in runs).items()
        }
        rule_rows = store.rule_states() if any(r.check_id in plan.rules_by_check for r in runs) else {}
        results: list[dict[str, Any]] = []
        alerts: list[AlertIn] = []
        rule_upserts: dict[tuple[str, str], dict[str, Any]] = {}
        rule_deletes: set[tuple[str, str]] = set()
        pinged: list[
            dict[str, Any]
        ] = []  # only these rows' ping columns are written: a batch never undoes a ping
        for run in sorted(runs, key=lambda r: r.due_at):
            check, row = planned[run.check_id], rows.get(run.check_id)
            if row is None or row["removed_at"] is not None:
                continue
            if run.ping is not None:
                row.update(last_ping_at=run.due_at, last_ping_kind=run.ping)
                pinged.append({"b_id": check.id, "last_ping_at": run.due_at, "last_ping_kind": run.ping})
            verdict, variables, latency = _judge(check, run, row, now)
            state = _state(row)
            step = domain.advance(state, verdict, run.due_at, check.thresholds)
            results.append(
                {
                    "check_id": check.id,
                    "at": run.due_at,
                    "status": verdict.status.code,
                    "latency": latency,
                    "reason": verdict.reason,
                }
            )
            row.update(
                status=step.state.status.value,
                failures=step.state.failures,
                successes=step.state.successes,
                failing_since=step.state.failing_since,
                alerting=step.state.alerting,
                changed_at=step.state.changed_at,
                last_run_at=run.due_at,
                last_latency=latency,
                last_reason=verdict.reason,
            )
            if step.fire:
                alerts.append(
                    _check_alert(check, AlertStatus.FIRING, step.state.failing_since or now, verdict, now)
                )
                outcome.fired.append(check.key)
            elif step.resolve:
                alerts.append(
                    _check_alert(check, AlertStatus.RESOLVED, state.failing_since or now, verdict, now)
                )
                outcome.resolved.append(check.key)
            signal = {
                **variables,
                "up": verdict.status is not domain.Status.DOWN,
                "state": verdict.status.value,
                "service": check.service,
                "check": check.name,
            }
            for rule in plan.rules_by_check.get(check.id, ()):
                key = (rule.spec.name, check.key)
                previous = rule_upserts.get(key) or rule_rows.get(key)
                rule_state = (
                    rule_domain.RuleState(previous["active_since"], bool(previous["firing"]))
                    if previous and key not in rule_deletes
                    else rule_domain.RuleState()
                )
                holds = compile_condition(rule.spec.condition).evaluate(signal).holds
                rule_step = rule_domain.evaluate(rule_state, holds, run.due_at, rule.spec.for_)
                if rule_step.state.active_since is None:
                    rule_upserts.pop(key, None)
                    if key in rule_rows:
                        rule_deletes.add(key)
                else:
                    rule_deletes.discard(key)
                    rule_upserts[key] = {
                        "rule": key[0],
                        "instance": key[1],
                        "active_since": rule_step.state.active_since,
                        "firing": rule_step.state.firing,
                    }
                if rule_step.fire or rule_step.resolve:
                    status = AlertStatus.FIRING if rule_step.fire else AlertStatus.RESOLVED
                    since = rule_step.state.active_since or (previous or {}).get("active_since") or now
                    alerts.append(_rule_alert(rule, check, status, since, now))
                    (outcome.fired if rule_step.fire else outcome.resolved).append(
                        f"{rule.spec.name}:{check.key}"
                    )
        store.insert_results(results)
        store.update_checks(
            [
                {"b_id": check_id, **{name: row[name] for name in _STATE_COLUMNS}}
                for check_id, row in rows.items()
                if row["last_run_at"] is not None
            ]
        )
        store.update_checks(pinged)
        if rule_upserts or rule_deletes:
            store.save_rule_states(list(rule_upserts.values()), sorted(rule_deletes - set(rule_upserts)))
        if alerts:
            results_ = ingest.apply(store, policy, [ingest.Submission(alerts, SOURCE, ACTOR)], now)
            outcome.queued = results_[0].queued
    return outcome


_STATE_COLUMNS = (
    "status",
    "failures",
    "successes",
    "failing_since",
    "alerting",
    "changed_at",
    "last_run_at",
    "last_latency",
    "last_reason",
)


def _judge(
    check: PlannedCheck, run: Run, row: Row, now: datetime
) -> tuple[domain.Verdict, dict[str, Any], float | None]:
    if check.heartbeat is not None:
        verdict, variables = domain.heartbeat_verdict(
            check.heartbeat,
            last_ping_at=row["last_ping_at"],
            last_kind=row["last_ping_kind"],
            watching_since=row["created_at"],
            now=run.due_at,
        )
        if verdict.status is not domain.Status.DOWN and check.spec.expect:
            verdict = domain.judge(
                reached=True,
                error=None,
                variables=variables,
                expect=check.conditions,
                degraded_if=check.spec.degraded_if,
            )
        return verdict, variables, None
    result = run.result or ProbeResult(ok=False, latency=0.0, error="not run")
    variables = {**result.variables, "latency": timedelta(seconds=result.latency)}
    verdict = domain.judge(
        reached=result.ok,
        error=result.error,
        variables=variables,
        expect=check.conditions,
        degraded_if=check.spec.degraded_if,
    )
    return verdict, variables, result.latency


def _check_alert(
    check: PlannedCheck, status: AlertStatus, since: datetime, verdict: domain.Verdict, now: datetime
) -> AlertIn:
    if status is AlertStatus.FIRING:
        summary = f"{check.service}: check {check.name} failing: {verdict.reason or 'down'}"
    else:
        summary = f"{check.service}: check {check.name} passing again"
    return AlertIn(
        labels=check.labels,
        status=status,
        starts_at=since,
        ends_at=now if status is AlertStatus.RESOLVED else None,
        annotations={"summary": summary[:500], "description": verdict.reason or ""},
        fingerprint=check_fingerprint(check.key),
    )


def _rule_alert(
    rule: PlannedRule, check: PlannedCheck, status: AlertStatus, since: datetime, now: datetime
) -> AlertIn:
    labels = {
        **{k: v for k, v in check.labels.items() if k not in ("alertname", "severity", "kind")},
        **rule.spec.labels,
        "alertname": rule.spec.name,
        "severity": rule.severity,
        "rule": rule.spec.name,
    }
    annotations = {
        "summary": f"{check.service}: {rule.spec.name} ({rule.spec.condition})",
        **rule.spec.annotations,
    }
    return AlertIn(
        labels=labels,
        status=status,
        starts_at=since,
        ends_at=now if status is AlertStatus.RESOLVED else None,
        annotations=annotations,
        fingerprint=rule_fingerprint(rule.spec.name, check.key),
    )


def ping(*, uow: UnitOfWork, policy: Policy, plan: CheckPlan, token: str, kind: str, now: datetime) -> bool:
    """Given a push token and the ping kind (success, start, fail), note it and judge the heartbeat at once
    (a success clears its alert, a fail raises it); return False for an unknown token."""
    check_id = plan.tokens.get(token)
    if check_id is None:
        return False
    if kind == "start":  # noted only: the run is judged when it reports success or failure, or times out
        with uow.transaction() as store:
            store.update_checks([{"b_id": check_id, "last_ping_at": now, "last_ping_kind": kind}])
        return True
    record(uow=uow, policy=policy, plan=plan, runs=[Run(check_id, now, ping=kind)], now=now)
    return True
