"""What each dashboard page shows, gathered from the services with one query per kind of data, so the page
handlers stay thin. Each function is given the wired container and ``now`` and returns the page's context;
charts come ready as SVG (see `charts`). Raises what the services raise (NotFound for an unknown incident).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from siaga.bootstrap import Container
from siaga.domain import maintenance, slo
from siaga.services import incidents, oncall, rollups, silences, slo_report, status, tokens, users
from siaga.services.check_plan import PlannedCheck
from siaga.services.ports import Row
from siaga.web import charts

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
UPTIME_DAYS = 90
LATENCY_RANGES = {"24h": "the last 24 hours, per hour", "30d": "the last 30 days, per day"}
# Worst first: an operator looks for what is broken.
STATE_ORDER = ("down", "impacted", "degraded", "maintenance", "unknown", "up")
OPEN = ("triggered", "acknowledged")


def _zone(wired: Container) -> ZoneInfo:
    return ZoneInfo(wired.spec.project.timezone)


def _floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


# -- incidents ------------------------------------------------------------------------------------------


def with_deadline(incident: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The incident with its next response target: `target` (acknowledge / resolve), `due_at`, `due_in`
    (seconds, negative once missed) and `breached`."""
    target, due = None, None
    if incident["status"] == "triggered":
        target, due = "acknowledge", incident["ack_due_at"]
    elif incident["status"] == "acknowledged":
        target, due = "resolve", incident["resolve_due_at"]
    due_in = (due - now).total_seconds() if due is not None else None
    recorded = incident["ack_breached"] if target == "acknowledge" else incident["resolve_breached"]
    breached = target is not None and ((due_in is not None and due_in < 0) or recorded)
    return {**incident, "target": target, "due_at": due, "due_in": due_in, "breached": bool(breached)}


