"""Paging: from an incident change to outbox rows, inside the transaction that makes the change.

Every function here takes the open ``Store`` of the caller's transaction (or opens its own, for the periodic
jobs), so an incident change and the messages it causes commit together or not at all. The dispatcher
(runtime/dispatcher.py) sends what lands in the outbox.

- ``opened``: an incident opened or reopened: routes are chosen, the escalation policy frozen into a snapshot,
  and whatever is due at once (the first step, the routes' own targets) queued.
- ``advance``: the periodic job that fires due steps, re-checks muted escalations and releases them.
- ``acknowledged`` / ``unacknowledged`` / ``resolved`` / ``reopened`` / ``rush``: the incident actions.
- ``announce`` and ``expire_silences``: maintenance announcements and silence-expiry notices.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from siaga.domain import escalation as esc
from siaga.domain import maintenance, oncall
from siaga.domain.notifications import Kind, Message, Recipient
from siaga.domain.routing import (
    InhibitRule,
    Matcher,
    Op,
    all_match,
    inhibited,
    parse_matcher,
    select_routes,
)
from siaga.services.policy import PagingConfig, Policy
from siaga.services.ports import PagingReads, Row, Store, UnitOfWork

ONCALL = "oncall:"
ALARMS = tuple(kind.value for kind in Kind if kind.is_alarm)
_INHIBIT_RECHECK = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Opened:
    """An incident that just opened (or reopened) and the labels of the alert that did it."""

    incident_id: int
    labels: Mapping[str, str]
    severity: str
    title: str
    service: str | None
    opened_at: datetime
    reopened: bool = False
    epoch: int = 0  # the incident's reopen count: keeps message keys of each life apart


@dataclass(frozen=True, slots=True)
class Delivery:
    channel: str
    recipient: Recipient | None
    target: str  # as written in the spec: a channel, a person or oncall:<schedule>


def _event(now: datetime, kind: str, message: str, data: dict[str, Any] | None = None) -> Row:
    return {"at": now, "actor": "siaga", "kind": kind, "message": message, "data": data}


# -- targets ------------------------------------------------------------------------------------------


def expand(
    config: PagingConfig,
    targets: Iterable[str],
    at: datetime,
    overrides: Mapping[str, Sequence[oncall.Override]],
) -> tuple[list[Delivery], list[str]]:
    """Turn spec targets into deliveries at ``at``; the second list says which targets reach nobody."""
    deliveries: list[Delivery] = []
    problems: list[str] = []
    for target in targets:
        person: str | None = None
        if target.startswith(ONCALL):
            schedule = target.removeprefix(ONCALL)
            rotation = config.rotations.get(schedule)
            if rotation is None:
                problems.append(f"{target}: no such schedule")
                continue
            person = oncall.on_call(rotation, overrides.get(schedule, ()), at).person
        elif target in config.channels:
            deliveries.append(Delivery(target, None, target))
            continue
        else:
            person = target
        recipient = config.people.get(person)
        channels = config.channels_for(recipient) if recipient else []
        if not channels:
            problems.append(f"{target}: no channel reaches {person} (give them an email, telegram or slack)")
        deliveries += [Delivery(channel, recipient, target) for channel in channels]
    unique = {(d.channel, d.recipient.name if d.recipient else ""): d for d in deliveries}
    return list(unique.values()), problems


def overrides_at(
    store: Store, config: PagingConfig, at: datetime, until: datetime | None = None
) -> dict[str, list[oncall.Override]]:
    """Overrides in force at ``at`` (or at any time up to ``until``), by schedule."""
    window = _override_window(config, at, until)
    return {} if window is None else _by_schedule(store.overrides(None, *window))


def _override_window(
    config: PagingConfig, at: datetime, until: datetime | None = None
) -> tuple[datetime, datetime] | None:
    if not config.rotations:
        return None  # no schedules: no overrides to read
    return at - timedelta(seconds=1), (until or at) + timedelta(seconds=1)


def _by_schedule(rows: Sequence[Row]) -> dict[str, list[oncall.Override]]:
    found: dict[str, list[oncall.Override]] = {}
    for row in rows:
        found.setdefault(row["schedule"], []).append(override_of(row))
    return found


def override_of(row: Row) -> oncall.Override:
    return oncall.Override(
        id=int(row["id"]),
        schedule=row["schedule"],
        person=row["person"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        created_by=row["created_by"],
    )


# -- muting -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mute:
    reason: str
    until: datetime | None  # None: re-check periodically (inhibition has no end time)


def silence_matchers(row: Row) -> list[Matcher]:
    return [parse_matcher(text) for text in row["matchers"]]


def paging_reads(policy: Policy, now: datetime) -> PagingReads:
    """What paging an incident at ``now`` reads (see ``MuteView.preload``)."""
    rules = policy.paging.inhibit
    services = _source_services(rules) if rules else None
    return PagingReads(
        active_at=now,
        inhibit=bool(rules),
        services=None if services is None else tuple(services),
        overrides=_override_window(policy.paging, now),
    )


def prefetch(store: Store, policy: Policy, now: datetime) -> None:
    """Incidents are about to open: let the store fetch what paging them will read with its next round
    trip (on PostgreSQL, the insert of the incidents)."""
    store.prefetch_paging_reads(paging_reads(policy, now))


class MuteView:
    """What mutes paging at ``now``, loaded once per transaction: active silences, maintenance windows, and
    the open incidents whose alerts may inhibit others."""

    def __init__(self, store: Store, policy: Policy, now: datetime) -> None:
        self._store = store
        self._policy = policy
        self._now = now
        self._silences: list[tuple[Row, list[Matcher]]] | None = None
        self._open: list[Row] | None = None

    def mute(
        self, incident_id: int, labels: Mapping[str, str], severity: str, service: str | None
    ) -> Mute | None:
        """Why this incident must not page right now, if it must not: a silence, a maintenance window, or
        an inhibition (another open incident's alert mutes it)."""
        policy, now = self._policy, self._now
        if self._silences is None:
            self._silences = [(row, silence_matchers(row)) for row in self._store.silences(active_at=now)]
        for row, matchers in self._silences:
            if all_match(matchers, labels, severity, policy.ladder):
                return Mute(f"silenced by silence {row['id']} ({row['comment']})", row["ends_at"])
        window = maintenance.active(policy.paging.maintenance, service, now)
        if window is not None:
            return Mute(f"in maintenance window '{window.name}'", window.ends_at)
        rules = policy.paging.inhibit
        if not rules:
            return None
        if self._open is None:
            self._open = self._store.open_incident_labels(_source_services(rules))
        others = [dict(row["labels"]) for row in self._open if int(row["incident_id"]) != incident_id]
        rule = inhibited(rules, labels, others, severity, policy.ladder)
        if rule is None:
            return None
        return Mute(f"inhibited while an incident matching {' '.join(map(str, rule.source))} is open", None)

    def preload(self, overrides: _Overrides) -> None:
        """Read what muting (and ``overrides``) will need now, together: on PostgreSQL one round trip."""
        active, open_labels, override_rows = self._store.paging_reads(paging_reads(self._policy, self._now))
        self._silences = [(row, silence_matchers(row)) for row in active]
        if open_labels is not None:
            self._open = list(open_labels)
        overrides.set(_by_schedule(override_rows or []))

    def opened(self, incident_id: int, labels: Mapping[str, str]) -> None:
        """An incident opened in this transaction: it may inhibit the next ones."""
        if self._open is not None:
            self._open.append({"incident_id": incident_id, "labels": dict(labels)})


# -- messages -----------------------------------------------------------------------------------------


def _key(*parts: object) -> str:
    text = ":".join(str(part) for part in parts)
    return text if len(text) <= 200 else text[:150] + ":" + hashlib.sha256(text.encode()).hexdigest()[:40]


def _outbox_row(message: Message, channel: str, now: datetime) -> Row:
    return {
        "key": f"{channel}:{message.idempotency_key}",
        "incident_id": message.incident_id,
        "channel": channel,
        "kind": message.kind.value,
        "message": message.to_json(),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _context(policy: Policy, opened: Opened) -> dict[str, Any]:
    level = policy.ladder.get(opened.severity)
    config = policy.paging
    url = f"{config.public_url.rstrip('/')}/incidents/{opened.incident_id}" if config.public_url else None
    return {
        "project": config.project,
        "url": url,
        "severity": opened.severity,
        "severity_rank": level.rank if level else None,
        "title": opened.title,
        "service": opened.service,
        "opened_at": opened.opened_at.isoformat(),
        "epoch": opened.epoch,
        "reopened": opened.reopened,
    }


def _alarm(
    context: Mapping[str, Any],
    incident_id: int,
    labels: Mapping[str, str],
    fire: esc.Fire,
    delivery: Delivery,
    now: datetime,
    *,
    reopened: bool,
) -> Message:
    kind = Kind.TRIGGERED if fire.step == 0 and fire.repeat == 0 else Kind.ESCALATED
    if reopened and fire.step == 0 and fire.repeat == 0:
        kind = Kind.REOPENED
    who = f" to {delivery.recipient.name}" if delivery.recipient else ""
    summary = f"{context['severity']} on {context['service'] or 'no service'}: {context['title']}"
    if kind is Kind.ESCALATED:
        summary += f" — not acknowledged; escalation step {fire.step + 1}{who}"
    recipient = delivery.recipient.name if delivery.recipient else "-"
    key = _key(incident_id, context["epoch"], f"{fire.step}.{fire.repeat}", recipient)
    return _incident_message(context, incident_id, labels, kind, key, summary, delivery, now, step=fire.step)


def _incident_message(
    context: Mapping[str, Any],
    incident_id: int,
    labels: Mapping[str, str],
    kind: Kind,
    key: str,
    summary: str,
    delivery: Delivery,
    now: datetime,
    *,
    step: int | None = None,
) -> Message:
    """A message about an open incident, from the context frozen with its escalation."""
    return Message(
        kind=kind,
        idempotency_key=key,
        title=str(context["title"]),
        summary=summary,
        at=now,
        incident_id=incident_id,
        severity=context["severity"],
        severity_rank=context["severity_rank"],
        status="triggered",
        service=context["service"],
        url=context["url"],
        labels=dict(labels),
        opened_at=datetime.fromisoformat(context["opened_at"]),
        step=step,
        recipient=delivery.recipient,
        project=str(context["project"]),
    )


# -- escalation rows ----------------------------------------------------------------------------------


def snapshot_for(policy: Policy, opened: Opened) -> esc.Snapshot:
    if opened.labels.get("siaga_component") == "channel":
        # A channel that keeps failing must not page through itself: only the fallback channel hears of it.
        fallback = policy.paging.fallback_channel
        targets = [fallback] if fallback and fallback != opened.labels.get("channel") else []
        return esc.snapshot_of(None, (), targets)
    routes = select_routes(policy.routes, opened.labels, opened.severity, policy.ladder)
    name = next((route.escalation for route in routes if route.escalation), None)
    if name is None:
        level = policy.ladder.get(opened.severity)
        name = level.escalation if level else None
    steps = policy.paging.escalations.get(name, ()) if name else ()
    targets = [target for route in routes for target in route.notify]
    waits = [route.group_wait for route in routes if route.group_wait is not None]
    repeats = [route.repeat_interval for route in routes if route.repeat_interval is not None]
    intervals = [route.group_interval for route in routes if route.group_interval is not None]
    return esc.snapshot_of(
        name,
        steps,
        targets,
        max(waits, default=timedelta(0)),
        min(repeats, default=None),
        min(intervals, default=None),
    )


def _state_of(row: Row) -> esc.State:
    return esc.State(anchor=row["anchor_at"], fired=int(row["fired"]), paused_at=row["paused_at"])


def _state_values(snapshot: esc.Snapshot, state: esc.State) -> dict[str, Any]:
    next_at = esc.next_due_at(snapshot, state)
    return {
        "anchor_at": state.anchor,
        "fired": state.fired,
        "paused_at": state.paused_at,
        "next_at": next_at,
        "state": "active" if next_at is not None or state.paused_at is not None else "done",
        "muted_reason": None,
    }


def _source_services(rules: Sequence[InhibitRule]) -> list[str] | None:
    """When every rule's source names a service (as the depends_on rules do), only open incidents of those
    services can inhibit: load just those. None: any open incident may."""
    services: set[str] = set()
    for rule in rules:
        named = [m.value for m in rule.source if m.name == "service" and m.op is Op.EQ]
        if not named:
            return None
        services.update(named)
    return sorted(services)


@dataclass(slots=True)
class Effects:
    """Timeline entries and messages a paging step produced; the caller writes them in its transaction."""

    events: dict[int, list[Row]] = field(default_factory=dict)
    outbox: list[Row] = field(default_factory=list)

    def note(self, incident_id: int, event: Row) -> None:
        self.events.setdefault(incident_id, []).append(event)

    def write(self, store: Store) -> int:
        """Append the timeline entries and queue the messages; return how many messages were new."""
        store.append_events_many(self.events)
        return store.insert_outbox(self.outbox)


class _Overrides:
    def __init__(self, store: Store, config: PagingConfig, now: datetime) -> None:
        self._store, self._config, self._now = store, config, now
        self._value: dict[str, list[oncall.Override]] | None = None

    def set(self, value: dict[str, list[oncall.Override]]) -> None:
        self._value = value

    def get(self) -> dict[str, list[oncall.Override]]:
        if self._value is None:
            self._value = overrides_at(self._store, self._config, self._now)
        return self._value


def opened(store: Store, policy: Policy, items: Sequence[Opened], now: datetime) -> Effects:
    """Start paging for incidents that just opened or reopened (escalation rows are written here; the
    returned effects hold their timeline entries and first messages)."""
    effects = Effects()
    mutes = MuteView(store, policy, now)
    overrides = _Overrides(store, policy.paging, now)
    mutes.preload(overrides)
    fresh: list[Row] = []
    for item in items:
        snapshot = snapshot_for(policy, item)
        row: dict[str, Any] = {
            "incident_id": item.incident_id,
            "snapshot": {**snapshot.to_json(), "context": _context(policy, item)},
            "labels": dict(item.labels),
            "updated_at": now,
            "muted_reason": None,
            "update_due_at": None,
            "last_notice_at": now,
            **_state_values(snapshot, esc.restart(now)),
        }
        note = f"paging: escalation '{snapshot.policy or 'none'}' frozen with {len(snapshot.steps)} step(s)"
        effects.note(item.incident_id, _event(now, "paging", note, snapshot.to_json()))
        row.update(_step(policy, row, mutes, overrides, now, effects))
        if item.reopened and store.escalation(item.incident_id) is not None:
            store.update_escalation(item.incident_id, {k: v for k, v in row.items() if k != "incident_id"})
        else:
            fresh.append(row)
        mutes.opened(item.incident_id, item.labels)
    store.insert_escalations(fresh)
    return effects


def _step(
    policy: Policy,
    row: Mapping[str, Any],
    mutes: MuteView,
    overrides: _Overrides,
    now: datetime,
    effects: Effects,
    *,
    ack_breached: bool = False,
) -> dict[str, Any]:
    """Fire what is due for one escalation row (honouring mutes); return the row's new values."""
    incident_id = int(row["incident_id"])
    snapshot = esc.Snapshot.from_json(row["snapshot"])
    context: dict[str, Any] = row["snapshot"]["context"]
    labels: Mapping[str, str] = row["labels"]
    state = _state_of(row)
    if state.paused_at is not None:
        return {"next_at": None, "update_due_at": None, "updated_at": now}
    mute = mutes.mute(incident_id, labels, context["severity"], context["service"])
    if mute is not None:
        if row.get("muted_reason") != mute.reason:
            until = f" until {mute.until:%Y-%m-%d %H:%M} UTC" if mute.until else ""
            effects.note(incident_id, _event(now, "muted", f"not paged: {mute.reason}{until}"))
        recheck = mute.until if mute.until is not None else now + _INHIBIT_RECHECK
        values = {"state": "muted", "muted_reason": mute.reason, "next_at": recheck, "updated_at": now}
        return {**values, "update_due_at": None}
    if row.get("state") == "muted":
        effects.note(incident_id, _event(now, "muted", "no longer muted: paging resumes"))
    fires, state = esc.next_step(snapshot, state, now, ack_breached=ack_breached)
    for fire in fires:
        deliveries, problems = expand(policy.paging, fire.targets, now, overrides.get())
        for problem in problems:
            effects.note(incident_id, _event(now, "paging", f"step {fire.step + 1}: {problem}"))
        reopened = bool(context.get("reopened"))
        for delivery in deliveries:
            message = _alarm(context, incident_id, labels, fire, delivery, now, reopened=reopened)
            effects.outbox.append(_outbox_row(message, delivery.channel, now))
        reached = ", ".join(f"{d.target} via {d.channel}" for d in deliveries) or "nobody"
        label = "repeat of step" if fire.repeat else "step"
        effects.note(incident_id, _event(now, "escalation", f"{label} {fire.step + 1}: notifying {reached}"))
    values = {**_state_values(snapshot, state), "updated_at": now}
    due = row.get("update_due_at")
    if due is not None and due <= now:
        values.update(_notify_update(policy, context, incident_id, labels, snapshot, overrides, now, effects))
    return values


def _notify_update(
    policy: Policy,
    context: Mapping[str, Any],
    incident_id: int,
    labels: Mapping[str, str],
    snapshot: esc.Snapshot,
    overrides: _Overrides,
    now: datetime,
    effects: Effects,
) -> dict[str, Any]:
    """group_interval: tell the route's targets that new alerts joined the incident."""
    targets = snapshot.steps[0].notify if snapshot.steps else ()
    deliveries, _ = expand(policy.paging, targets, now, overrides.get())
    for delivery in deliveries:
        who = delivery.recipient.name if delivery.recipient else "-"
        key = _key(incident_id, context["epoch"], "update", now.isoformat(), who)
        summary = f"new alerts joined: {context['title']}"
        message = _incident_message(context, incident_id, labels, Kind.UPDATED, key, summary, delivery, now)
        effects.outbox.append(_outbox_row(message, delivery.channel, now))
    reached = ", ".join(f"{d.target} via {d.channel}" for d in deliveries) or "nobody"
    effects.note(incident_id, _event(now, "escalation", f"new alerts in the group: notifying {reached}"))
    return {"update_due_at": None, "last_notice_at": now}


def grew(store: Store, policy: Policy, incident_ids: Sequence[int], now: datetime) -> None:
    """New alerts joined these open incidents: schedule a notice per the route's ``group_interval``."""
    if not any(route.group_interval for route in policy.routes):
        return
    for incident_id in incident_ids:
        row = store.escalation(incident_id)
        if row is None or row["paused_at"] is not None or row["state"] == "muted" or row["update_due_at"]:
            continue
        snapshot = esc.Snapshot.from_json(row["snapshot"])
        due = esc.update_due(snapshot, row["last_notice_at"] or row["anchor_at"], now)
        if due is not None:
            store.update_escalation(incident_id, {"update_due_at": due})


@dataclass(frozen=True, slots=True)
class Advanced:
    escalations: int  # rows looked at (a full batch means more may be due)
    queued: int  # messages queued


def advance(*, uow: UnitOfWork, policy: Policy, now: datetime, limit: int = 1000) -> Advanced:
    """The periodic job: fire due steps and re-check muted escalations, up to ``limit`` rows at a time."""
    with uow.transaction() as store:
        effects = Effects()
        mutes = MuteView(store, policy, now)
        overrides = _Overrides(store, policy.paging, now)
        updates: dict[tuple[str, ...], list[Row]] = {}
        rows = store.due_escalations(now, limit)
        for row in rows:
            if row["status"] == "resolved":
                values: dict[str, Any] = {"state": "done", "next_at": None, "updated_at": now}
            else:
                values = _step(policy, row, mutes, overrides, now, effects)
            values = {"b_incident_id": row["incident_id"], **values}
            updates.setdefault(tuple(values), []).append(values)
        for same_columns in updates.values():
            store.update_escalations_many(same_columns)
        return Advanced(len(rows), effects.write(store))


def advance_all(*, uow: UnitOfWork, policy: Policy, now: datetime, limit: int = 1000) -> int:
    """``advance`` until nothing due is left; return the messages queued."""
    with uow.read() as store:  # most ticks find nothing due: no write transaction for them
        if not store.due_escalations(now, 1):
            return 0
    queued = 0
    while True:
        done = advance(uow=uow, policy=policy, now=now, limit=limit)
        queued += done.queued
        if done.escalations < limit:
            return queued


def rush(store: Store, policy: Policy, incident_id: int, now: datetime) -> Effects:
    """The acknowledgement target was missed: fire the next step now if it is not yet due."""
    effects = Effects()
    row = store.escalation(incident_id)
    if row is not None and row["state"] != "done":
        mutes, overrides = MuteView(store, policy, now), _Overrides(store, policy.paging, now)
        values = _step(policy, row, mutes, overrides, now, effects, ack_breached=True)
        store.update_escalation(incident_id, values)
    return effects


# -- incident actions ---------------------------------------------------------------------------------


def _follow_up(store: Store, incident_id: int, kind: Kind, actor: str, now: datetime) -> int:
    """Tell every channel (and person) that got an alarm for this incident that it was acknowledged or
    resolved; PagerDuty gets acknowledge / resolve for the same dedup_key."""
    latest: dict[tuple[str, str], Message] = {}
    for row in store.outbox_of(incident_id):
        if row["kind"] in ALARMS and row["status"] != "cancelled":
            message = Message.from_json(row["message"])
            who = message.recipient.name if message.recipient else ""
            latest[(row["channel"], who)] = message
    verb = "acknowledged" if kind is Kind.ACKNOWLEDGED else "resolved"
    rows = []
    for (channel, who), last in latest.items():
        message = replace(
            last,
            kind=kind,
            status=verb,
            at=now,
            step=None,
            summary=f"{verb} by {actor}: {last.title}",
            idempotency_key=_key(incident_id, verb, now.isoformat(), who or "-"),
        )
        rows.append(_outbox_row(message, channel, now))
    return store.insert_outbox(rows)


def acknowledged(store: Store, incident_id: int, actor: str, now: datetime) -> int:
    """Stop the escalation, drop alarms not yet sent, and tell those already paged."""
    row = store.escalation(incident_id)
    if row is None:
        return 0
    state = esc.pause(_state_of(row), now)
    values = {"paused_at": state.paused_at, "next_at": None, "update_due_at": None, "updated_at": now}
    store.update_escalation(incident_id, values)
    store.cancel_outbox(incident_id, ALARMS, f"acknowledged by {actor}")
    return _follow_up(store, incident_id, Kind.ACKNOWLEDGED, actor, now)


def unacknowledged(store: Store, incident_id: int, now: datetime) -> None:
    """Resume the escalation where it stopped; the remaining delays count from now."""
    row = store.escalation(incident_id)
    if row is None or row["state"] == "done":
        return
    snapshot = esc.Snapshot.from_json(row["snapshot"])
    state = esc.resume(_state_of(row), now)
    store.update_escalation(incident_id, {**_state_values(snapshot, state), "updated_at": now})


def resolved(store: Store, incident_id: int, actor: str, now: datetime) -> int:
    """End the escalation, drop alarms not yet sent, and send resolved messages to those paged."""
    row = store.escalation(incident_id)
    if row is None:
        return 0
    end_silences_of(store, incident_id, now)
    store.update_escalation(incident_id, {"state": "done", "next_at": None, "updated_at": now})
    store.cancel_outbox(incident_id, ALARMS, f"resolved by {actor}")
    return _follow_up(store, incident_id, Kind.RESOLVED, actor, now)


def reopened(
    store: Store, policy: Policy, incident: Row, labels: Mapping[str, str] | None, now: datetime
) -> Effects:
    """A resolved incident reopened by hand: page from the first step again (with 'reopened' messages)."""
    row = store.escalation(int(incident["id"]))
    item = Opened(
        incident_id=int(incident["id"]),
        labels=dict(labels if labels is not None else (row["labels"] if row else {})),
        severity=incident["severity"],
        title=incident["title"],
        service=incident["service"],
        opened_at=incident["opened_at"],
        reopened=True,
        epoch=int(incident["reopen_count"]),
    )
    return opened(store, policy, [item], now)


# -- maintenance announcements and silence expiry -----------------------------------------------------

ANNOUNCE_CURSOR = "maintenance-announcements"
_CURSOR_STEP = timedelta(minutes=10)  # idle ticks move the cursor at most this often


def announce(*, uow: UnitOfWork, policy: Policy, now: datetime) -> int:
    """Queue the maintenance announcements that fell due since the last run (each exactly once)."""
    config = policy.paging
    if not config.maintenance:
        return 0
    with uow.read() as store:
        since = store.job_cursor(ANNOUNCE_CURSOR)
    recent = since is not None and now - since < _CURSOR_STEP
    if recent and since is not None and not maintenance.announcements_due(config.maintenance, since, now):
        return 0  # nothing due yet: leave the cursor, the next tick scans a little further
    with uow.transaction() as store:
        since = store.job_cursor(ANNOUNCE_CURSOR)
        store.set_job_cursor(ANNOUNCE_CURSOR, now)
        if since is None or not config.maintenance:
            return 0  # first run: start counting from now, do not announce the past
        rows: list[Row] = []
        for plan, window, _at in maintenance.announcements_due(config.maintenance, since, now):
            services = ", ".join(window.services) if window.services != ("*",) else "all services"
            start, end = window.starts_at.astimezone(plan.tz), window.ends_at.astimezone(plan.tz)
            when = f"{start:%A %Y-%m-%d %H:%M} to {end:%H:%M} {start.tzname()} ({plan.tz.key})"
            deliveries, _ = expand(config, plan.announce_to, now, overrides_at(store, config, now))
            for delivery in deliveries:
                message = Message(
                    kind=Kind.ANNOUNCEMENT,
                    idempotency_key=_key(
                        "maintenance", plan.name, window.starts_at.isoformat(), delivery.target
                    ),
                    title=f"Planned maintenance '{plan.name}': {when}",
                    summary=(
                        f"Planned maintenance '{plan.name}' for {services} on {when}. "
                        "Alerts during the window are recorded, not paged."
                    ),
                    at=now,
                    recipient=delivery.recipient,
                    project=config.project,
                )
                rows.append(_outbox_row(message, delivery.channel, now))
        return store.insert_outbox(rows)


def expire_silences(*, uow: UnitOfWork, policy: Policy, now: datetime) -> int:
    """Mark silences that ended, and tell the fallback channel (if any) that one expired."""
    config = policy.paging
    with uow.read() as store:
        if not any(row["ends_at"] <= now for row in store.silences(include_expired=False)):
            return 0
    with uow.transaction() as store:
        rows: list[Row] = []
        for row in store.silences(include_expired=False):
            if row["ends_at"] > now:
                continue
            store.update_silence(int(row["id"]), {"expired_at": row["ends_at"], "notice_sent": True})
            if config.fallback_channel is None:
                continue
            message = Message(
                kind=Kind.NOTICE,
                idempotency_key=_key("silence-expired", row["id"]),
                title=f"Silence {row['id']} expired",
                summary=f"Silence {row['id']} ({', '.join(row['matchers'])}) by {row['created_by']} "
                f"ended at {row['ends_at']:%Y-%m-%d %H:%M} UTC: {row['comment']}",
                at=now,
                project=config.project,
            )
            rows.append(_outbox_row(message, config.fallback_channel, now))
        return store.insert_outbox(rows)


def end_silences_of(store: Store, incident_id: int, now: datetime) -> None:
    """Silences created 'until resolved' for this incident end with it."""
    ended = False
    for row in store.silences(include_expired=False):
        if row["until_resolved"] == incident_id and row["ends_at"] > now:
            store.update_silence(int(row["id"]), {"ends_at": now})
            ended = True
    if ended:
        store.recheck_muted(now)
