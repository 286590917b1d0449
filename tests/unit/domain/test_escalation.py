"""Escalation arithmetic and routing rules: pure functions, on explicit times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siaga.domain import escalation as esc
from siaga.domain.routing import (
    InhibitRule,
    RouteView,
    dependency_rules,
    inhibited,
    parse_matcher,
    select_routes,
)
from siaga.domain.severity import Ladder, Level

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
LADDER = Ladder(
    [
        Level("SEV-1", 0, ("critical", "P1"), 10 * MIN, None, "critical", True),
        Level("SEV-2", 1, ("warning",), None, None, None, True),
        Level("SEV-3", 2, ("info",), None, None, None, False),
    ]
)
LUXIMA = esc.snapshot_of(
    "critical",
    [
        esc.StepSpec(timedelta(0), ("alerts", "pagerduty")),
        esc.StepSpec(10 * MIN, ("oncall:devops",)),
        esc.StepSpec(30 * MIN, ("cto", "management")),
    ],
)


def test_luxima_chain_fires_each_step_at_its_delay() -> None:
    state = esc.restart(T0)
    fired, state = esc.next_step(LUXIMA, state, T0)
    assert [(f.step, f.targets) for f in fired] == [(0, ("alerts", "pagerduty"))]
    assert esc.next_due_at(LUXIMA, state) == T0 + 10 * MIN
    assert esc.next_step(LUXIMA, state, T0 + 9 * MIN)[0] == []
    fired, state = esc.next_step(LUXIMA, state, T0 + 10 * MIN)
    assert [f.targets for f in fired] == [("oncall:devops",)]
    fired, state = esc.next_step(LUXIMA, state, T0 + 45 * MIN)
    assert [f.targets for f in fired] == [("cto", "management")]
    assert esc.next_due_at(LUXIMA, state) is None


def test_acknowledgement_stops_and_unack_resumes_with_the_remaining_delay() -> None:
    _, state = esc.next_step(LUXIMA, esc.restart(T0), T0)
    state = esc.pause(state, T0 + 5 * MIN)
    assert esc.next_step(LUXIMA, state, T0 + 60 * MIN) == ([], state)
    assert esc.next_due_at(LUXIMA, state) is None
    state = esc.resume(state, T0 + 20 * MIN)  # 15 minutes acknowledged: step 2 moves from 10m to 25m
    assert esc.next_due_at(LUXIMA, state) == T0 + 25 * MIN


def test_missed_ack_target_fires_the_next_step_at_once_and_keeps_later_times() -> None:
    _, state = esc.next_step(LUXIMA, esc.restart(T0), T0)
    fired, state = esc.next_step(LUXIMA, state, T0 + 3 * MIN, ack_breached=True)
    assert [(f.step, f.due_at) for f in fired] == [(1, T0 + 3 * MIN)]
    assert esc.next_due_at(LUXIMA, state) == T0 + 30 * MIN


def test_repeats_and_route_targets_join_the_schedule() -> None:
    snapshot = esc.snapshot_of(
        "p", [esc.StepSpec(5 * MIN, ("ops",), repeat=2, repeat_every=2 * MIN)], ["slack"], group_wait=MIN
    )
    times = [(f.step, f.repeat, f.due_at - T0) for f in esc.schedule(snapshot, T0)]
    assert times == [(0, 0, MIN), (1, 0, 5 * MIN), (1, 1, 7 * MIN), (1, 2, 9 * MIN)]
    assert esc.Snapshot.from_json(snapshot.to_json()) == snapshot


def test_repeat_interval_renotifies_route_targets_until_acknowledged() -> None:
    snapshot = esc.snapshot_of(
        "p", [esc.StepSpec(10 * MIN, ("oncall",))], ["slack"], repeat_interval=4 * 60 * MIN
    )
    fires = esc.schedule(snapshot, T0)
    slack = [f.due_at - T0 for f in fires if f.targets == ("slack",)]
    assert slack[:3] == [timedelta(0), 4 * 60 * MIN, 8 * 60 * MIN]
    assert slack[-1] <= esc.REPEAT_HORIZON
    _, state = esc.next_step(snapshot, esc.restart(T0), T0 + 11 * MIN)
    state = esc.pause(state, T0 + 12 * MIN)
    assert esc.next_step(snapshot, state, T0 + 30 * 60 * MIN)[0] == []


@given(
    delays=st.lists(st.integers(min_value=0, max_value=120), min_size=1, max_size=6),
    repeats=st.lists(st.integers(min_value=0, max_value=3), min_size=6, max_size=6),
    ticks=st.lists(st.integers(min_value=0, max_value=400), max_size=30),
)
def test_steps_fire_in_order_once_each_and_never_early(
    delays: list[int], repeats: list[int], ticks: list[int]
) -> None:
    steps = [
        esc.StepSpec(timedelta(minutes=d), (f"t{i}",), repeat=repeats[i], repeat_every=3 * MIN)
        for i, d in enumerate(sorted(delays))
    ]
    snapshot = esc.snapshot_of("p", steps)
    state = esc.restart(T0)
    seen: list[esc.Fire] = []
    for tick in [*sorted(ticks), 10_000]:
        now = T0 + timedelta(minutes=tick)
        fired, state = esc.next_step(snapshot, state, now)
        assert all(fire.due_at <= now for fire in fired)
        seen += fired
    assert seen == esc.schedule(snapshot, T0)  # all of them, in schedule order, none twice
    assert [(f.due_at, f.step) for f in seen] == sorted((f.due_at, f.step) for f in seen)


# -- routing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("team=core", {"team": "core"}, True),
        ('team="core"', {"team": "web"}, False),
        ("env!=staging", {"env": "production"}, True),
        ("env!=staging", {}, True),
        ("instance=~db-[0-9]+", {"instance": "db-12"}, True),
        ("instance=~db-[0-9]+", {"instance": "xdb-12"}, False),  # the whole value must match
        ("instance!~db-.*", {"instance": "web-1"}, True),
        ("severity=critical", {}, True),  # an alias of the incident's level SEV-1
        ("severity!=warning", {}, True),
    ],
)
def test_matchers_read_like_alertmanager(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_matcher(text).matches(labels, "SEV-1", LADDER) is expected


@pytest.mark.parametrize("bad", ["team", "=x", "team~x", "1team=x", "team=~(unclosed"])
def test_bad_matchers_are_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(ValueError, match=r"matcher|regular expression"):
        parse_matcher(bad)


ROUTES = [
    RouteView(matchers=(parse_matcher("category=security"),), notify=("security-alerts",), continue_=True),
    RouteView(matchers=(parse_matcher("severity=SEV-1"),), escalation="critical", index=1),
    RouteView(matchers=(parse_matcher("severity=SEV-2"),), escalation="standard", index=2),
    RouteView(notify=("management",), index=3),
]


def test_first_match_wins_and_continue_keeps_going() -> None:
    chosen = select_routes(ROUTES, {"category": "security"}, "SEV-1", LADDER)
    assert [r.notify or r.escalation for r in chosen] == [("security-alerts",), "critical"]
    assert select_routes(ROUTES, {}, "SEV-3", LADDER) == [ROUTES[3]]


label_values = st.sampled_from(["", "core", "security", "db-1", "web"])


@given(
    labels=st.dictionaries(st.sampled_from(["category", "team", "instance"]), label_values, max_size=3),
    severity=st.sampled_from(["SEV-1", "SEV-2", "SEV-3"]),
)
def test_routing_is_deterministic_and_always_ends_at_a_catch_all(
    labels: dict[str, str], severity: str
) -> None:
    first = select_routes(ROUTES, labels, severity, LADDER)
    assert first == select_routes(ROUTES, dict(reversed(list(labels.items()))), severity, LADDER)
    assert first  # the last route matches everything
    assert all(r.continue_ for r in first[:-1])


def test_dependency_inhibits_children_while_the_parent_has_an_open_alert() -> None:
    rules = dependency_rules({"auth-api": ["database"], "web": ["auth-api"], "database": []})
    database_down = [{"alertname": "DatabaseDown", "service": "database"}]
    assert inhibited(rules, {"service": "auth-api"}, database_down) is not None
    assert inhibited(rules, {"service": "web"}, database_down) is not None  # through auth-api
    assert inhibited(rules, {"service": "database"}, database_down) is None
    assert inhibited(rules, {"service": "auth-api"}, []) is None


def test_explicit_inhibit_rule_needs_equal_labels() -> None:
    rule = InhibitRule(
        source=(parse_matcher("alertname=NodeDown"),),
        target=(parse_matcher("severity=warning"),),
        equal=("node",),
    )
    source = [{"alertname": "NodeDown", "node": "n1"}]
    assert inhibited([rule], {"severity": "warning", "node": "n1"}, source) is rule
    assert inhibited([rule], {"severity": "warning", "node": "n2"}, source) is None
