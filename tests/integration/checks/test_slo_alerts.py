"""SLO burn-rate alerts and reports from stored rollups: a fast burn pages, one failed probe does not, the
alert clears when the windows do; months past the minute retention come from hourly rollups."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from siaga.adapters.clock import ManualClock
from siaga.bootstrap import Container
from siaga.services import rollups, slo_report
from siaga.services.check_plan import CheckPlan
from tests.integration.checks.conftest import make_spec, open_incidents

SERVICES = """
services:
  shop:
    checks:
      - {name: health, http: {url: "http://127.0.0.1:1/health"}, severity: SEV-3}
    slos:
      - {name: availability, objective: 99.9, window: 30d, ticket_severity: SEV-2}
"""


def _minutes(plan: CheckPlan, start: datetime, count: int, failed: set[int]) -> list[dict[str, object]]:
    [check] = plan.checks
    histogram = [0] * 12
    histogram[3] = 1
    return [
        {
            "check_id": check.id,
            "start": start + timedelta(minutes=i),
            "count": 1,
            "failures": 1 if i in failed else 0,
            "degraded": 0,
            "latency_sum": 0.03,
            "histogram": histogram,
        }
        for i in range(count)
    ]


def _store(wired: Container, rows: list[dict[str, object]], resolution: str = "minute") -> None:
    with wired.db.transaction() as store:
        store.insert_rollups(resolution, rows)


def _burn(wired: Container) -> int:
    return slo_report.evaluate_burn(
        uow=wired.db, spec=wired.spec, policy=wired.policy, plan=wired.check_plan(), now=wired.clock.now()
    )


def test_one_failed_probe_does_not_page_five_do_and_it_clears(
    wire: Callable[..., Container], clock: ManualClock
) -> None:
    wired = wire(make_spec(SERVICES))
    plan = wired.check_plan()
    start = clock.now() - timedelta(hours=3)
    _store(wired, _minutes(plan, start, 180, failed={170}))  # one failure 10 minutes ago
    assert _burn(wired) == 0
    assert open_incidents(wired) == []

    clock.advance(timedelta(minutes=5))
    _store(wired, _minutes(plan, clock.now() - timedelta(minutes=5), 5, failed={0, 1, 2, 3, 4}))
    # 6 failures in 3 hours at 99.9 %: every pair burns past its factor (1h: 100x > 14.4; 5m: 1000x ...)
    assert _burn(wired) == 4
    with wired.db.read() as store:
        severities = sorted(row["labels"]["severity"] for row in store.alert_log(limit=10))
    assert severities == ["SEV-1", "SEV-1", "SEV-2", "SEV-2"]  # two pages, two tickets
    [incident] = open_incidents(wired)  # one incident (alertname SLOBurnRate, service shop), at SEV-1
    assert incident["severity"] == "SEV-1"  # pages go to the most urgent level by default
    assert "burning its error budget" in incident["title"]
    assert _burn(wired) == 0  # still burning: no second alert

    clock.advance(timedelta(minutes=30))  # healthy since: the 5-minute window is clean again
    _store(wired, _minutes(plan, clock.now() - timedelta(minutes=30), 30, failed=set()))
    # The 5m and 30m windows are clean: both pages resolve; 2h and 6h still hold the failures: tickets stay.
    assert _burn(wired) == 2
    with wired.db.read() as store:
        latest = store.alert_log(limit=2)
    assert {(row["status"], row["labels"]["window"]) for row in latest} == {
        ("resolved", "1h"),
        ("resolved", "6h"),
    }


def test_budget_status_and_a_month_from_hourly_rollups(
    wire: Callable[..., Container], clock: ManualClock
) -> None:
    wired = wire(make_spec(SERVICES))
    plan = wired.check_plan()
    _store(wired, _minutes(plan, clock.now() - timedelta(days=1), 1440, failed=set(range(10))))
    [budget] = slo_report.budgets(uow=wired.db, spec=wired.spec, plan=plan, now=clock.now())
    assert budget["budget_minutes"] == 43.2
    assert budget["consumed_percent"] == round(10 / 1440 / 0.001 * 100, 2)  # 694 %: overspent

    # Three months back, only hours are kept: an hour with a failed run counts as an hour down.
    hours = rollups.merge_rows(
        _minutes(plan, datetime(2025, 10, 1, tzinfo=UTC), 24 * 60, failed={61}), timedelta(hours=1)
    )
    assert len(hours) == 24
    assert hours[1]["failures"] == 1
    _store(wired, hours, resolution="hour")
    report = slo_report.monthly(
        uow=wired.db, spec=wired.spec, policy=wired.policy, plan=plan, year=2025, month=10, now=clock.now()
    )
    assert report["resolution"] == "hour"
    [shop] = report["services"]
    assert shop["down_minutes"] == 60
    assert shop["checks"] == ["health"]
    # The month's hours start 2025-09-30 17:00 UTC (Asia/Jakarta): October 1 was rolled up from 00:00 UTC.
    assert shop["up_minutes"] == 23 * 60
