"""What the public status page shows: the public services (`public: true`) with their state and 90 days of
uptime, their incidents with public updates only, and their announced or running maintenance.

Nothing internal leaves this module: no labels, people, channels, internal notes, check details or
dependency names (a private service a public one depends on stays unnamed). States are worded as Atlassian
Statuspage words them:

    internal state   public state            shown as
    up               operational             operational
    degraded         degraded_performance    degraded performance
    impacted         partial_outage          partial outage (a service it depends on is down)
    down             major_outage            major outage
    maintenance      under_maintenance       under maintenance
    unknown          no_data                 no data (no check has run yet)
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from siaga.domain import maintenance, slo
from siaga.domain.oncall import wall_time_to_utc
from siaga.services import rollups, status
from siaga.services.check_plan import CheckPlan
from siaga.services.policy import Policy
from siaga.services.ports import Row, UnitOfWork
from siaga.spec import Spec

DAYS = 90
RECENT = timedelta(days=7)  # resolved incidents stay on the page this long
INCIDENT_LIMIT = 100  # per service and status, newest first
_HOUR = timedelta(hours=1)

# internal state -> (public state, wording)
PUBLIC_STATES: dict[str, tuple[str, str]] = {
    "up": ("operational", "operational"),
    "degraded": ("degraded_performance", "degraded performance"),
    "impacted": ("partial_outage", "partial outage"),
    "down": ("major_outage", "major outage"),
    "maintenance": ("under_maintenance", "under maintenance"),
    "unknown": ("no_data", "no data"),
}
STATE_TEXT: dict[str, str] = dict(PUBLIC_STATES.values())  # public state -> wording
# Worst first: the page's overall state is its worst component's (services without data do not count).
_SEVERITY = ("major_outage", "partial_outage", "degraded_performance", "under_maintenance", "operational")
OVERALL_TEXT = {
    "operational": "All systems operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "under_maintenance": "Under maintenance",
    "no_data": "No data yet",
}
INCIDENT_STATUS_TEXT = {"triggered": "investigating", "acknowledged": "acknowledged", "resolved": "resolved"}


def public_services(spec: Spec) -> list[str]:
    """The names of the services marked `public: true`, in spec order."""
    return [name for name, svc in spec.services.items() if svc.public]


def component_states(
    *, uow: UnitOfWork, spec: Spec, policy: Policy, plan: CheckPlan, now: datetime
) -> dict[str, str]:
    """Given the spec and its plan, return each public service's public state (see the module docstring)."""
    public = set(public_services(spec))
    if not public:
        return {}
    items = status.overview(uow=uow, spec=spec, policy=policy, plan=plan, now=now)
    return {item["name"]: PUBLIC_STATES[item["state"]][0] for item in items if item["name"] in public}


def overall_state(states: Sequence[str]) -> str:
    """The worst of the components' public states; `no_data` when none has data."""
    ranked = [_SEVERITY.index(state) for state in states if state in _SEVERITY]
    return _SEVERITY[min(ranked)] if ranked else "no_data"


_Uptimes = dict[str, tuple[list[dict[str, Any]], float | None]]


class UptimeCache:
    """The last 90-day uptime computed, reused while the plan and policy are the same objects and `now` is in
    the same `ttl` slot: hour rollups land once an hour, and a public page may be asked for often."""

    def __init__(self, ttl: timedelta = timedelta(minutes=5)) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._key: tuple[object, ...] | None = None
        self._value: _Uptimes = {}

    def get(self, key: tuple[object, ...]) -> _Uptimes | None:
        with self._lock:
            return self._value if self._key is not None and _same(self._key, key) else None

    def put(self, key: tuple[object, ...], value: _Uptimes) -> None:
        with self._lock:
            self._key, self._value = key, value


