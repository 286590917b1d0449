"""On-call questions and changes: who is on call, the shifts of a schedule, overrides, the iCal feed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from siaga.domain import oncall
from siaga.integrations.ical import schedule_ical
from siaga.services.incidents import InvalidInput, NotFound
from siaga.services.paging import override_of
from siaga.services.policy import Policy
from siaga.services.ports import Store, UnitOfWork


class OverrideNotFound(NotFound):
    def __init__(self, override_id: int) -> None:
        Exception.__init__(self, f"override {override_id} not found")
        self.incident_id = 0


class ScheduleNotFound(NotFound):
    def __init__(self, name: str) -> None:
        Exception.__init__(self, f"schedule '{name}' not found")
        self.incident_id = 0


def _rotation(policy: Policy, schedule: str) -> oncall.Rotation:
    rotation = policy.paging.rotations.get(schedule)
    if rotation is None:
        raise ScheduleNotFound(schedule)
    return rotation


def _overrides(store: Store, schedule: str, start: datetime, end: datetime) -> list[oncall.Override]:
    return [override_of(row) for row in store.overrides(schedule, start, end)]


def _shift(shift: oncall.Shift) -> dict[str, Any]:
    return {
        "person": shift.person,
        "starts_at": shift.starts_at,
        "ends_at": shift.ends_at,
        "override": shift.override,
    }


def now_and_next(*, uow: UnitOfWork, policy: Policy, schedule: str, at: datetime) -> dict[str, Any]:
    rotation = _rotation(policy, schedule)
    with uow.read() as store:
        overrides = _overrides(store, schedule, at - timedelta(days=1), at + timedelta(days=90))
    current = oncall.on_call(rotation, overrides, at)
    following = oncall.next_handoff(rotation, overrides, at)
    return {"schedule": schedule, "at": at, "on_call": _shift(current), "next": _shift(following)}


def shifts(
    *, uow: UnitOfWork, policy: Policy, schedule: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    if end <= start:
        raise InvalidInput("'to' must be after 'from'")
    if end - start > timedelta(days=366):
        raise InvalidInput("at most one year of shifts at a time")
    rotation = _rotation(policy, schedule)
    with uow.read() as store:
        overrides = _overrides(store, schedule, start, end)
    return [_shift(shift) for shift in oncall.shifts(rotation, overrides, start, end)]


def add_override(
    *,
    uow: UnitOfWork,
    policy: Policy,
    schedule: str,
    person: str,
    starts_at: datetime,
    ends_at: datetime,
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    _rotation(policy, schedule)
    if person not in policy.paging.people:
        known = ", ".join(sorted(policy.paging.people)) or "none"
        raise InvalidInput(f"unknown person '{person}' (people: {known})")
    if ends_at <= starts_at:
        raise InvalidInput("the override must end after it starts")
    if ends_at <= now:
        raise InvalidInput("the override ends in the past")
    values = {
        "schedule": schedule,
        "person": person,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "created_by": actor,
        "created_at": now,
    }
    with uow.transaction() as store:
        override_id = store.insert_override(values)
    return {"id": override_id, **values}


def remove_override(*, uow: UnitOfWork, override_id: int) -> None:
    with uow.transaction() as store:
        if not store.delete_override(override_id):
            raise OverrideNotFound(override_id)


def ical(*, uow: UnitOfWork, policy: Policy, schedule: str, now: datetime) -> bytes:
    """Shifts from about 30 days back to 90 days ahead, as an iCalendar feed. The range starts and ends on
    hand-offs, so each shift keeps the same UID from one fetch to the next."""
    rotation = _rotation(policy, schedule)
    start = rotation.boundary(rotation.index_at(now - timedelta(days=30)))
    end = rotation.boundary(rotation.index_at(now + timedelta(days=90)) + 1)
    with uow.read() as store:
        overrides = _overrides(store, schedule, start, end)
    found = oncall.shifts(rotation, overrides, start, end)
    return schedule_ical(schedule, found, project=policy.paging.project, generated_at=now)
