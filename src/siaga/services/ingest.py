"""Alert ingestion: log every alert event, deduplicate by fingerprint, group alerts into incidents.

One batch is one transaction: the alert log, alert state, incidents and their timelines commit together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from siaga.domain import incidents as rules
from siaga.domain.alerts import AlertIn, AlertStatus, fingerprint, group_key, service_of, title_of
from siaga.domain.routing import group_by_for
from siaga.domain.severity import Level
from siaga.services import paging
from siaga.services.policy import Policy
from siaga.services.ports import ConflictError, Row, Store, UnitOfWork

MAX_ATTEMPTS = 8


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    opened: list[int] = field(default_factory=list)
    touched: list[int] = field(default_factory=list)
    queued: int = 0  # messages this batch queued (reported on the batch's first result)


@dataclass(frozen=True, slots=True)
class Submission:
    """Alerts received in one request, with who sent them; several may share one transaction."""

    alerts: Sequence[AlertIn]
    source: str
    actor: str


@dataclass(slots=True)
class _Draft:
    """An incident being changed by this batch; written once at the end."""

    values: dict[str, Any]
    incident_id: int | None = None
    changed: set[str] = field(default_factory=set)
    events: list[dict[str, Any]] = field(default_factory=list)
    check_resolved: str | None = None  # the actor whose resolved alert may have been the last one
    opened_by: int | None = None  # index of the submission whose alert opened it
    page: Mapping[str, str] | None = None  # labels of the alert that opened or reopened it: page for it
    grew: bool = False  # a new alert joined it while open (the route's group_interval may notify)

    def set(self, **values: Any) -> None:
        self.values.update(values)
        self.changed.update(values)

    def note(
        self, now: datetime, actor: str, kind: str, message: str, data: dict[str, Any] | None = None
    ) -> None:
        self.events.append({"at": now, "actor": actor, "kind": kind, "message": message, "data": data})


def ingest(
    *, uow: UnitOfWork, policy: Policy, alerts: Sequence[AlertIn], source: str, actor: str, now: datetime
) -> IngestResult:
    """Record ``alerts`` and update incidents; retry when a concurrent writer won a race."""
    return ingest_many(uow=uow, policy=policy, submissions=[Submission(alerts, source, actor)], now=now)[0]


def ingest_many(
    *, uow: UnitOfWork, policy: Policy, submissions: Sequence[Submission], now: datetime
) -> list[IngestResult]:
    """Record several submissions in one transaction (group commit); one result per submission."""
    for attempt in range(MAX_ATTEMPTS):
        try:
            with uow.transaction() as store:
                return _ingest(store, policy, submissions, now)
        except ConflictError:
            if attempt == MAX_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def apply(
    store: Store, policy: Policy, submissions: Sequence[Submission], now: datetime
) -> list[IngestResult]:
    """Record submissions inside the caller's transaction (checks raise alerts with their own state
    changes); the caller retries on ConflictError."""
    return _ingest(store, policy, submissions, now)


def _ingest(
    store: Store, policy: Policy, submissions: Sequence[Submission], now: datetime
) -> list[IngestResult]:
    batch = [alert for sub in submissions for alert in sub.alerts]
    senders = [(index, sub.source, sub.actor) for index, sub in enumerate(submissions) for _ in sub.alerts]
    owners: list[_Draft | None] = []
    ladder = policy.ladder
    prints = [alert.fingerprint or fingerprint(alert.labels) for alert in batch]
    levels = [ladder.resolve(alert.labels.get("severity")) for alert in batch]
    keys = {
        fp: group_key(alert.labels, group_by_for(policy.routes, alert.labels, res.level.name, ladder))
        for fp, alert, res in zip(prints, batch, levels, strict=True)
        if alert.status is AlertStatus.FIRING
    }
    found, open_by_key, recent = store.intake_state(prints, keys.values(), now - policy.reopen_within)
    current: dict[str, dict[str, Any]] = {fp: dict(row) for fp, row in found.items()}
    stored = set(current)
    drafts: dict[str, _Draft] = {}  # by group key
    drafts_by_id: dict[int, _Draft] = {}
    alert_draft: dict[str, _Draft] = {}
    log_rows: list[dict[str, Any]] = []

    def draft_for_id(incident_id: int) -> _Draft | None:
        if incident_id in drafts_by_id:
            return drafts_by_id[incident_id]
        row = store.incident(incident_id, for_update=True)
        if row is None:
            return None
        draft = drafts_by_id[incident_id] = _Draft(values=dict(row), incident_id=incident_id)
        if row["status"] != "resolved":
            drafts.setdefault(row["group_key"], draft)
        return draft

    for alert, fp, res, (sub_index, source, actor) in zip(batch, prints, levels, senders, strict=True):
        before = current.get(fp)
        draft: _Draft | None = None
        name = alert.alertname or fp
        if alert.status is AlertStatus.FIRING:
            key = keys[fp]
            draft = drafts.get(key)
            if draft is None:
                draft = _open_or_reopen(
                    key, open_by_key, recent, drafts_by_id, alert, res.level, policy, actor, now
                )
                if draft.incident_id is None:
                    draft.opened_by = sub_index
                drafts[key] = draft
                if draft.incident_id is not None:
                    drafts_by_id[draft.incident_id] = draft
            if not res.known:
                label = alert.labels.get("severity")
                why = f"unknown severity '{label}'" if label else "no severity label"
                draft.note(now, actor, "severity", f"alert {name}: {why}; treated as {res.level.name}")
            was_firing_here = (
                before is not None
                and before["status"] == "firing"
                and (
                    alert_draft.get(fp) is draft
                    or (draft.incident_id is not None and before["incident_id"] == draft.incident_id)
                )
            )
            if not was_firing_here:
                draft.grew = draft.incident_id is not None and draft.page is None
                data = {"fingerprint": fp, "labels": dict(alert.labels)}
                draft.note(now, actor, "alert", f"alert {name} firing", data)
            _raise_severity(draft, res.level, policy, actor, now, name)
            if draft.values.get("alerts_resolved_at") is not None:
                draft.set(alerts_resolved_at=None)
                draft.note(now, actor, "alert", f"alert {name} firing again; auto-resolve cancelled")
            alert_draft[fp] = draft
        elif before is not None and before["status"] == "firing":
            draft = alert_draft.get(fp)
            if draft is None and before["incident_id"] is not None:
                draft = draft_for_id(before["incident_id"])
            if draft is not None:
                draft.note(now, actor, "alert", f"alert {name} resolved", {"fingerprint": fp})
                draft.check_resolved = actor
                alert_draft[fp] = draft
        current[fp] = {
            "fingerprint": fp,
            "status": alert.status.value,
            "alertname": alert.alertname,
            "severity": res.level.name,
            "labels": dict(alert.labels),
            "annotations": dict(alert.annotations),
            "starts_at": alert.starts_at,
            "ends_at": alert.ends_at if alert.status is AlertStatus.RESOLVED else None,
            "source": source,
            "updated_at": now,
            "incident_id": before["incident_id"] if before else None,
        }
        log_rows.append(
            {
                "received_at": now,
                "fingerprint": fp,
                "status": alert.status.value,
                "alertname": alert.alertname,
                "labels": dict(alert.labels),
                "annotations": dict(alert.annotations),
                "starts_at": alert.starts_at,
                "ends_at": alert.ends_at,
                "source": source,
                "_draft": alert_draft.get(fp),
            }
        )
        owners.append(draft)

    results = [IngestResult(accepted=len(sub.alerts)) for sub in submissions]
    unique_drafts = list({id(d): d for d in (*drafts.values(), *drafts_by_id.values())}.values())
    new_drafts = [draft for draft in unique_drafts if draft.incident_id is None]
    if new_drafts:
        paging.prefetch(store, policy, now)  # new incidents page: read for that with their insert
    ids = store.insert_incidents([{k: v for k, v in d.values.items() if k != "id"} for d in new_drafts])
    for draft, incident_id in zip(new_drafts, ids, strict=True):
        draft.incident_id = incident_id
        draft.changed.clear()
        if draft.opened_by is not None:
            results[draft.opened_by].opened.append(incident_id)
    for fp, draft in alert_draft.items():
        current[fp]["incident_id"] = draft.incident_id
    for row in log_rows:
        owner = row.pop("_draft")
        row["incident_id"] = owner.incident_id if owner else current[row["fingerprint"]]["incident_id"]
    store.insert_alerts([current[fp] for fp in current if fp not in stored])
    store.update_alerts([{"b_fingerprint": fp, **_without_key(current[fp])} for fp in stored])
    store.log_alert_events(log_rows)

    waiting = [
        draft
        for draft in unique_drafts
        if draft.check_resolved
        and draft.values["status"] != "resolved"
        and draft.values.get("alerts_resolved_at") is None
    ]
    firing = store.firing_counts(int(draft.incident_id or 0) for draft in waiting)
    for draft in waiting:
        if firing.get(int(draft.incident_id or 0), 0) == 0:
            draft.set(alerts_resolved_at=now)
            at = now + policy.resolve_after
            message = (
                f"all alerts resolved; auto-resolves at {at:%Y-%m-%d %H:%M:%S} UTC unless one fires again"
            )
            draft.note(now, draft.check_resolved or "siaga", "alert", message)
    results[0].queued = _page(store, policy, unique_drafts, now)
    _flush(store, unique_drafts, now)
    for owner, (sub_index, _source, _actor) in zip(owners, senders, strict=True):
        touched = results[sub_index].touched
        if owner is not None and owner.incident_id is not None and owner.incident_id not in touched:
            touched.append(owner.incident_id)
    return results


def _page(store: Store, policy: Policy, drafts: Sequence[_Draft], now: datetime) -> int:
    """Start paging for the incidents this batch opened or reopened, in the same transaction."""
    items = [
        paging.Opened(
            incident_id=int(draft.incident_id or 0),
            labels=draft.page,
            severity=str(draft.values["severity"]),
            title=str(draft.values["title"]),
            service=draft.values["service"],
            opened_at=draft.values["opened_at"],
            reopened=int(draft.values["reopen_count"]) > 0,
            epoch=int(draft.values["reopen_count"]),
        )
        for draft in drafts
        if draft.page is not None
    ]
    grown = [int(draft.incident_id or 0) for draft in drafts if draft.grew and draft.page is None]
    if grown:
        paging.grew(store, policy, grown, now)
    if not items:
        return 0
    effects = paging.opened(store, policy, items, now)
    for draft in drafts:
        draft.events += [dict(event) for event in effects.events.pop(int(draft.incident_id or 0), [])]
    return store.queue_outbox(effects.outbox)


def _without_key(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "fingerprint"}


def _flush(store: Store, drafts: Sequence[_Draft], now: datetime) -> None:
    """Write every draft's changes and timeline entries in two statements."""
    events: list[dict[str, Any]] = []
    changed: list[_Draft] = []
    for draft in drafts:
        base_seq = int(draft.values["last_seq"])
        if draft.events:
            draft.set(last_seq=base_seq + len(draft.events))
        if draft.changed:
            draft.set(updated_at=now)
            changed.append(draft)
        events += [
            {**event, "incident_id": draft.incident_id, "seq": base_seq + 1 + i}
            for i, event in enumerate(draft.events)
        ]
    columns = sorted(set().union(*(draft.changed for draft in changed))) if changed else []
    store.update_incidents(
        [{"b_id": draft.incident_id, **{c: draft.values[c] for c in columns}} for draft in changed]
    )
    store.insert_events(events)


