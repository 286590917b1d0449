"""The supervisor on real processes: Debian's Prometheus and exporters, shells that crash, SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from siaga.runtime import stack
from tests.integration.servers import wait_until
from tests.integration.stack.conftest import (
    blackbox,
    by_name,
    crasher,
    gone,
    healthy,
    node,
    prometheus,
    wait_for,
    write_stack,
)


def pids(status: stack.StackStatus) -> dict[str, int]:
    return {c.name: c.pid for c in status.components if c.pid is not None}


def test_up_runs_every_component_healthy(stack_dir: Path) -> None:
    exporter = node()
    write_stack(stack_dir, prometheus(stack_dir, exporter), blackbox(stack_dir), exporter)

    pid = stack.up(stack_dir)

    assert stack.running_pid(stack_dir) == pid
    assert (stack_dir / "supervisor.pid").read_text().strip() == str(pid)
    status = wait_for(stack_dir, healthy, "every component healthy")
    assert status.supervisor_pid == pid
    assert [c.name for c in status.components] == ["prometheus", "blackbox", "node"]
    for component in status.components:
        assert (component.state, component.restarts, component.last_exit_code) == (
            stack.State.RUNNING,
            0,
            None,
        )
        assert component.started_at is not None
        assert component.health.checked_at is not None
        assert not gone(component.pid or 0)
        assert (stack_dir / "logs" / f"{component.name}.log").is_file()
    assert (stack_dir / "data" / "prometheus").is_dir()  # argv paths resolve against the stack directory
    written = json.loads((stack_dir / "status.json").read_text())
    assert written["supervisor_pid"] == pid
    assert not list(stack_dir.glob(".status.*"))  # no temporary file left behind


def test_a_killed_component_is_restarted_and_healthy_again(stack_dir: Path) -> None:
    write_stack(stack_dir, node(), blackbox(stack_dir))
    stack.up(stack_dir)
    before = pids(wait_for(stack_dir, healthy, "both healthy"))

    os.kill(before["node"], signal.SIGKILL)

    status = wait_for(
        stack_dir,
        lambda s: by_name(s)["node"].restarts == 1 and s.healthy,
        "node restarted and healthy",
    )
    restarted = by_name(status)["node"]
    assert restarted.pid != before["node"]
    assert restarted.last_exit_code == -signal.SIGKILL
    assert by_name(status)["blackbox"].restarts == 0
    assert by_name(status)["blackbox"].pid == before["blackbox"]


def test_down_stops_every_process(stack_dir: Path) -> None:
    write_stack(stack_dir, node(), blackbox(stack_dir))
    supervisor = stack.up(stack_dir)
    children = pids(wait_for(stack_dir, healthy, "both healthy"))

    assert stack.down(stack_dir) is True

    assert gone(supervisor)
    assert all(gone(pid) for pid in children.values())
    status = stack.status(stack_dir)
    assert not status.running
    assert not status.healthy
    assert {c.state for c in status.components} == {stack.State.STOPPED}
    assert stack.running_pid(stack_dir) is None
    assert stack.down(stack_dir) is False


def test_a_second_up_is_refused_while_one_runs(stack_dir: Path) -> None:
    write_stack(stack_dir, node())
    first = stack.up(stack_dir)

    with pytest.raises(stack.AlreadyRunning, match=str(first)):
        stack.up(stack_dir)
    # A second supervisor started behind up()'s back loses the lock and exits.
    second = subprocess.run(
        [sys.executable, "-m", "siaga.runtime.stack", str(stack_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert second.returncode == stack.EXIT_ALREADY_RUNNING, second.stderr
    assert "already runs" in second.stderr
    assert stack.running_pid(stack_dir) == first
    assert stack.status(stack_dir).supervisor_pid == first


def test_a_crashing_component_backs_off_without_taking_down_the_others(stack_dir: Path) -> None:
    write_stack(stack_dir, node(), crasher(code=3))
    stack.up(stack_dir)

    status = wait_for(
        stack_dir,
        lambda s: by_name(s)["crasher"].restarts >= 2 and by_name(s)["node"].healthy,
        "the crasher restarted twice",
    )
    crashed = by_name(status)["crasher"]
    assert crashed.last_exit_code == 3
    assert crashed.state in {stack.State.RESTARTING, stack.State.RUNNING}
    assert not status.healthy
    assert by_name(status)["node"].restarts == 0
    assert "boom" in (stack_dir / "logs" / "crasher.log").read_text()
    assert "exited with 3" in (stack_dir / "logs" / "crasher.log").read_text()


def test_a_binary_that_cannot_run_is_failed_and_the_others_run(stack_dir: Path) -> None:
    missing = {**crasher("missing"), "argv": [str(stack_dir / "no-such-binary")]}
    write_stack(stack_dir, node(), missing)
    stack.up(stack_dir)

    status = wait_for(stack_dir, lambda s: by_name(s)["node"].healthy, "node healthy")
    failed = by_name(status)["missing"]
    assert (failed.state, failed.pid, failed.restarts) == (stack.State.FAILED, None, 0)
    assert failed.error is not None
    assert "no-such-binary" in failed.error
    assert not status.healthy


def test_a_stale_status_of_a_dead_supervisor_reads_not_running(stack_dir: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    for pid in (dead.pid, os.getpid()):  # a dead pid, and a live one that is no supervisor
        component = {
            "name": "node",
            "state": "running",
            "pid": pid,
            "restarts": 0,
            "started_at": "2026-01-05T08:00:00+00:00",
            "last_exit_code": None,
            "health": {"state": "ok", "checked_at": "2026-01-05T08:00:00+00:00", "detail": None},
            "error": None,
        }
        (stack_dir / "status.json").write_text(
            json.dumps(
                {"running": True, "supervisor_pid": pid, "updated_at": None, "components": [component]}
            )
        )
        (stack_dir / "supervisor.pid").write_text(f"{pid}\n")

        status = stack.status(stack_dir)

        assert not status.running
        assert not status.healthy
        assert status.supervisor_pid is None
        assert [(c.state, c.pid) for c in status.components] == [(stack.State.STOPPED, None)]
        assert stack.down(stack_dir) is False


def test_up_after_the_supervisor_was_killed_replaces_its_orphans(stack_dir: Path) -> None:
    write_stack(stack_dir, node())
    supervisor = stack.up(stack_dir)
    orphan = pids(wait_for(stack_dir, healthy, "node healthy"))["node"]

    os.kill(supervisor, signal.SIGKILL)
    wait_until(lambda: stack.running_pid(stack_dir) is None, what="the supervisor's lock released")

    assert not stack.status(stack_dir).running
    assert not gone(orphan)  # still holding its port
    stack.up(stack_dir)
    status = wait_for(stack_dir, healthy, "node healthy again")
    assert gone(orphan)
    assert by_name(status)["node"].pid != orphan


def test_the_foreground_supervisor_stops_its_children_on_sigint(stack_dir: Path) -> None:
    write_stack(stack_dir, node(), blackbox(stack_dir))
    with (stack_dir / "supervisor.out").open("wb") as sink:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "siaga.runtime.stack", str(stack_dir)], stdout=sink, stderr=sink
        )
    try:
        children = pids(wait_for(stack_dir, healthy, "both healthy"))
        supervisor.send_signal(signal.SIGINT)
        assert supervisor.wait(timeout=30) == 0
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
    assert all(gone(pid) for pid in children.values())
    final = json.loads((stack_dir / "status.json").read_text())
    assert final["running"] is False
    assert [c["state"] for c in final["components"]] == ["stopped", "stopped"]
    assert stack.running_pid(stack_dir) is None


def test_restarts_follow_the_backoff_on_an_injected_clock(stack_dir: Path) -> None:
    write_stack(stack_dir, crasher(code=7))
    clock = {"now": 1000.0}
    supervisor = stack.Supervisor(
        stack_dir, stack.load_stack(stack_dir), grace=5, monotonic=lambda: clock["now"]
    )

    def crasher_state() -> stack.ComponentStatus:
        supervisor.step()
        return supervisor.snapshot().components[0]

    def exited(restarts: int) -> bool:
        current = crasher_state()
        return current.state is stack.State.RESTARTING and current.restarts == restarts

    supervisor.start()
    try:
        for restarts, delay in enumerate([0.5, 1.0, 2.0]):
            wait_until(lambda r=restarts: exited(r), what=f"exit after {restarts} restarts")
            assert crasher_state().last_exit_code == 7
            clock["now"] += delay - 0.01
            assert crasher_state().restarts == restarts  # not yet
            clock["now"] += 0.01
            assert crasher_state().restarts == restarts + 1
        # This run "stayed up" a minute: the next wait is back to 0.5 s.
        clock["now"] += 60
        wait_until(lambda: exited(3), what="exit after a long run")
        clock["now"] += 0.5
        assert crasher_state().restarts == 4
    finally:
        supervisor.shutdown()
    assert supervisor.snapshot().components[0].state is stack.State.STOPPED
