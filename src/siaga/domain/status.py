"""The state of each service, from its checks and its dependencies.

down: a check's alert fires · degraded: a check is failing but has not reached its alert threshold, or
reports degraded · maintenance: inside a maintenance window · impacted: a service it depends on (directly
or further down) is down, whatever its own checks say (their alerts are recorded, not paged) · up: every
check passes · unknown: no check has run yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class ServiceState(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    MAINTENANCE = "maintenance"
    IMPACTED = "impacted"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class CheckView:
    status: str  # siaga.domain.checks.Status value
    alerting: bool


@dataclass(frozen=True, slots=True)
class ServiceView:
    state: ServiceState
    impacted_by: tuple[str, ...] = ()  # the down services this one depends on


def _own_state(checks: Sequence[CheckView]) -> ServiceState:
    if not checks or all(check.status == "unknown" for check in checks):
        return ServiceState.UNKNOWN
    if any(check.alerting for check in checks):
        return ServiceState.DOWN
    if any(check.status in ("down", "degraded") for check in checks):
        return ServiceState.DEGRADED
    return ServiceState.UP


def service_states(
    *,
    depends_on: Mapping[str, Sequence[str]],
    checks: Mapping[str, Sequence[CheckView]],
    in_maintenance: frozenset[str] = frozenset(),
) -> dict[str, ServiceView]:
    """Given each service's dependencies and check views and which services are in maintenance, return
    every service's state (a down dependency anywhere below makes a healthy service impacted)."""
    own = {name: _own_state(checks.get(name, ())) for name in depends_on}
    below = {name: _below(name, depends_on) for name in depends_on}
    # The causes: down services with nothing down beneath them (the others are down because of these).
    causes = {
        name
        for name, state in own.items()
        if state is ServiceState.DOWN and not any(own.get(dep) is ServiceState.DOWN for dep in below[name])
    }
    result: dict[str, ServiceView] = {}
    for name in depends_on:
        if name in in_maintenance:
            result[name] = ServiceView(ServiceState.MAINTENANCE)
            continue
        down = tuple(sorted(below[name] & causes))
        state = own[name]
        if down:  # its own failures are the dependency's, and paged as the dependency's
            state = ServiceState.IMPACTED
        result[name] = ServiceView(state, down)
    return result


def _below(name: str, depends_on: Mapping[str, Sequence[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(depends_on.get(name, ()))
    while stack:
        dep = stack.pop()
        if dep not in seen and dep != name:
            seen.add(dep)
            stack.extend(depends_on.get(dep, ()))
    return seen
