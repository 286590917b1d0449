"""The pure parts of the supervisor: backoff on an injected clock, stack.json's shape, judging status.json.

(No I/O: these belong with the unit tests, and live here only because this directory is the stack's.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from siaga.runtime.stack import (
    BackoffPolicy,
    ComponentStatus,
    Health,
    HealthState,
    StackFileError,
    StackStatus,
    State,
    interpret_status,
    parse_stack,
    plan_restart,
    status_to_json,
)

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


class Clock:
    """Monotonic seconds that move only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def test_delay_doubles_from_half_a_second_to_thirty() -> None:
    policy = BackoffPolicy()
    assert [policy.delay(n) for n in range(1, 10)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]


def test_delay_stays_capped_after_any_number_of_failures() -> None:
    assert BackoffPolicy().delay(10_000) == 30


def test_quick_exits_in_a_row_back_off_further_each_time() -> None:
    policy, clock, failures, delays = BackoffPolicy(), Clock(), 0, []
    for _ in range(8):
        started = clock.now
        exited = clock.advance(2)  # up for 2 s each time: well short of reset_after
        restart = plan_restart(policy, failures=failures, started=started, exited=exited)
        delays.append(restart.at - exited)
        failures = restart.failures
        clock.now = restart.at
    assert delays == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert failures == 8


def test_a_process_that_stayed_up_sixty_seconds_starts_over() -> None:
    policy, clock = BackoffPolicy(), Clock()
    started = clock.now
    restart = plan_restart(policy, failures=6, started=started, exited=clock.advance(60))
    assert (restart.failures, restart.at - clock.now) == (1, 0.5)


def test_just_short_of_sixty_seconds_keeps_backing_off() -> None:
    policy, clock = BackoffPolicy(), Clock()
    started = clock.now
    restart = plan_restart(policy, failures=6, started=started, exited=clock.advance(59.9))
    assert (restart.failures, restart.at - clock.now) == (7, 30)


def test_the_policy_is_a_parameter() -> None:
    policy = BackoffPolicy(initial=1, factor=3, maximum=10, reset_after=5)
    assert [policy.delay(n) for n in range(1, 5)] == [1, 3, 9, 10]
    assert plan_restart(policy, failures=3, started=0, exited=5).failures == 1


GOOD = {"name": "node", "argv": ["/usr/bin/node_exporter"], "health_url": "http://127.0.0.1:9100/metrics"}


def test_parse_stack_reads_the_rendered_shape() -> None:
    (component,) = parse_stack({"components": [GOOD]})
    assert component.name == "node"
    assert component.argv == ("/usr/bin/node_exporter",)
    assert parse_stack({"components": []}) == ()


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ([], "one key"),
        ({"components": [], "extra": 1}, "one key"),
        ({"components": [{**GOOD, "extra": 1}]}, "exactly the keys"),
        ({"components": [{**GOOD, "name": "../x"}]}, "name must be"),
        ({"components": [GOOD, GOOD]}, "appears twice"),
        ({"components": [{**GOOD, "argv": []}]}, "argv"),
        ({"components": [{**GOOD, "argv": "/bin/true"}]}, "argv"),
        ({"components": [{**GOOD, "health_url": "127.0.0.1:9100"}]}, "health_url"),
    ],
)
def test_parse_stack_names_what_is_wrong(data: Any, fragment: str) -> None:
    with pytest.raises(StackFileError, match=fragment):
        parse_stack(data)


def written(*, pid: int = 4242, running: bool = True, age: float = 1.0) -> dict[str, Any]:
    component = ComponentStatus(
        "node", State.RUNNING, 777, 2, NOW - timedelta(minutes=5), -9, Health(HealthState.OK, NOW, None)
    )
    return status_to_json(StackStatus(running, pid, NOW - timedelta(seconds=age), (component,)))


def test_a_fresh_status_of_the_live_supervisor_is_believed() -> None:
    status = interpret_status(written(), supervisor_pid=4242, now=NOW)
    assert status.running
    assert status.healthy
    (node,) = status.components
    assert (node.pid, node.restarts, node.last_exit_code, node.uptime(NOW)) == (777, 2, -9, 300)


@pytest.mark.parametrize("alive", [None, 5151], ids=["no supervisor", "another supervisor"])
def test_a_status_its_supervisor_did_not_outlive_reads_not_running(alive: int | None) -> None:
    status = interpret_status(written(), supervisor_pid=alive, now=NOW)
    assert not status.running
    assert not status.healthy
    (node,) = status.components
    assert (node.state, node.pid, node.health.state) == (State.STOPPED, None, HealthState.UNKNOWN)
    assert node.restarts == 2  # history stays readable


def test_a_supervisor_shutting_down_is_not_running() -> None:
    assert not interpret_status(written(running=False), supervisor_pid=4242, now=NOW).running


def test_a_status_not_refreshed_lately_loses_its_health() -> None:
    status = interpret_status(written(age=60), supervisor_pid=4242, now=NOW)
    assert status.running
    assert not status.healthy
    assert status.components[0].health.state is HealthState.UNKNOWN


@pytest.mark.parametrize("data", [None, {}, {"components": [{"name": "x"}]}, {"components": 3}])
def test_an_absent_or_unreadable_status_has_no_components(data: Any) -> None:
    status = interpret_status(data, supervisor_pid=None, now=NOW)
    assert status == StackStatus(False, None, None, ())


def test_a_stack_with_no_components_is_never_healthy() -> None:
    assert not StackStatus(True, 1, NOW, ()).healthy
