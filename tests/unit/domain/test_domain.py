"""Pure domain rules: fingerprints, grouping, the severity ladder, transitions, targets, breaches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siaga.domain import alerts, incidents
from siaga.domain.incidents import Action, Breach, Clocks, InvalidTransition, Status
from siaga.domain.routing import RouteView, group_by_for, parse_matcher
from siaga.domain.severity import Ladder, Level

T0 = datetime(2026, 3, 1, tzinfo=UTC)
LADDER = Ladder(
    [
        Level(
            "SEV-1",
            0,
            ("critical", "P1"),
            timedelta(minutes=10),
            timedelta(hours=4),
            postmortem_required=True,
        ),
        Level("SEV-2", 1, ("warning",), timedelta(hours=1)),
        Level("SEV-3", 2, ("info",)),
    ]
)
labels_st = st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=6)


@given(labels_st)
def test_fingerprint_ignores_label_order(labels: dict[str, str]) -> None:
    reordered = dict(reversed(list(labels.items())))
    assert alerts.fingerprint(labels) == alerts.fingerprint(reordered)
    assert len(alerts.fingerprint(labels)) == 16


def test_fingerprint_separates_names_from_values() -> None:
    assert alerts.fingerprint({"ab": "c"}) != alerts.fingerprint({"a": "bc"})


def test_group_key_defaults_to_service_and_alertname() -> None:
    a = {"alertname": "Down", "service": "db", "instance": "1"}
    b = {"alertname": "Down", "service": "db", "instance": "2"}
    assert alerts.group_key(a, None) == alerts.group_key(b, None) == "{service=db,alertname=Down}"
    assert (
        alerts.group_key({"alertname": "Down", "service_name": "db"}, None) == "{service=db,alertname=Down}"
    )
    assert alerts.group_key(a, ["instance"]) != alerts.group_key(b, ["instance"])
    assert alerts.group_key(a, ["..."]) == alerts.group_key({"x": "y"}, ["..."])


def test_title_prefers_summary() -> None:
    assert alerts.title_of({"alertname": "Down"}, {"summary": "DB down"}) == "DB down"
    assert alerts.title_of({"alertname": "Down", "service": "db"}, {}) == "Down on db"


def test_ladder_resolves_aliases_case_insensitively_and_falls_back() -> None:
    assert LADDER.resolve("CRITICAL").level.name == "SEV-1"
    assert LADDER.resolve("p1").known
    unknown = LADDER.resolve("catastrophic")
    assert (unknown.level.name, unknown.known) == ("SEV-3", False)
    assert LADDER.resolve(None).known is False
    assert LADDER.more_urgent("SEV-2", "SEV-1") == "SEV-1"


@pytest.mark.parametrize(
    ("status", "action", "result"),
    [
        (Status.TRIGGERED, Action.ACKNOWLEDGE, Status.ACKNOWLEDGED),
        (Status.TRIGGERED, Action.RESOLVE, Status.RESOLVED),
        (Status.ACKNOWLEDGED, Action.RESOLVE, Status.RESOLVED),
        (Status.ACKNOWLEDGED, Action.UNACKNOWLEDGE, Status.TRIGGERED),
        (Status.RESOLVED, Action.REOPEN, Status.TRIGGERED),
    ],
)
def test_allowed_transitions(status: Status, action: Action, result: Status) -> None:
    assert incidents.transition(status, action) is result


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (Status.ACKNOWLEDGED, Action.ACKNOWLEDGE),
        (Status.RESOLVED, Action.ACKNOWLEDGE),
        (Status.RESOLVED, Action.RESOLVE),
        (Status.TRIGGERED, Action.REOPEN),
        (Status.TRIGGERED, Action.UNACKNOWLEDGE),
    ],
)
def test_refused_transitions(status: Status, action: Action) -> None:
    with pytest.raises(InvalidTransition, match=f"cannot {action.value} an incident that is {status.value}"):
        incidents.transition(status, action)


def test_targets_follow_the_level() -> None:
    sev1 = incidents.targets(LADDER.levels[0], T0)
    assert (sev1.ack_due_at, sev1.resolve_due_at) == (T0 + timedelta(minutes=10), T0 + timedelta(hours=4))
    sev3 = incidents.targets(LADDER.levels[2], T0)
    assert (sev3.ack_due_at, sev3.resolve_due_at) == (None, None)


def clocks(status: Status, **kw: datetime | None) -> Clocks:
    base: dict[str, datetime | None] = {
        "ack_due_at": T0 + timedelta(minutes=10),
        "resolve_due_at": T0 + timedelta(hours=4),
        "ack_breached_at": None,
        "resolve_breached_at": None,
    }
    base.update(kw)
    return Clocks(status=status, **base)


def test_breaches_at_the_due_instant_and_only_once() -> None:
    assert incidents.new_breaches(clocks(Status.TRIGGERED), T0 + timedelta(minutes=9, seconds=59)) == []
    assert incidents.new_breaches(clocks(Status.TRIGGERED), T0 + timedelta(minutes=10)) == [Breach.ACK]
    recorded = clocks(Status.TRIGGERED, ack_breached_at=T0 + timedelta(minutes=10))
    assert incidents.new_breaches(recorded, T0 + timedelta(minutes=11)) == []
    assert incidents.new_breaches(clocks(Status.ACKNOWLEDGED), T0 + timedelta(hours=5)) == [Breach.RESOLVE]
    assert incidents.new_breaches(clocks(Status.RESOLVED), T0 + timedelta(hours=5)) == []


@given(st.integers(min_value=0, max_value=10_000))
def test_auto_resolve_exactly_after_quiet_period(seconds: int) -> None:
    quiet = timedelta(minutes=5)
    due = incidents.auto_resolve_due(T0, quiet, T0 + timedelta(seconds=seconds))
    assert due is (seconds >= 300)
    assert incidents.auto_resolve_due(None, quiet, T0 + timedelta(days=1)) is False


def test_route_group_by_first_match_wins() -> None:
    routes = [
        RouteView(matchers=(parse_matcher("team=core"),), group_by=["alertname"]),
        RouteView(matchers=(parse_matcher("severity=critical"),), group_by=["service"]),
        RouteView(group_by=None),
    ]
    assert group_by_for(routes, {"team": "core"}, "SEV-1", LADDER) == ["alertname"]
    assert group_by_for(routes, {"team": "web"}, "SEV-1", LADDER) == ["service"]
    assert group_by_for(routes, {"team": "web"}, "SEV-2", LADDER) is None