def _same(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    # Plan and policy by identity (a reload makes new ones), the rest by value.
    return len(a) == len(b) and a[0] is b[0] and a[1] is b[1] and a[2:] == b[2:]


def public_status(
    *,
    uow: UnitOfWork,
    spec: Spec,
    policy: Policy,
    plan: CheckPlan,
    now: datetime,
    cache: UptimeCache | None = None,
) -> dict[str, Any]:
    """Given the spec, its plan and `now`, return the status page's data (its shape: docs/api.md); with a
    `cache`, the uptime part may be up to its `ttl` old."""
    names = public_services(spec)
    states = component_states(uow=uow, spec=spec, policy=policy, plan=plan, now=now)
    zone = ZoneInfo(spec.project.timezone)
    uptimes: _Uptimes | None = None
    if cache is not None:
        slot = (now.astimezone(UTC) - datetime(2000, 1, 1, tzinfo=UTC)) // cache.ttl
        key: tuple[object, ...] = (plan, policy, tuple(names), zone.key, slot)
        uptimes = cache.get(key)
    if uptimes is None:
        uptimes = _uptime_days(uow=uow, names=names, policy=policy, plan=plan, zone=zone, now=now)
        if cache is not None:
            cache.put(key, uptimes)
    components: list[dict[str, Any]] = []
    for name in names:
        days, percent = uptimes[name]
        components.append(
            {
                "name": name,
                "description": spec.services[name].description,
                "state": states[name],
                "state_text": STATE_TEXT[states[name]],
                "uptime_percent": percent,
                "days": days,
            }
        )
    overall = overall_state([c["state"] for c in components])
    return {
        "project": spec.project.name,
        "timezone": spec.project.timezone,
        "generated_at": now,
        "status": {"state": overall, "text": OVERALL_TEXT[overall]},
        "components": components,
        "incidents": _incidents(uow=uow, names=names, now=now),
        "maintenance": _maintenance(policy=policy, names=names, now=now),
    }


# -- uptime ------------------------------------------------------------------------------------------


def _day_bounds(zone: ZoneInfo, now: datetime) -> tuple[list[date], list[datetime]]:
    """The last DAYS local days (today last) and their DAYS + 1 midnights in UTC."""
    today = now.astimezone(zone).date()
    days = [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    edges = [wall_time_to_utc(datetime.combine(day, time()), zone) for day in days]
    edges.append(wall_time_to_utc(datetime.combine(today + timedelta(days=1), time()), zone))
    return days, edges


def _uptime_days(
    *, uow: UnitOfWork, names: Sequence[str], policy: Policy, plan: CheckPlan, zone: ZoneInfo, now: datetime
) -> _Uptimes:
    """Each service's days (date, uptime_percent, down_minutes, maintenance_minutes) and its 90-day percent,
    from the hour rollups of its checks that count for uptime; maintenance counts neither way."""
    days, edges = _day_bounds(zone, now)
    start = edges[0]
    counted = {name: [c for c in plan.checks if c.service == name and c.spec.uptime] for name in names}
    ids = [c.id for found in counted.values() for c in found]
    rows: Sequence[Row] = []
    if ids:
        with uow.read() as store:
            # An hour begun before the first midnight still covers it (zones off the hour, e.g. +05:30).
            rows = store.rollups("hour", ids, start - _HOUR, now)
    by_check = rollups.samples(rows, dict.fromkeys(ids, _HOUR))
    result: _Uptimes = {}
    for name in names:
        windows = [
            (window.starts_at, window.ends_at)
            for plan_ in policy.paging.maintenance
            if plan_.applies_to(name)
            for window in maintenance.occurrences(plan_, start, now)
        ]
        samples = {c.id: by_check.get(c.id, []) for c in counted[name]}
        starts = {check_id: [s.start for s in found] for check_id, found in samples.items()}
        up = down = timedelta(0)
        entries = []
        for index, day in enumerate(days):
            low, high = edges[index], edges[index + 1]
            measured = slo.uptime(
                samples_by_check={str(k): _between(v, starts[k], low, high) for k, v in samples.items()},
                start=low,
                end=high,
                maintenance=windows,
                now=now,
            )
            up, down = up + measured.up, down + measured.down
            entries.append(
                {
                    "date": day.isoformat(),
                    "uptime_percent": None if measured.percent is None else round(measured.percent, 3),
                    "down_minutes": _minutes(measured.down),
                    "maintenance_minutes": _minutes(measured.maintenance),
                }
            )
        total = up + down
        result[name] = (entries, round(up / total * 100, 3) if total else None)
    return result


def _between(
    samples: Sequence[slo.MinuteSample], starts: Sequence[datetime], low: datetime, high: datetime
) -> Sequence[slo.MinuteSample]:
    """The hour samples (sorted by start) that can cover a moment of [low, high)."""
    return samples[bisect.bisect_left(starts, low - _HOUR) : bisect.bisect_left(starts, high)]


def _minutes(span: timedelta) -> float:
    return round(span.total_seconds() / 60, 1)


# -- incidents ---------------------------------------------------------------------------------------


def public_updates(timeline: Sequence[Row]) -> list[dict[str, Any]]:
    """The notes marked public (kind "note", data {"public": true}), newest first, as {at, text}."""
    updates = [
        {"at": event["at"], "text": event["message"]}
        for event in timeline
        if event["kind"] == "note"
        and isinstance(event["data"], Mapping)
        and event["data"].get("public") is True
    ]
    return sorted(updates, key=lambda u: u["at"], reverse=True)


def _incidents(*, uow: UnitOfWork, names: Sequence[str], now: datetime) -> list[dict[str, Any]]:
    """Open incidents of public services, and those resolved in the last RECENT; open ones first, then
    newest first."""
    found: dict[int, Row] = {}
    timelines: dict[int, list[Row]] = {}
    with uow.read() as store:
        for name in names:
            for row in store.incidents(
                statuses=["triggered", "acknowledged"], service=name, limit=INCIDENT_LIMIT
            ):
                found[int(row["id"])] = row
            for row in store.incidents(statuses=["resolved"], service=name, limit=INCIDENT_LIMIT):
                if row["resolved_at"] is not None and row["resolved_at"] >= now - RECENT:
                    found[int(row["id"])] = row
        for incident_id in found:
            timelines[incident_id] = store.timeline(incident_id)
    items = []
    for incident_id, row in found.items():
        updates = public_updates(timelines[incident_id])
        moments = [row["opened_at"], row["acknowledged_at"], row["resolved_at"], *(u["at"] for u in updates)]
        items.append(
            {
                "id": incident_id,
                "title": row["title"],
                "service": row["service"],
                "status": row["status"],
                "status_text": INCIDENT_STATUS_TEXT.get(row["status"], row["status"]),
                "severity": row["severity"],
                "opened_at": row["opened_at"],
                "resolved_at": row["resolved_at"],
                "updated_at": max(m for m in moments if m is not None),
                "updates": updates,
            }
        )
    items.sort(key=lambda i: (i["resolved_at"] is None, i["opened_at"], i["id"]), reverse=True)
    return items


# -- maintenance -------------------------------------------------------------------------------------


def _maintenance(*, policy: Policy, names: Sequence[str], now: datetime) -> list[dict[str, Any]]:
    """Windows of public services running now, or starting within their `announce_before` (announced)."""
    items = []
    for plan in policy.paging.maintenance:
        services = [name for name in names if plan.applies_to(name)]
        if not services:
            continue
        ahead = plan.announce_before or timedelta(0)
        # [now, now + ahead] overlaps the windows running now and those whose announcement is due.
        for window in maintenance.occurrences(plan, now, now + ahead + timedelta(microseconds=1)):
            items.append(
                {
                    "name": plan.name,
                    "starts_at": window.starts_at,
                    "ends_at": window.ends_at,
                    "services": services,
                    "in_progress": window.covers(now),
                }
            )
    items.sort(key=lambda i: (i["starts_at"], i["name"]))
    return items
