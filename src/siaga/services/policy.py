"""The parts of the spec that incident handling reads, turned into domain objects once per spec load."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from siaga.domain.routing import Matcher, Op, RouteView, parse_matcher
from siaga.domain.severity import Ladder, Level
from siaga.spec import Spec
from siaga.spec.models import Route


@dataclass(frozen=True, slots=True)
class Policy:
    ladder: Ladder
    routes: tuple[RouteView, ...]
    resolve_after: timedelta
    reopen_within: timedelta

    @classmethod
    def from_spec(cls, spec: Spec) -> Policy:
        levels = []
        for rank, severity in enumerate(spec.severities):
            explicit = severity.postmortem
            levels.append(
                Level(
                    name=severity.name,
                    rank=rank,
                    aliases=tuple(severity.aliases),
                    ack_within=severity.ack_within,
                    resolve_within=severity.resolve_within,
                    escalation=severity.escalation,
                    # Unless the spec says otherwise, the two most urgent levels require a post-mortem.
                    postmortem_required=rank < 2 if explicit is None else explicit,
                )
            )
        routes = tuple(route_view(index, route) for index, route in enumerate(spec.routes))
        return cls(
            ladder=Ladder(levels),
            routes=routes,
            resolve_after=spec.project.resolve_after,
            reopen_within=spec.project.reopen_within,
        )


def route_view(index: int, route: Route) -> RouteView:
    matchers = [Matcher.of(name, Op.EQ, value) for name, value in route.match.items()]
    matchers += [Matcher.of(name, Op.RE, pattern) for name, pattern in route.match_re.items()]
    matchers += [parse_matcher(text) for text in route.matchers]
    return RouteView(
        matchers=tuple(matchers),
        group_by=route.group_by,
        notify=tuple(route.notify),
        escalation=route.escalation,
        continue_=route.continue_,
        group_wait=route.group_wait,
        group_interval=route.group_interval,
        repeat_interval=route.repeat_interval,
        index=index,
    )
