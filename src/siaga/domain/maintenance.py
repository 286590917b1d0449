"""Maintenance windows as calendar arithmetic: occurrences, the window muting a service, announcements due.

Phrases ("first sunday of month 02:00-04:00") and cron starts are read on the wall clock of the window's own
time zone, so a window stays at 02:00 local across daylight-saving changes. A wall time the clocks skip
happens at the change; one they repeat happens once, the first time (as cron does). Results are UTC.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from siaga.domain.oncall import wall_time_to_utc
from siaga.spec.calendar import ORDINALS, Recurrence
from siaga.spec.models import MaintenanceWindow

# Cron is evaluated from this long before a range, so the first of a repeated wall time (clocks going back)
# is always seen, and its repeat skipped, whichever range is asked about.
_CLOCK_CHANGE = timedelta(hours=3)


@dataclass(frozen=True, slots=True)
class Window:
    """One occurrence of a maintenance window, in UTC."""

    name: str
    starts_at: datetime
    ends_at: datetime
    services: tuple[str, ...]

    def covers(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


@dataclass(frozen=True, slots=True)
class MaintenancePlan:
    """A maintenance window as data: a phrase (``recurrence``) or ``cron`` + ``duration``, in ``tz``."""

    name: str
    recurrence: Recurrence | None
    cron: str | None
    duration: timedelta | None
    tz: ZoneInfo
    services: tuple[str, ...]
    announce_before: timedelta | None = None
    announce_to: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.recurrence is None) == (self.cron is None):
            raise ValueError(f"maintenance '{self.name}' needs either a recurrence or a cron expression")
        if self.cron is not None and (self.duration is None or self.duration <= timedelta(0)):
            raise ValueError(f"maintenance '{self.name}' needs a positive duration with its cron expression")

    @classmethod
    def from_spec(cls, window: MaintenanceWindow, project_timezone: str) -> MaintenancePlan:
        """Given a spec window and the project's zone (used when the window names none)."""
        return cls(
            name=window.name,
            recurrence=window.every,
            cron=window.cron,
            duration=window.duration,
            tz=ZoneInfo(window.timezone or project_timezone),
            services=tuple(window.services),
            announce_before=window.announce_before,
            announce_to=tuple(window.announce_to),
        )

    def applies_to(self, service: str | None) -> bool:
        """Whether this plan mutes ``service`` (None: an alert without a service, muted by '*' only)."""
        return "*" in self.services or (service is not None and service in self.services)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at.isoformat()}: pass an aware (UTC) datetime")
    return at.astimezone(UTC)


def _falls_on(recurrence: Recurrence, day: date) -> bool:
    if recurrence.frequency == "daily":
        return True
    if day.weekday() != recurrence.weekday:
        return False
    if recurrence.frequency == "weekly":
        return True
    if recurrence.ordinal == "last":
        return day.day + 7 > calendar.monthrange(day.year, day.month)[1]
    return (day.day - 1) // 7 == ORDINALS.index(recurrence.ordinal or "first")


def _phrase_windows(
    plan: MaintenancePlan, recurrence: Recurrence, start: datetime, end: datetime
) -> list[Window]:
    # A window begins on its local day and ends by the next evening at the latest: two days of look-back.
    day = start.astimezone(plan.tz).date() - timedelta(days=2)
    last = end.astimezone(plan.tz).date()
    crosses_midnight = recurrence.end <= recurrence.start
    found: list[Window] = []
    while day <= last:
        if _falls_on(recurrence, day):
            begins = wall_time_to_utc(datetime.combine(day, recurrence.start), plan.tz)
            end_day = day + timedelta(days=1) if crosses_midnight else day
            ends = wall_time_to_utc(datetime.combine(end_day, recurrence.end), plan.tz)
            found.append(Window(plan.name, begins, ends, plan.services))
        day += timedelta(days=1)
    return found


def _cron_windows(
    plan: MaintenancePlan, cron: str, length: timedelta, start: datetime, end: datetime
) -> list[Window]:
    starts = croniter(cron, (start - length - _CLOCK_CHANGE).astimezone(plan.tz))
    found: list[Window] = []
    latest: datetime | None = None  # the latest wall time seen: clocks going back repeat wall times
    while True:
        local = starts.get_next(datetime)
        begins = local.astimezone(UTC)
        if begins >= end:
            return found
        wall = local.replace(tzinfo=None)
        if latest is not None and wall <= latest:
            continue
        latest = wall
        found.append(Window(plan.name, begins, begins + length, plan.services))


def occurrences(plan: MaintenancePlan, start: datetime, end: datetime) -> list[Window]:
    """Given a range, return in order every occurrence of ``plan`` overlapping [start, end), including one
    already running at ``start``. Raises ValueError for naive datetimes."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        return []
    if plan.recurrence is not None:
        found = _phrase_windows(plan, plan.recurrence, start, end)
    elif plan.cron is not None and plan.duration is not None:
        found = _cron_windows(plan, plan.cron, plan.duration, start, end)
    else:  # pragma: no cover - __post_init__ refuses such a plan
        found = []
    return [w for w in found if w.starts_at < end and w.ends_at > start and w.ends_at > w.starts_at]


def active(plans: Sequence[MaintenancePlan], service: str | None, at: datetime) -> Window | None:
    """Given the plans, a service (None: an alert without one, muted by '*' windows only) and an instant,
    return the window muting it then — the one ending last if several do — or None."""
    at = _utc(at)
    muting = [
        window
        for plan in plans
        if plan.applies_to(service)
        for window in occurrences(plan, at, at + timedelta(microseconds=1))
    ]
    return max(muting, key=lambda w: (w.ends_at, w.name), default=None)


def announcements_due(
    plans: Sequence[MaintenancePlan], since: datetime, until: datetime
) -> list[tuple[MaintenancePlan, Window, datetime]]:
    """Given the plans and a range, return (plan, window, announce time) for each window whose announcement
    (``announce_before`` ahead of its start) falls in [since, until), by announce time. Consecutive ranges
    produce each announcement exactly once."""
    since, until = _utc(since), _utc(until)
    due: list[tuple[MaintenancePlan, Window, datetime]] = []
    for plan in plans:
        ahead = plan.announce_before
        if ahead is None:
            continue
        for window in occurrences(plan, since + ahead, until + ahead):
            announce_at = window.starts_at - ahead
            if since <= announce_at < until:
                due.append((plan, window, announce_at))
    return sorted(due, key=lambda item: (item[2], item[0].name))
