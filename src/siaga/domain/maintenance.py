"""Maintenance windows as calendar arithmetic: occurrences, the window muting a service, announcements due.

Phrases ("first sunday of month 02:00-04:00") and cron starts are read in the window's own time zone, so a
window stays at 02:00 local across daylight-saving changes; results are UTC.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from siaga.spec.calendar import ORDINALS, Recurrence
from siaga.spec.models import MaintenanceWindow


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
    name: str
    recurrence: Recurrence | None
    cron: str | None
    duration: timedelta | None
    tz: ZoneInfo
    services: tuple[str, ...]
    announce_before: timedelta | None = None
    announce_to: tuple[str, ...] = ()

    @classmethod
    def from_spec(cls, window: MaintenanceWindow, project_timezone: str) -> MaintenancePlan:
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

    @property
    def longest(self) -> timedelta:
        """An upper bound of one occurrence's length (to look back far enough for running windows)."""
        if self.duration is not None:
            return self.duration
        return timedelta(days=1)

    def applies_to(self, service: str | None) -> bool:
        return "*" in self.services or (service is not None and service in self.services)


def _on_day(recurrence: Recurrence, day: date) -> bool:
    if recurrence.frequency == "daily":
        return True
    if day.weekday() != recurrence.weekday:
        return False
    if recurrence.frequency == "weekly":
        return True
    if recurrence.ordinal == "last":
        return day.day + 7 > calendar.monthrange(day.year, day.month)[1]
    return (day.day - 1) // 7 == ORDINALS.index(recurrence.ordinal or "first")


def _local(day: date, clock: object, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=tz)  # type: ignore[arg-type]


def occurrences(plan: MaintenancePlan, start: datetime, end: datetime) -> list[Window]:
    """Every occurrence of ``plan`` overlapping [start, end), including one already running at ``start``."""
    found: list[Window] = []
    from_ = start - plan.longest
    if plan.recurrence is not None:
        rec = plan.recurrence
        day = from_.astimezone(plan.tz).date() - timedelta(days=1)
        last = end.astimezone(plan.tz).date() + timedelta(days=1)
        while day <= last:
            if _on_day(rec, day):
                begins = _local(day, rec.start, plan.tz)
                ends = _local(day + timedelta(days=1) if rec.end <= rec.start else day, rec.end, plan.tz)
                found.append(
                    Window(
                        plan.name,
                        begins.astimezone(start.tzinfo),
                        ends.astimezone(start.tzinfo),
                        plan.services,
                    )
                )
            day += timedelta(days=1)
    elif plan.cron is not None and plan.duration is not None:
        times = croniter(plan.cron, from_.astimezone(plan.tz) - timedelta(minutes=1))
        while True:
            begins = times.get_next(datetime)
            if begins >= end:
                break
            found.append(
                Window(
                    plan.name,
                    begins.astimezone(start.tzinfo),
                    (begins + plan.duration).astimezone(start.tzinfo),
                    plan.services,
                )
            )
    return [w for w in found if w.ends_at > start and w.starts_at < end]


def active(plans: Sequence[MaintenancePlan], service: str | None, at: datetime) -> Window | None:
    """The window muting ``service`` at ``at`` (``'*'`` windows mute everything, also alerts without a
    service), or None."""
    for plan in plans:
        if plan.applies_to(service):
            for window in occurrences(plan, at, at + timedelta(microseconds=1)):
                if window.covers(at):
                    return window
    return None


def announcements_due(
    plans: Sequence[MaintenancePlan], since: datetime, until: datetime
) -> list[tuple[MaintenancePlan, Window, datetime]]:
    """(plan, window, announce time) for each announcement falling in [since, until): calling this with
    consecutive intervals yields each announcement exactly once."""
    due: list[tuple[MaintenancePlan, Window, datetime]] = []
    for plan in plans:
        if plan.announce_before is None:
            continue
        ahead = plan.announce_before
        for window in occurrences(plan, since + ahead, until + ahead):
            at = window.starts_at - ahead
            if since <= at < until:
                due.append((plan, window, at))
    return sorted(due, key=lambda item: item[2])
