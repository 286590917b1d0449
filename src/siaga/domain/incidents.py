"""Incident life cycle: which transitions are allowed, when targets fall due, when an incident breaches or
auto-resolves. Functions of (state, ``now``) returning decisions; the services layer records them.

Errors::

    IncidentError
    └── InvalidTransition   the action does not apply to the incident's current status
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from siaga.domain.severity import Level


class Status(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    UNACKNOWLEDGE = "unacknowledge"
    RESOLVE = "resolve"
    REOPEN = "reopen"


class IncidentError(Exception):
    """Base of incident rule violations."""


class InvalidTransition(IncidentError):
    def __init__(self, action: Action, status: Status) -> None:
        super().__init__(f"cannot {action.value} an incident that is {status.value}")
        self.action = action
        self.status = status


_TRANSITIONS: dict[tuple[Status, Action], Status] = {
    (Status.TRIGGERED, Action.ACKNOWLEDGE): Status.ACKNOWLEDGED,
    (Status.TRIGGERED, Action.RESOLVE): Status.RESOLVED,
    (Status.ACKNOWLEDGED, Action.UNACKNOWLEDGE): Status.TRIGGERED,
    (Status.ACKNOWLEDGED, Action.RESOLVE): Status.RESOLVED,
    (Status.RESOLVED, Action.REOPEN): Status.TRIGGERED,
}


def transition(status: Status, action: Action) -> Status:
    """Return the status ``action`` leads to; raise InvalidTransition when it does not apply."""
    try:
        return _TRANSITIONS[(status, action)]
    except KeyError:
        raise InvalidTransition(action, status) from None


@dataclass(frozen=True, slots=True)
class Targets:
    ack_due_at: datetime | None
    resolve_due_at: datetime | None


def targets(level: Level, since: datetime) -> Targets:
    """Response targets of a level for an incident (re)opened at ``since``."""
    return Targets(
        ack_due_at=since + level.ack_within if level.ack_within else None,
        resolve_due_at=since + level.resolve_within if level.resolve_within else None,
    )


class Breach(StrEnum):
    ACK = "ack"
    RESOLVE = "resolve"


@dataclass(frozen=True, slots=True)
class Clocks:
    """The parts of an incident that breach decisions read."""

    status: Status
    ack_due_at: datetime | None
    resolve_due_at: datetime | None
    ack_breached_at: datetime | None
    resolve_breached_at: datetime | None


def new_breaches(clocks: Clocks, now: datetime) -> list[Breach]:
    """Targets that have passed at ``now`` and are not yet recorded as breached."""
    found: list[Breach] = []
    if clocks.status is Status.RESOLVED:
        return found
    if (
        clocks.status is Status.TRIGGERED
        and clocks.ack_due_at is not None
        and clocks.ack_breached_at is None
        and now >= clocks.ack_due_at
    ):
        found.append(Breach.ACK)
    if (
        clocks.resolve_due_at is not None
        and clocks.resolve_breached_at is None
        and now >= clocks.resolve_due_at
    ):
        found.append(Breach.RESOLVE)
    return found


def auto_resolve_due(alerts_resolved_at: datetime | None, resolve_after: timedelta, now: datetime) -> bool:
    """True when every alert has stayed resolved for ``resolve_after``."""
    return alerts_resolved_at is not None and now - alerts_resolved_at >= resolve_after


def should_reopen(resolved_at: datetime | None, reopen_within: timedelta, now: datetime) -> bool:
    """A firing alert for a recently resolved incident reopens it rather than opening a second one."""
    return resolved_at is not None and now - resolved_at < reopen_within


def postmortem_required_for(levels: Iterable[Level], explicit: dict[str, bool | None]) -> dict[str, bool]:
    """Levels whose incidents need a post-mortem: as the spec says, else the two most urgent."""
    required: dict[str, bool] = {}
    for level in levels:
        flag = explicit.get(level.name)
        required[level.name] = level.rank < 2 if flag is None else flag
    return required


def mean_seconds(durations: Iterable[timedelta]) -> float | None:
    values = [d.total_seconds() for d in durations]
    return sum(values) / len(values) if values else None
