"""Raw results roll up into minutes and hours exactly once (behind a cursor), and retention prunes each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from siaga.adapters.clock import ManualClock
from siaga.bootstrap import Container
from siaga.domain.slo import histogram_index
from siaga.services import rollups
from siaga.spec.models import Retention
from tests.integration.checks.conftest import make_spec

SPEC = make_spec("""
services:
  shop:
    checks:
      - {name: health, http: {url: "http://127.0.0.1:1/health"}, every: 20s}
""")


def test_results_roll_up_once_into_minutes_and_hours_and_are_pruned(
    wire: Callable[..., Container], clock: ManualClock
) -> None:
    wired = wire(SPEC)
    [check] = wired.check_plan().checks
    start = clock.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    # Two hours of runs every 20 s; every tenth run down; latencies 30 ms, and 2 s for the down ones.
    results = [
        {
            "check_id": check.id,
            "at": start + timedelta(seconds=20 * i),
            "status": 2 if i % 10 == 0 else 0,
            "latency": 2.0 if i % 10 == 0 else 0.03,
            "reason": None,
        }
        for i in range(360)
    ]
    with wired.db.transaction() as store:
        store.insert_results(results)
        store.set_job_cursor("rollup.minutes", start)
        store.set_job_cursor("rollup.hours", start)
    settle = timedelta(seconds=15)
    assert rollups.roll_up(uow=wired.db, now=start + timedelta(hours=2, minutes=1), settle=settle) == 120
    assert rollups.roll_up(uow=wired.db, now=start + timedelta(hours=2, minutes=1), settle=settle) == 0
    with wired.db.read() as store:
        minutes = store.rollups("minute", [check.id], start, start + timedelta(hours=3))
        hours = store.rollups("hour", [check.id], start, start + timedelta(hours=3))
    assert len(minutes) == 120
    assert sum(row["count"] for row in minutes) == 360
    assert sum(row["failures"] for row in minutes) == 36
    first = minutes[0]
    assert (first["count"], first["failures"]) == (3, 1)
    assert first["histogram"][histogram_index(0.03)] == 2
    assert first["histogram"][histogram_index(2.0)] == 1
    assert [(row["count"], row["failures"]) for row in hours] == [(180, 18), (180, 18)]

    retention = Retention(results=timedelta(days=4), minutes=timedelta(hours=1), hours=timedelta(days=400))
    removed = rollups.prune(uow=wired.db, now=start + timedelta(hours=2), retention=retention)
    assert removed == 60  # the first hour of minutes; results (4 days) and hours stay
    with wired.db.read() as store:
        assert len(store.rollups("minute", [check.id], start, start + timedelta(hours=3))) == 60
        assert len(store.results_between(start, start + timedelta(hours=3))) == 360