def _open_or_reopen(
    key: str,
    open_by_key: dict[str, Row],
    recent: dict[str, Row],
    drafts_by_id: dict[int, _Draft],
    alert: AlertIn,
    level: Level,
    policy: Policy,
    actor: str,
    now: datetime,
) -> _Draft:
    if key in open_by_key:
        row = open_by_key[key]
        return drafts_by_id.get(int(row["id"])) or _Draft(values=dict(row), incident_id=int(row["id"]))
    if key in recent and rules.should_reopen(recent[key]["resolved_at"], policy.reopen_within, now):
        row = recent[key]
        draft = drafts_by_id.get(int(row["id"])) or _Draft(values=dict(row), incident_id=int(row["id"]))
        targets = rules.targets(policy.ladder.get(row["severity"]) or level, now)
        draft.set(
            status=rules.transition(rules.Status(row["status"]), rules.Action.REOPEN).value,
            resolved_at=None,
            resolved_by=None,
            acknowledged_at=None,
            acknowledged_by=None,
            alerts_resolved_at=None,
            ack_due_at=targets.ack_due_at,
            resolve_due_at=targets.resolve_due_at,
            ack_breached_at=None,
            resolve_breached_at=None,
            reopen_count=int(row["reopen_count"]) + 1,
        )
        draft.note(now, actor, "status", f"reopened: {alert.alertname or 'an alert'} fired again")
        draft.page = dict(alert.labels)
        return draft
    targets = rules.targets(level, now)
    draft = _Draft(
        values={
            "group_key": key,
            "title": title_of(alert.labels, alert.annotations),
            "service": service_of(alert.labels),
            "status": rules.Status.TRIGGERED.value,
            "severity": level.name,
            "opened_at": now,
            "ack_due_at": targets.ack_due_at,
            "resolve_due_at": targets.resolve_due_at,
            "postmortem_required": level.postmortem_required,
            "reopen_count": 0,
            "last_seq": 0,
            "updated_at": now,
        }
    )
    draft.note(now, actor, "status", f"opened as {level.name}", {"group_key": key})
    draft.page = dict(alert.labels)
    return draft


def _raise_severity(
    draft: _Draft, level: Level, policy: Policy, actor: str, now: datetime, name: str
) -> None:
    current = str(draft.values["severity"])
    if policy.ladder.more_urgent(level.name, current) == current:
        return
    opened = draft.values["opened_at"]
    targets = rules.targets(level, opened)
    draft.set(
        severity=level.name,
        ack_due_at=targets.ack_due_at,
        resolve_due_at=targets.resolve_due_at,
        postmortem_required=bool(draft.values["postmortem_required"]) or level.postmortem_required,
    )
    draft.note(now, actor, "severity", f"severity raised {current} → {level.name} by alert {name}")
