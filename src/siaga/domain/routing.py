"""Choosing the routes an alert follows, and which alerts another alert inhibits.

Matchers read as in Alertmanager: ``name=value``, ``name!=value``, ``name=~regex``, ``name!~regex``; a regex
must match the whole value; a missing label reads as the empty string. On ``severity`` an equality matcher
accepts any name or alias of the level, so ``severity=critical`` matches an alert whose level is SEV-1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from siaga.domain.severity import Ladder

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


class Op(StrEnum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: Op
    value: str
    pattern: re.Pattern[str] | None = field(default=None, compare=False)

    @classmethod
    def of(cls, name: str, op: Op, value: str) -> Matcher:
        pattern = re.compile(value) if op in (Op.RE, Op.NRE) else None
        return cls(name, op, value, pattern)

    def __str__(self) -> str:
        return f'{self.name}{self.op.value}"{self.value}"'

    def matches(self, labels: Mapping[str, str], severity: str | None, ladder: Ladder | None) -> bool:
        actual = labels.get(self.name, "")
        if self.name == "severity" and severity is not None:
            actual = severity
            if self.op in (Op.EQ, Op.NE) and ladder is not None:
                level = ladder.get(self.value)
                equal = (level.name if level else self.value) == severity
                return equal if self.op is Op.EQ else not equal
        if self.op is Op.EQ:
            return actual == self.value
        if self.op is Op.NE:
            return actual != self.value
        found = (self.pattern or re.compile(self.value)).fullmatch(actual) is not None
        return found if self.op is Op.RE else not found


def parse_matcher(text: str) -> Matcher:
    """Given ``name=value`` (or ``!=``, ``=~``, ``!~``; the value may be double-quoted), return a Matcher."""
    found = _MATCHER.match(text)
    if found is None:
        raise ValueError(
            f"'{text}' is not a matcher: write name=value, name!=value, name=~regex or name!~regex"
        )
    name, op, value = found.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    try:
        return Matcher.of(name, Op(op), value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression '{value}' in '{text}': {exc}") from None


def all_match(
    matchers: Sequence[Matcher], labels: Mapping[str, str], severity: str | None, ladder: Ladder | None
) -> bool:
    return all(m.matches(labels, severity, ladder) for m in matchers)


@dataclass(frozen=True, slots=True)
class RouteView:
    """A route as routing reads it; ``index`` is its position in the spec (for dry runs and receipts)."""

    matchers: tuple[Matcher, ...] = ()
    group_by: Sequence[str] | None = None
    notify: tuple[str, ...] = ()
    escalation: str | None = None
    continue_: bool = False
    group_wait: timedelta | None = None
    group_interval: timedelta | None = None
    repeat_interval: timedelta | None = None
    index: int = 0


def matches(route: RouteView, labels: Mapping[str, str], severity: str, ladder: Ladder) -> bool:
    return all_match(route.matchers, labels, severity, ladder)


def select_routes(
    routes: Sequence[RouteView], labels: Mapping[str, str], severity: str, ladder: Ladder
) -> list[RouteView]:
    """The routes an alert follows: the first match, and after it further matches while ``continue`` is set.

    Deterministic: the same routes, labels and severity always give the same list.
    """
    chosen: list[RouteView] = []
    for route in routes:
        if matches(route, labels, severity, ladder):
            chosen.append(route)
            if not route.continue_:
                break
    return chosen


def group_by_for(
    routes: Sequence[RouteView], labels: Mapping[str, str], severity: str, ladder: Ladder
) -> Sequence[str] | None:
    """The ``group_by`` of the first matching route that sets one; None means the default grouping."""
    for route in routes:
        if route.group_by is not None and matches(route, labels, severity, ladder):
            return route.group_by
    return None


@dataclass(frozen=True, slots=True)
class InhibitRule:
    """While an alert matching ``source`` fires, alerts matching ``target`` with equal ``equal`` labels are
    recorded but not paged (Alertmanager's inhibit_rules)."""

    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()


def inhibited(
    rules: Sequence[InhibitRule],
    labels: Mapping[str, str],
    firing: Sequence[Mapping[str, str]],
    severity: str | None = None,
    ladder: Ladder | None = None,
) -> InhibitRule | None:
    """The rule that inhibits an alert with ``labels`` given the other ``firing`` alerts' labels, if any."""
    for rule in rules:
        if not all_match(rule.target, labels, severity, ladder):
            continue
        for source in firing:
            if source is labels or source == labels:
                continue
            if all_match(rule.source, source, None, None) and all(
                source.get(name, "") == labels.get(name, "") for name in rule.equal
            ):
                return rule
    return None


def dependency_rules(depends_on: Mapping[str, Sequence[str]]) -> list[InhibitRule]:
    """While a service has a firing alert, alerts of the services that depend on it (directly or through
    others) are recorded but not paged: the cause pages, its echoes do not."""
    rules: list[InhibitRule] = []
    for child in sorted(depends_on):
        for parent in sorted(_ancestors(child, depends_on)):
            rules.append(
                InhibitRule(
                    source=(Matcher.of("service", Op.EQ, parent),),
                    target=(Matcher.of("service", Op.EQ, child),),
                )
            )
    return rules


def _ancestors(service: str, depends_on: Mapping[str, Sequence[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(depends_on.get(service, ()))
    while todo:
        parent = todo.pop()
        if parent not in seen and parent != service:
            seen.add(parent)
            todo.extend(depends_on.get(parent, ()))
    return seen
