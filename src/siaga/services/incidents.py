"""What people and the clock do to incidents: acknowledge, resolve, reopen, note, assign, change severity,
attach a post-mortem; and the sweep that records breaches and auto-resolves.

Errors::

    IncidentError (siaga.domain.incidents)
    ├── InvalidTransition   the action does not apply to the current status
    ├── NotFound            no incident with that id
    └── InvalidInput        e.g. an unknown severity
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from siaga.domain import incidents as rules
from siaga.domain import postmortem
from siaga.domain.incidents import Action, IncidentError, Status
from siaga.services import paging
from siaga.services.policy import Policy
from siaga.services.ports import Row, Store, UnitOfWork


class NotFound(IncidentError):
    def __init__(self, incident_id: int) -> None:
        super().__init__(f"incident {incident_id} not found")
        self.incident_id = incident_id


class InvalidInput(IncidentError):
    pass


def _event(now: datetime, actor: str, kind: str, message: str, data: dict[str, Any] | None = None) -> Row:
    return {"at": now, "actor": actor, "kind": kind, "message": message, "data": data}


def _locked(store: Store, incident_id: int) -> Row:
    row = store.incident(incident_id, for_update=True)
    if row is None:
        raise NotFound(incident_id)
    return row


def _change(
    store: Store, incident_id: int, values: dict[str, Any], events: Sequence[Row], now: datetime
) -> None:
    store.update_incident(incident_id, {**values, "updated_at": now})
    store.append_events(incident_id, events)


def acknowledge(*, uow: UnitOfWork, incident_id: int, actor: str, now: datetime) -> None:
    with uow.transaction() as store:
        row = _locked(store, incident_id)
        status = rules.transition(Status(row["status"]), Action.ACKNOWLEDGE)
        values: dict[str, Any] = {"status": status.value, "acknowledged_at": now, "acknowledged_by": actor}
        if row["first_acknowledged_at"] is None:
            values["first_acknowledged_at"] = now
        _change(store, incident_id, values, [_event(now, actor, "status", "acknowledged")], now)
        paging.acknowledged(store, incident_id, actor, now)


def unacknowledge(*, uow: UnitOfWork, incident_id: int, actor: str, now: datetime) -> None:
    with uow.transaction() as store:
        row = _locked(store, incident_id)
        status = rules.transition(Status(row["status"]), Action.UNACKNOWLEDGE)
        values = {"status": status.value, "acknowledged_at": None, "acknowledged_by": None}
        _change(store, incident_id, values, [_event(now, actor, "status", "acknowledgement withdrawn")], now)
        paging.unacknowledged(store, incident_id, now)


def resolve(
    *, uow: UnitOfWork, incident_id: int, actor: str, now: datetime, reason: str | None = None
) -> None:
    with uow.transaction() as store:
        row = _locked(store, incident_id)
        status = rules.transition(Status(row["status"]), Action.RESOLVE)
        message = f"resolved: {reason}" if reason else "resolved"
        values = {"status": status.value, "resolved_at": now, "resolved_by": actor}
        _change(store, incident_id, values, [_event(now, actor, "status", message)], now)
        paging.resolved(store, incident_id, actor, now)


def reopen(*, uow: UnitOfWork, policy: Policy, incident_id: int, actor: str, now: datetime) -> None:
    with uow.transaction() as store:
        row = _locked(store, incident_id)
        status = rules.transition(Status(row["status"]), Action.REOPEN)
        level = policy.ladder.get(row["severity"]) or policy.ladder.least_urgent
        targets = rules.targets(level, now)
        values = {
            "status": status.value,
            "resolved_at": None,
            "resolved_by": None,
            "acknowledged_at": None,
            "acknowledged_by": None,
            "alerts_resolved_at": None,
            "ack_due_at": targets.ack_due_at,
            "resolve_due_at": targets.resolve_due_at,
            "ack_breached_at": None,
            "resolve_breached_at": None,
            "reopen_count": int(row["reopen_count"]) + 1,
        }
        _change(store, incident_id, values, [_event(now, actor, "status", "reopened")], now)
        paging.reopened(store, policy, {**row, **values}, None, now).write(store)


def add_note(
    *, uow: UnitOfWork, incident_id: int, actor: str, text: str, now: datetime, public: bool = False
) -> None:
    """Add a note to the timeline; a `public` one (data {"public": true}) is also a status page update."""
    with uow.transaction() as store:
        _locked(store, incident_id)
        data = {"public": True} if public else None
        _change(store, incident_id, {}, [_event(now, actor, "note", text, data)], now)


def assign(*, uow: UnitOfWork, incident_id: int, actor: str, assignee: str | None, now: datetime) -> None:
    with uow.transaction() as store:
        _locked(store, incident_id)
        message = f"assigned to {assignee}" if assignee else "unassigned"
        _change(store, incident_id, {"assignee": assignee}, [_event(now, actor, "assign", message)], now)


def change_severity(
    *, uow: UnitOfWork, policy: Policy, incident_id: int, actor: str, severity: str, now: datetime
) -> None:
    level = policy.ladder.get(severity)
    if level is None:
        known = ", ".join(level.name for level in policy.ladder.levels)
        raise InvalidInput(f"unknown severity '{severity}' (known: {known})")
    with uow.transaction() as store:
        row = _locked(store, incident_id)
        if row["severity"] == level.name:
            return
        targets = rules.targets(level, row["opened_at"])
        values = {
            "severity": level.name,
            "ack_due_at": targets.ack_due_at,
            "resolve_due_at": targets.resolve_due_at,
            "postmortem_required": bool(row["postmortem_required"]) or level.postmortem_required,
        }
        message = f"severity changed {row['severity']} → {level.name}"
        _change(store, incident_id, values, [_event(now, actor, "severity", message)], now)


def attach_postmortem(*, uow: UnitOfWork, incident_id: int, actor: str, text: str, now: datetime) -> None:
    if not text.strip():
        raise InvalidInput("the post-mortem is empty")
    with uow.transaction() as store:
        _locked(store, incident_id)
        values = {"postmortem": text, "postmortem_attached_at": now}
        _change(store, incident_id, values, [_event(now, actor, "postmortem", "post-mortem attached")], now)


@dataclass(frozen=True, slots=True)
class SweepResult:
    breaches: int
    auto_resolved: int


def sweep(*, uow: UnitOfWork, policy: Policy, now: datetime) -> SweepResult:
    """Record response-target breaches and auto-resolve incidents whose alerts stayed resolved long enough."""
    breaches = resolved = 0
    with uow.read() as store:  # most ticks find nothing to do: no write transaction for them
        idle = not store.incidents_past_targets(now) and not store.incidents_with_resolved_alerts(
            now - policy.resolve_after
        )
    if idle:
        return SweepResult(breaches=0, auto_resolved=0)
    with uow.transaction() as store:
        for row in store.incidents_past_targets(now):
            clocks = rules.Clocks(
                status=Status(row["status"]),
                ack_due_at=row["ack_due_at"],
                resolve_due_at=row["resolve_due_at"],
                ack_breached_at=row["ack_breached_at"],
                resolve_breached_at=row["resolve_breached_at"],
            )
            values: dict[str, Any] = {}
            events = []
            for breach in rules.new_breaches(clocks, now):
                due = row[f"{breach.value}_due_at"]
                values[f"{breach.value}_breached_at"] = now
                target = "acknowledge" if breach is rules.Breach.ACK else "resolve"
                events.append(
                    _event(
                        now,
                        "siaga",
                        "breach",
                        f"{target} target missed (was due {due:%Y-%m-%d %H:%M:%S} UTC)",
                    )
                )
            if values:
                breaches += len(events)
                _change(store, int(row["id"]), values, events, now)
                if "ack_breached_at" in values:
                    paging.rush(store, policy, int(row["id"]), now).write(store)
        for row in store.incidents_with_resolved_alerts(now - policy.resolve_after):
            if not rules.auto_resolve_due(row["alerts_resolved_at"], policy.resolve_after, now):
                continue
            quiet = _format(policy.resolve_after)
            values = {"status": Status.RESOLVED.value, "resolved_at": now, "resolved_by": "siaga"}
            events = [_event(now, "siaga", "status", f"auto-resolved: every alert resolved for {quiet}")]
            _change(store, int(row["id"]), values, events, now)
            paging.resolved(store, int(row["id"]), "siaga", now)
            resolved += 1
    return SweepResult(breaches=breaches, auto_resolved=resolved)


def _format(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# -- reading ---------------------------------------------------------------------------------------


def view(row: Row) -> dict[str, Any]:
    """The public shape of an incident (API and CLI)."""
    opened = row["opened_at"]
    tta = row["first_acknowledged_at"] - opened if row["first_acknowledged_at"] else None
    ttr = row["resolved_at"] - opened if row["resolved_at"] else None
    if not row["postmortem_required"]:
        pm = "not_required"
    else:
        pm = "attached" if row["postmortem_attached_at"] else "pending"
    return {
        "id": int(row["id"]),
        "title": row["title"],
        "status": row["status"],
        "severity": row["severity"],
        "service": row["service"],
        "group_key": row["group_key"],
        "opened_at": opened,
        "acknowledged_at": row["acknowledged_at"],
        "acknowledged_by": row["acknowledged_by"],
        "resolved_at": row["resolved_at"],
        "resolved_by": row["resolved_by"],
        "assignee": row["assignee"],
        "ack_due_at": row["ack_due_at"],
        "resolve_due_at": row["resolve_due_at"],
        "ack_breached": row["ack_breached_at"] is not None,
        "resolve_breached": row["resolve_breached_at"] is not None,
        "reopen_count": int(row["reopen_count"]),
        "time_to_acknowledge_seconds": tta.total_seconds() if tta else None,
        "time_to_resolve_seconds": ttr.total_seconds() if ttr else None,
        "postmortem": pm,
    }


def list_incidents(
    *,
    uow: UnitOfWork,
    statuses: Sequence[str] = (),
    severities: Sequence[str] = (),
    service: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    with uow.read() as store:
        rows = store.incidents(
            statuses=statuses, severities=severities, service=service, limit=limit, offset=offset
        )
    return [view(row) for row in rows]


def get_incident(*, uow: UnitOfWork, incident_id: int) -> dict[str, Any]:
    """The incident with its timeline and alerts."""
    with uow.read() as store:
        row = store.incident(incident_id)
        if row is None:
            raise NotFound(incident_id)
        timeline = store.timeline(incident_id)
        alerts = store.alerts_of(incident_id)
    data = view(row)
    data["timeline"] = [
        {k: event[k] for k in ("seq", "at", "actor", "kind", "message", "data")} for event in timeline
    ]
    data["alerts"] = [
        {
            k: alert[k]
            for k in (
                "fingerprint",
                "status",
                "alertname",
                "severity",
                "labels",
                "annotations",
                "starts_at",
                "ends_at",
            )
        }
        for alert in alerts
    ]
    return data


def postmortem_draft(*, uow: UnitOfWork, incident_id: int) -> str:
    """The attached post-mortem if there is one, else a draft generated from the timeline."""
    with uow.read() as store:
        row = store.incident(incident_id)
        if row is None:
            raise NotFound(incident_id)
        if row["postmortem"]:
            return str(row["postmortem"])
    incident = get_incident(uow=uow, incident_id=incident_id)
    incident["first_acknowledged_at"] = row["first_acknowledged_at"]
    return postmortem.draft(incident, incident["timeline"])


def stats(*, uow: UnitOfWork, since: datetime | None = None) -> dict[str, Any]:
    """MTTA and MTTR overall and per severity, breach counts, pending post-mortems."""
    with uow.read() as store:
        rows = store.response_times(since)
        breaches = store.breach_counts()
        pending = len(store.pending_postmortems())
        open_counts = store.open_counts_by_severity()
    by_severity: dict[str, dict[str, Any]] = {}
    for severity in sorted({row["severity"] for row in rows}):
        subset = [row for row in rows if row["severity"] == severity]
        by_severity[severity] = _response(subset)
    return {
        **_response(rows),
        "by_severity": by_severity,
        "open": open_counts,
        "breaches": breaches,
        "postmortems_pending": pending,
    }


def _response(rows: Sequence[Row]) -> dict[str, Any]:
    tta = [r["first_acknowledged_at"] - r["opened_at"] for r in rows if r["first_acknowledged_at"]]
    ttr = [r["resolved_at"] - r["opened_at"] for r in rows if r["resolved_at"]]
    return {
        "incidents": len(rows),
        "mtta_seconds": rules.mean_seconds(tta),
        "mttr_seconds": rules.mean_seconds(ttr),
    }