def incidents_by_severity(wired: Container, found: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Given incidents, return [{severity, incidents}] in the ladder's order (most urgent first)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for incident in found:
        groups.setdefault(incident["severity"], []).append(incident)
    order = [level.name for level in wired.policy.ladder.levels]
    names = sorted(groups, key=lambda name: (order.index(name) if name in order else len(order), name))
    return [{"severity": name, "incidents": groups[name]} for name in names]


def incident_list(
    *,
    wired: Container,
    now: datetime,
    statuses: Sequence[str],
    severity: str | None,
    service: str | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """Incidents newest first, filtered as the API's list is (a severity may be an alias)."""
    levels = []
    if severity:
        level = wired.policy.ladder.get(severity)
        levels.append(level.name if level else severity)
    found = incidents.list_incidents(
        uow=wired.db, statuses=statuses, severities=levels, service=service, limit=limit, offset=offset
    )
    return [with_deadline(incident, now) for incident in found]


def _notification(row: Row) -> dict[str, Any]:
    message = row["message"] or {}
    return {
        "id": int(row["id"]),
        "channel": row["channel"],
        "kind": row["kind"],
        "status": row["status"],
        "attempts": row["attempts"],
        "created_at": row["created_at"],
        "next_attempt_at": row["next_attempt_at"],
        "sent_at": row["sent_at"],
        "response_code": row["response_code"],
        "latency_ms": row["latency_ms"],
        "last_error": row["last_error"],
        "title": message.get("title"),
    }


def incident_page(*, wired: Container, incident_id: int, now: datetime) -> dict[str, Any]:
    """The incident with its timeline and alerts, its messages (oldest first) and the people it can be
    assigned to. Raises NotFound."""
    found = with_deadline(incidents.get_incident(uow=wired.db, incident_id=incident_id), now)
    with wired.db.read() as store:
        rows = store.outbox_of(incident_id)
    return {
        "incident": found,
        "notifications": [_notification(row) for row in rows],
        "people": sorted(wired.policy.paging.people),
        "severities": [level.name for level in wired.policy.ladder.levels],
    }


def postmortem_page(*, wired: Container, incident_id: int) -> dict[str, Any]:
    """The incident, its post-mortem text (attached, else a draft from the timeline) and whether one is
    attached. Raises NotFound."""
    text = incidents.postmortem_draft(uow=wired.db, incident_id=incident_id)
    with wired.db.read() as store:
        row = store.incident(incident_id)
    if row is None:
        raise incidents.NotFound(incident_id)
    return {"incident": incidents.view(row), "text": text, "attached": bool(row["postmortem"])}


# -- overview -------------------------------------------------------------------------------------------


def _by_environment(wired: Container, services: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for service in services:
        checks = service["checks"]
        groups.setdefault(service["environment"], []).append(
            {
                **{k: service[k] for k in ("name", "state", "impacted_by", "environment")},
                "check_count": len(checks),
                "failing": sum(1 for check in checks if check["status"] in ("down", "degraded")),
            }
        )
    known = list(wired.spec.project.environments)
    order = sorted(
        groups, key=lambda env: (env is None, known.index(env) if env in known else len(known), env or "")
    )
    result = []
    for env in order:
        members = sorted(groups[env], key=lambda s: (STATE_ORDER.index(s["state"]), s["name"]))
        counts = {state: sum(1 for s in members if s["state"] == state) for state in STATE_ORDER}
        result.append({"environment": env, "services": members, "counts": counts})
    return result


def who_is_on_call(*, wired: Container, now: datetime) -> list[dict[str, Any]]:
    """Each schedule's current and next shift."""
    return [
        oncall.now_and_next(uow=wired.db, policy=wired.policy, schedule=name, at=now)
        for name in sorted(wired.policy.paging.rotations)
    ]


def overview_live(*, wired: Container, now: datetime) -> dict[str, Any]:
    """What the overview refreshes: services by environment, open incidents by severity, who is on call.
    The services' states come from one `status.overview` (one read of every check's row)."""
    services = status.overview(
        uow=wired.db, spec=wired.spec, policy=wired.policy, plan=wired.check_plan(), now=now
    )
    open_incidents = incident_list(
        wired=wired, now=now, statuses=OPEN, severity=None, service=None, limit=200, offset=0
    )
    return {
        "environments": _by_environment(wired, services),
        "open_by_severity": incidents_by_severity(wired, open_incidents),
        "open_count": len(open_incidents),
        "on_call": who_is_on_call(wired=wired, now=now),
        "updated_at": now,
    }


class BudgetCache:
    """SLO budgets for the overview, kept a minute: they read every SLO's window of minute rollups and move
    slowly, while the overview is opened (and polled) often."""

    def __init__(self, seconds: float = 60.0) -> None:
        self._seconds = seconds
        self._lock = threading.Lock()
        self._entry: tuple[float, object, list[dict[str, Any]]] | None = None

    def get(self, *, wired: Container, now: datetime) -> list[dict[str, Any]]:
        with self._lock:
            entry = self._entry
        if entry is not None and entry[0] > time.monotonic() and entry[1] is wired.spec:
            return entry[2]
        found = budget_rows(wired=wired, now=now)
        with self._lock:
            self._entry = (time.monotonic() + self._seconds, wired.spec, found)
        return found


def budget_rows(*, wired: Container, now: datetime) -> list[dict[str, Any]]:
    """Every SLO's budget (as `GET /api/v1/slo`) with its remaining share and budget bar."""
    items = slo_report.budgets(uow=wired.db, spec=wired.spec, plan=wired.check_plan(), now=now)
    rows = []
    for item in items:
        consumed = item["consumed_percent"]
        remaining = None if consumed is None else 1 - consumed / 100
        label = f"{item['service']} {item['slo']}"
        rows.append({**item, "remaining": remaining, "bar": charts.budget_bar(remaining, label=label)})
    return rows


# -- a service ------------------------------------------------------------------------------------------


def _own_checks(wired: Container, service: str) -> list[PlannedCheck]:
    return [check for check in wired.check_plan().checks if check.service == service]


def _rollups(
    wired: Container, resolution: str, ids: Sequence[int], start: datetime, end: datetime
) -> list[Row]:
    if not ids:
        return []
    with wired.db.read() as store:
        return store.rollups(resolution, ids, start, end)


def _merge(histograms: Iterable[Sequence[int]]) -> list[int]:
    total = [0] * (len(slo.LATENCY_BOUNDS) + 1)
    for histogram in histograms:
        total = [a + b for a, b in zip(total, histogram, strict=False)]
    return total


def latency_charts(
    *, wired: Container, checks: Sequence[PlannedCheck], now: datetime, span: str
) -> list[dict[str, Any]]:
    """Each check's p50 / p95 over the last 24 h per hour (from minute rollups, `span="24h"`) or the last
    30 days per local day (from hour rollups, `"30d"`); heartbeats have no latency and are left out."""
    zone = _zone(wired)
    timed = [check for check in checks if check.spec.kind != "heartbeat"]
    if span == "30d":
        today = now.astimezone(zone).date()
        buckets = [_local_midnight(today - DAY * back, zone) for back in range(29, -1, -1)]
        rows = _rollups(wired, "hour", [c.id for c in timed], buckets[0], now)

        def bucket_of(at: datetime) -> datetime:
            return _local_midnight(at.astimezone(zone).date(), zone)

        fmt = "%d %b"
    else:
        buckets = [_floor_hour(now) - HOUR * back for back in range(23, -1, -1)]
        rows = _rollups(wired, "minute", [c.id for c in timed], buckets[0], now)
        bucket_of = _floor_hour
        fmt = "%H:%M"
    grouped: dict[tuple[int, datetime], list[Sequence[int]]] = {}
    for row in rows:
        grouped.setdefault((int(row["check_id"]), bucket_of(row["start"])), []).append(row["histogram"])
    found = []
    for check in timed:
        points = []
        for start in buckets:
            histogram = _merge(grouped.get((check.id, start), ()))
            points.append(
                charts.LatencyPoint(
                    start=start.astimezone(zone),
                    p50=slo.quantile(0.5, histogram),
                    p95=slo.quantile(0.95, histogram),
                )
            )
        label = f"{check.name} latency over {LATENCY_RANGES.get(span, span)}"
        found.append(
            {
                "check": check.name,
                "has_data": any(point.p95 is not None for point in points),
                "svg": charts.latency_chart(points, label=label, time_format=fmt),
            }
        )
    return found


def uptime_days(
    *, wired: Container, checks: Sequence[PlannedCheck], now: datetime, days: int = UPTIME_DAYS
) -> list[charts.DayUptime]:
    """The last `days` local days, oldest first, each with the share of runs that were up, from the hour
    rollups of the checks that count for uptime."""
    zone = _zone(wired)
    today = now.astimezone(zone).date()
    wanted = [today - DAY * back for back in range(days - 1, -1, -1)]
    counted = [check.id for check in checks if check.spec.uptime]
    rows = _rollups(wired, "hour", counted, _local_midnight(wanted[0], zone), now)
    totals: dict[date, list[int]] = {}
    for row in rows:
        runs_failures = totals.setdefault(row["start"].astimezone(zone).date(), [0, 0])
        runs_failures[0] += int(row["count"])
        runs_failures[1] += int(row["failures"])
    result = []
    for day in wanted:
        runs, failures = totals.get(day, (0, 0))
        percent = 100 * (runs - failures) / runs if runs else None
        result.append(charts.DayUptime(day=day, percent=percent, runs=runs, failures=failures))
    return result


def service_page(*, wired: Container, name: str, now: datetime, span: str = "24h") -> dict[str, Any] | None:
    """One service: its state and checks, latency charts, 90-day uptime bars and recent incidents; None when
    the spec has no such service."""
    if name not in wired.spec.services:
        return None
    services = status.overview(
        uow=wired.db, spec=wired.spec, policy=wired.policy, plan=wired.check_plan(), now=now
    )
    service = next(item for item in services if item["name"] == name)
    own = _own_checks(wired, name)
    days = uptime_days(wired=wired, checks=own, now=now)
    recent = incident_list(wired=wired, now=now, statuses=(), severity=None, service=name, limit=20, offset=0)
    spec = wired.spec.services[name]
    return {
        "service": service,
        "description": spec.description,
        "dependents": sorted(other for other, svc in wired.spec.services.items() if name in svc.depends_on),
        "latency": latency_charts(wired=wired, checks=own, now=now, span=span),
        "span": span,
        "spans": LATENCY_RANGES,
        "uptime_svg": charts.uptime_bars(days, label=f"{name} uptime, last {len(days)} days"),
        "incidents": recent,
    }


# -- on call, silences, SLOs, settings ------------------------------------------------------------------


def oncall_page(*, wired: Container, now: datetime, days: int = 14) -> list[dict[str, Any]]:
    """Each schedule: its members, who is on call now and next, and the shifts of the next `days` days."""
    result = []
    for item in who_is_on_call(wired=wired, now=now):
        name = item["schedule"]
        rotation = wired.policy.paging.rotations[name]
        shifts = oncall.shifts(
            uow=wired.db, policy=wired.policy, schedule=name, start=now, end=now + DAY * days
        )
        result.append({**item, "members": list(rotation.members), "kind": rotation.kind, "shifts": shifts})
    return result


def silences_page(*, wired: Container, now: datetime, include_expired: bool) -> dict[str, Any]:
    """Silences (active and pending, or all) and the maintenance windows running now or in the next 30
    days."""
    windows = []
    for plan in wired.policy.paging.maintenance:
        for window in maintenance.occurrences(plan, now, now + DAY * 30)[:5]:
            windows.append(
                {
                    "name": window.name,
                    "starts_at": window.starts_at,
                    "ends_at": window.ends_at,
                    "services": list(window.services),
                    "active": window.covers(now),
                }
            )
    windows.sort(key=lambda w: (w["starts_at"], w["name"]))
    return {
        "silences": silences.list_silences(uow=wired.db, now=now, include_expired=include_expired),
        "maintenance": windows,
    }


def burn_points(
    samples: Sequence[slo.MinuteSample],
    *,
    objective: float,
    latency: slo.LatencyGoal | None,
    start: datetime,
    end: datetime,
    step: timedelta = HOUR,
) -> list[tuple[datetime, float]]:
    """Given an SLO's samples over its window [start, end), return (time, share of the budget left) at each
    `step`: bad so far over the budget the whole window's runs allow, so the last point is the budget's
    remaining share now (as `slo.budget_report` computes it)."""
    allowed = (100 - objective) / 100
    bad_at: dict[int, int] = {}
    total = 0
    for sample in samples:
        if not start <= sample.start < end or not sample.count:
            continue
        if latency is None:
            bad, measured = sample.failures, sample.count
        else:
            value = slo.quantile(latency.percentile / 100, sample.histogram)
            if value is None:
                continue
            bad, measured = int(value > latency.below.total_seconds()), 1
        total += measured
        index = (sample.start - start) // step
        bad_at[index] = bad_at.get(index, 0) + bad
    if not total:
        return []
    points = [(start, 1.0)]
    spent = 0
    steps = -(-(end - start) // step)
    for index in range(steps):
        spent += bad_at.get(index, 0)
        points.append((min(start + step * (index + 1), end), 1 - spent / (allowed * total)))
    return points


def slo_page(*, wired: Container, now: datetime) -> list[dict[str, Any]]:
    """Every SLO's budget (as the API computes it) with its budget bar and a burn line over its window."""
    zone = _zone(wired)
    plan = wired.check_plan()
    rows = []
    for item in budget_rows(wired=wired, now=now):
        objective = next(o for o in wired.spec.services[item["service"]].slos if o.name == item["slo"])
        chosen = [c for c in plan.checks if c.service == item["service"] and c.name in item["checks"]]
        start = now - objective.window
        if objective.latency is None:  # hourly sums from the database are all the burn line needs
            samples = slo_report.summed(wired.db, chosen, start, now, HOUR)
        else:
            found = _rollups(wired, "minute", [c.id for c in chosen], start, now)
            samples = [
                sample
                for by_check in rollups.samples(found, {c.id: c.every for c in chosen}).values()
                for sample in by_check
            ]
        points = burn_points(
            samples, objective=objective.objective, latency=objective.latency, start=start, end=now
        )
        label = f"{item['service']} {item['slo']}: error budget left over {item['window']}"
        svg = charts.burn_chart(
            [(at.astimezone(zone), value) for at, value in points],
            start=start.astimezone(zone),
            end=now.astimezone(zone),
            label=label,
        )
        rows.append({**item, "burn": svg})
    return rows


def settings_page(*, wired: Container) -> dict[str, Any]:
    """Dashboard users and API tokens (never a token's value or a password's hash)."""
    return {"users": users.list_users(uow=wired.db), "tokens": tokens.list_tokens(uow=wired.db)}
