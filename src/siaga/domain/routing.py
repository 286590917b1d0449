"""Choosing the route an alert follows. Matching here is label equality; the paging issue widens it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from siaga.domain.severity import Ladder


@dataclass(frozen=True, slots=True)
class RouteView:
    """What grouping needs to know of a route."""

    match: Mapping[str, str]
    group_by: Sequence[str] | None


def matches(route: RouteView, labels: Mapping[str, str], severity: str, ladder: Ladder) -> bool:
    for name, wanted in route.match.items():
        if name == "severity":
            level = ladder.get(wanted)
            if level is None or level.name != severity:
                return False
        elif labels.get(name) != wanted:
            return False
    return True


def group_by_for(
    routes: Sequence[RouteView], labels: Mapping[str, str], severity: str, ladder: Ladder
) -> Sequence[str] | None:
    """The ``group_by`` of the first matching route that sets one; None means the default grouping."""
    for route in routes:
        if route.group_by is not None and matches(route, labels, severity, ladder):
            return route.group_by
    return None
