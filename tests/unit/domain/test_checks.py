"""The pure parts of checks: conditions, verdicts, alert thresholds, `for:`, the fixed-rate grid, heartbeats,
rules and service states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siaga.domain import checks, rules
from siaga.domain.checks import CheckState, Heartbeat, Status, Thresholds, Verdict, advance, judge
from siaga.domain.conditions import ConditionError, compile_condition
from siaga.domain.status import CheckView, ServiceState, service_states

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
DOWN = Verdict(Status.DOWN, "boom")
UP = Verdict(Status.UP)


def test_conditions_compile_once_and_name_their_variables() -> None:
    condition = compile_condition('disk["/"].percent > 90.0 && records.exists(r, r == "10.0.0.1")')
    assert condition.variables == {"disk", "records"}  # `r` is bound by the macro
    assert condition is compile_condition('disk["/"].percent > 90.0 && records.exists(r, r == "10.0.0.1")')


def test_a_condition_that_cannot_be_evaluated_does_not_hold_and_says_why() -> None:
    verdict = compile_condition("json.status == 'UP'").evaluate({"json": None})
    assert not verdict.holds
    assert verdict.error
    assert compile_condition("status").evaluate({"status": 200}).error == "yields int, not a boolean"


def test_a_syntax_error_names_the_column() -> None:
    with pytest.raises(ConditionError, match="at column 10"):
        compile_condition("status ==")


def test_judge_reports_the_first_failed_expectation_with_the_values_seen() -> None:
    variables = {"status": 500, "latency": timedelta(milliseconds=120)}
    verdict = judge(
        reached=True,
        error=None,
        variables=variables,
        expect=["status == 200", 'latency < duration("3s")'],
        degraded_if=[],
    )
    assert verdict == Verdict(Status.DOWN, "expected status == 200; status=500")
    slow = judge(
        reached=True,
        error=None,
        variables={"status": 200, "latency": timedelta(milliseconds=1500)},
        expect=["status == 200"],
        degraded_if=['latency > duration("1s")'],
    )
    assert slow == Verdict(Status.DEGRADED, 'latency > duration("1s"); latency=1500ms')
    unreached = judge(reached=False, error="connection refused", variables={}, expect=[], degraded_if=[])
    assert unreached == Verdict(Status.DOWN, "connection refused")


def test_failures_before_alert_then_successes_before_resolve() -> None:
    thresholds = Thresholds(failures_before_alert=3, successes_before_resolve=2)
    state = CheckState()
    fired = []
    for i, verdict in enumerate([DOWN, DOWN, UP, DOWN, DOWN, DOWN, DOWN, UP, UP, UP]):
        step = advance(state, verdict, T0 + i * MINUTE, thresholds)
        state = step.state
        fired.append("F" if step.fire else "R" if step.resolve else ".")
    assert "".join(fired) == ".....F..R."  # the success at 2 resets the count


def test_for_delays_the_alert_until_the_check_has_failed_that_long() -> None:
    thresholds = Thresholds(for_=timedelta(minutes=5))
    state = CheckState()
    steps = []
    for minutes in (0, 4, 5, 6):
        step = advance(state, DOWN, T0 + timedelta(minutes=minutes), thresholds)
        state = step.state
        steps.append(step.fire)
    assert steps == [False, False, True, False]
    assert state.failing_since == T0


def test_degraded_passes_for_alerting() -> None:
    step = advance(
        CheckState(alerting=True, status=Status.DOWN), Verdict(Status.DEGRADED, "slow"), T0, Thresholds()
    )
    assert step.resolve
    assert step.state.status is Status.DEGRADED


@given(
    every_s=st.integers(min_value=1, max_value=86400),
    offset_s=st.floats(min_value=0, max_value=10**7, allow_nan=False),
    key=st.text(min_size=1, max_size=20),
)
def test_the_grid_is_fixed_rate_and_strictly_after(every_s: int, offset_s: float, key: str) -> None:
    every = timedelta(seconds=every_s)
    after = T0 + timedelta(seconds=offset_s)
    first = checks.next_run(key, every, after)
    assert after < first <= after + every
    assert checks.next_run(key, every, first) == first + every  # no drift: the next slot is one interval on
    assert checks.next_run(key, every, first - timedelta(microseconds=1)) == first


def test_first_runs_spread_across_the_interval() -> None:
    every = timedelta(minutes=1)
    offsets = sorted(checks.phase(f"svc/check-{i}", every).total_seconds() for i in range(1000))
    buckets = [0] * 6
    for offset in offsets:
        buckets[int(offset // 10)] += 1
    assert min(buckets) > 120  # ~167 per 10 s slice, not all at :00
    assert checks.phase("svc/check-1", every) == checks.phase("svc/check-1", every)


def test_heartbeat_late_fail_and_start() -> None:
    expects = Heartbeat(period=timedelta(days=1), grace=timedelta(hours=1))
    ok, variables = checks.heartbeat_verdict(
        expects,
        last_ping_at=T0,
        last_kind="success",
        watching_since=T0,
        now=T0 + timedelta(hours=24, minutes=59),
    )
    assert ok.status is Status.UP
    assert variables["last_ping_age"] == timedelta(hours=24, minutes=59)
    late, _ = checks.heartbeat_verdict(
        expects,
        last_ping_at=T0,
        last_kind="success",
        watching_since=T0,
        now=T0 + timedelta(hours=25, seconds=1),
    )
    assert late.status is Status.DOWN
    assert "one was due by 2026-11-03 09:00:00 UTC" in str(late.reason)
    failed, _ = checks.heartbeat_verdict(
        expects, last_ping_at=T0, last_kind="fail", watching_since=T0, now=T0
    )
    assert failed.status is Status.DOWN
    started, _ = checks.heartbeat_verdict(
        expects, last_ping_at=T0, last_kind="start", watching_since=T0, now=T0 + timedelta(minutes=61)
    )
    assert "has not reported success within 1h" in str(started.reason)


def test_heartbeat_on_a_cron_schedule_in_the_project_zone() -> None:
    # Daily at 02:00 Jakarta (19:00 UTC the day before), one hour of grace.
    expects = Heartbeat(cron="0 2 * * *", grace=timedelta(hours=1), zone="Asia/Jakarta")
    last = datetime(2026, 11, 1, 19, 5, tzinfo=UTC)  # 02:05 WIB on the 2nd
    on_time, _ = checks.heartbeat_verdict(
        expects,
        last_ping_at=last,
        last_kind="success",
        watching_since=last,
        now=datetime(2026, 11, 2, 19, 59, tzinfo=UTC),
    )
    late, _ = checks.heartbeat_verdict(
        expects,
        last_ping_at=last,
        last_kind="success",
        watching_since=last,
        now=datetime(2026, 11, 2, 20, 1, tzinfo=UTC),
    )
    assert (on_time.status, late.status) == (Status.UP, Status.DOWN)


def test_rules_pend_fire_and_resolve_like_prometheus() -> None:
    state = rules.RuleState()
    trace = []
    for minute, holds in [(0, True), (5, True), (10, True), (11, True), (12, False), (13, True)]:
        step = rules.evaluate(state, holds, T0 + timedelta(minutes=minute), timedelta(minutes=10))
        state = step.state
        trace.append("F" if step.fire else "R" if step.resolve else "p" if state.active_since else ".")
    assert "".join(trace) == "ppFpRp"
    assert rules.evaluate(rules.RuleState(), True, T0, timedelta(0)).fire  # for: 0 fires at once


def test_service_states_show_impact_down_the_dependency_tree() -> None:
    views = service_states(
        depends_on={"db": [], "api": ["db"], "web": ["api"], "docs": [], "new": []},
        checks={
            "db": [CheckView("down", True)],
            "api": [CheckView("down", True)],
            "web": [CheckView("up", False)],
            "docs": [CheckView("degraded", False)],
        },
        in_maintenance=frozenset({"docs"}),
    )
    assert {name: view.state for name, view in views.items()} == {
        "db": ServiceState.DOWN,
        "api": ServiceState.IMPACTED,
        "web": ServiceState.IMPACTED,
        "docs": ServiceState.MAINTENANCE,
        "new": ServiceState.UNKNOWN,
    }
    assert views["web"].impacted_by == ("db",)  # api is impacted, not down itself
