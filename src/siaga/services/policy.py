"""The parts of the spec that incident handling reads, turned into domain objects once per spec load."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from siaga.domain import oncall
from siaga.domain.escalation import StepSpec
from siaga.domain.maintenance import MaintenancePlan
from siaga.domain.notifications import Recipient
from siaga.domain.routing import InhibitRule, Matcher, Op, RouteView, dependency_rules, parse_matcher
from siaga.domain.severity import Ladder, Level
from siaga.spec import Spec
from siaga.spec.models import Route


@dataclass(frozen=True, slots=True)
class PagingConfig:
    """Who and what can be paged, read from the spec once per load."""

    project: str
    public_url: str | None = None
    channels: Mapping[str, str] = field(default_factory=dict)  # name → type (slack, email…)
    people: Mapping[str, Recipient] = field(default_factory=dict)
    rotations: Mapping[str, oncall.Rotation] = field(default_factory=dict)
    escalations: Mapping[str, tuple[StepSpec, ...]] = field(default_factory=dict)
    inhibit: tuple[InhibitRule, ...] = ()
    maintenance: tuple[MaintenancePlan, ...] = ()
    fallback_channel: str | None = None

    def channels_for(self, person: Recipient) -> list[str]:
        """The channels that reach ``person``: for each contact method they have, the first channel of that
        kind in the spec (an e-mail channel sends to their address, a Telegram one to their chat, a Slack
        one mentions them)."""
        found = []
        for kind, contact in (
            ("email", person.email),
            ("telegram", person.telegram),
            ("slack", person.slack),
        ):
            if contact:
                channel = next((name for name, type_ in self.channels.items() if type_ == kind), None)
                if channel is not None:
                    found.append(channel)
        return found

    @classmethod
    def from_spec(cls, spec: Spec) -> PagingConfig:
        zone = spec.project.timezone
        dependencies = {name: list(service.depends_on) for name, service in spec.services.items()}
        explicit = [
            InhibitRule(
                source=tuple(parse_matcher(text) for text in rule.source),
                target=tuple(parse_matcher(text) for text in rule.target),
                equal=tuple(rule.equal),
            )
            for rule in spec.inhibit
        ]
        return cls(
            project=spec.project.name,
            public_url=spec.project.public_url,
            channels={name: channel.type for name, channel in spec.channels.items()},
            people={
                name: Recipient(name=name, email=p.email, telegram=p.telegram, slack=p.slack, phone=p.phone)
                for name, p in spec.people.items()
            },
            rotations={
                name: oncall.Rotation.from_spec(name, schedule, zone)
                for name, schedule in spec.schedules.items()
            },
            escalations={
                name: tuple(
                    StepSpec(
                        after=step.after,
                        notify=tuple(step.notify),
                        repeat=step.repeat,
                        repeat_every=step.repeat_every,
                    )
                    for step in policy.steps
                )
                for name, policy in spec.escalations.items()
            },
            inhibit=(*explicit, *dependency_rules(dependencies)),
            maintenance=tuple(MaintenancePlan.from_spec(window, zone) for window in spec.maintenance),
            fallback_channel=spec.project.fallback_channel,
        )


@dataclass(frozen=True, slots=True)
class Policy:
    ladder: Ladder
    routes: tuple[RouteView, ...]
    resolve_after: timedelta
    reopen_within: timedelta
    paging: PagingConfig = field(default_factory=lambda: PagingConfig(project=""))

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
            paging=PagingConfig.from_spec(spec),
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
