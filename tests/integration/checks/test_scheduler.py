"""The scheduler on a manual clock: every check on its grid, a hanging target delays nobody, results land in
the database in batches, and a changed spec (added, removed, changed checks) takes effect without a
restart."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from siaga.adapters.clock import ManualClock
from siaga.bootstrap import Container
from siaga.runtime.scheduler import CheckScheduler
from tests.integration.checks.conftest import make_spec
from tests.integration.checks.targets import http_target
from tests.integration.servers import wait_until

SECOND = timedelta(seconds=1)


def _spec(base: str, names: list[str], every: str = "10s") -> str:
    lines = ["services:", "  web:", "    checks:"]
    for name in names:
        path = "/hang" if name == "hanging" else "/health"
        url = f"{base}{path}"
        lines.append(
            f'      - {{name: {name}, http: {{url: "{url}"}}, every: {every}, timeout: 2s, severity: SEV-2}}'
        )
    return "\n".join(lines) + "\n"


def _results(wired: Container) -> dict[str, list[int]]:
    with wired.db.read() as store:
        names = {int(row["id"]): row["name"] for row in store.check_rows()}
        found: dict[str, list[int]] = {name: [] for name in names.values()}
        start = wired.clock.now() - timedelta(days=1)
        for row in store.results_between(start, wired.clock.now() + timedelta(days=1)):
            found[names[int(row["check_id"])]].append(int(row["status"]))
    return found


@contextmanager
def _running(wired: Container) -> Iterator[CheckScheduler]:
    scheduler = CheckScheduler(wired)
    scheduler.start()
    try:
        assert scheduler.wait_ready()
        yield scheduler
    finally:
        scheduler.stop()


def _tick(clock: ManualClock, seconds: int) -> None:
    """Move the clock a second at a time, pausing so the scheduler's loop (which looks at the clock at
    least every 0.25 s) sees most seconds; runs it sees late are still recorded at their due times."""
    for _ in range(seconds):
        clock.advance(SECOND)
        time.sleep(0.05)


def test_fixed_rate_isolation_batches_and_reload(wire: Callable[..., Container], clock: ManualClock) -> None:
    with http_target() as (base, target):
        target.paths["/hang"] = "hang"
        wired = wire(make_spec(_spec(base, ["alpha", "beta", "hanging"])))
        with _running(wired) as scheduler:
            # First runs come within 5 s of start (spread), then every 10 s on each check's own grid.
            assert scheduler.stats.scheduled == 3
            _tick(clock, 35)
            wait_until(
                lambda: all(len(v) >= 4 for k, v in _results(wired).items() if k != "hanging"),
                what="four runs each",
            )
            results = _results(wired)
            assert len(results["alpha"]) == len(results["beta"]) == 4  # one at start + 3 on the grid (35 s)
            assert set(results["alpha"]) == {0}
            # The hanging target holds its own runs only (2 s real timeouts; a run still going when the next
            # falls due is skipped), never the others'.
            wait_until(lambda: len(_results(wired)["hanging"]) >= 1, what="the hanging check's timeout")
            assert set(_results(wired)["hanging"]) == {2}  # down: timed out

            # A new spec: beta removed, gamma added; alpha unchanged keeps its grid.
            wired.spec = make_spec(_spec(base, ["alpha", "hanging", "gamma"]))
            before = _results(wired)
            _tick(clock, 30)
            wait_until(lambda: len(_results(wired).get("gamma", [])) >= 2, what="the new check to run")
            wait_until(lambda: len(_results(wired)["alpha"]) >= len(before["alpha"]) + 3, what="alpha's runs")
            after = _results(wired)
            assert len(after["beta"]) == len(before["beta"])  # removed: runs no more
            assert len(after["alpha"]) == len(before["alpha"]) + 3  # 30 s on its 10 s grid, reload or not
            with wired.db.read() as store:
                removed = {row["name"]: row["removed_at"] for row in store.check_rows()}
            assert removed["beta"] is not None
            assert removed["alpha"] is None
