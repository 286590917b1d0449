"""Heartbeats: a job that stops pinging raises its alert and incident; a ping clears them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient

from siaga.adapters.clock import ManualClock
from siaga.api.app import create_app
from siaga.bootstrap import Container
from siaga.services import checks, incidents
from siaga.services.checks import Run
from tests.integration.checks.conftest import make_spec, open_incidents

SPEC = make_spec(
    """
services:
  nightly-report:
    checks:
      - name: cron
        heartbeat: {period: 1d, grace: 1h}
        severity: SEV-3
"""
)


def _evaluate(wired: Container) -> checks.Recorded:
    plan = wired.check_plan()
    return checks.record(
        uow=wired.db,
        policy=wired.policy,
        plan=plan,
        runs=[Run(check.id, wired.clock.now()) for check in plan.checks],
        now=wired.clock.now(),
    )


def test_a_heartbeat_that_stops_opens_an_incident_and_a_ping_resolves_it(
    wire: Callable[..., Container], clock: ManualClock
) -> None:
    wired = wire(SPEC)
    token = wired.check_plan().checks[0].push_token
    assert token is not None
    assert len(token) >= 24
    with TestClient(create_app(wired, run_sweeper=False, dispatch=False)) as client:
        assert client.post(f"/api/v1/heartbeat/{token}").status_code == 200
        clock.advance(timedelta(hours=24, minutes=59))
        assert _evaluate(wired).fired == []  # due after 1d, plus 1h of grace
        clock.advance(timedelta(minutes=2))
        assert _evaluate(wired).fired == ["nightly-report/cron"]
        [incident] = open_incidents(wired)
        assert incident["severity"] == "SEV-3"
        assert incident["service"] == "nightly-report"
        assert "one was due by" in str(incident["title"])
        assert _evaluate(wired).fired == []  # still late: no second alert
        assert client.get(f"/api/v1/heartbeat/{token}").status_code == 200  # GET works for plain curl
        clock.advance(resolve_after := timedelta(minutes=6))
        assert resolve_after > wired.spec.project.resolve_after
        incidents.sweep(uow=wired.db, policy=wired.policy, now=clock.now())
        assert open_incidents(wired) == []


def test_a_fail_ping_raises_at_once_and_start_without_success_times_out(
    wire: Callable[..., Container], clock: ManualClock
) -> None:
    wired = wire(SPEC)
    token = str(wired.check_plan().checks[0].push_token)
    with TestClient(create_app(wired, run_sweeper=False, dispatch=False)) as client:
        assert client.post(f"/api/v1/heartbeat/{token}/fail").status_code == 200
        assert len(open_incidents(wired)) == 1
        assert client.post(f"/api/v1/heartbeat/{token}").status_code == 200  # success: alert resolves
        assert client.post(f"/api/v1/heartbeat/{token}/start").status_code == 200
        clock.advance(timedelta(minutes=59))
        assert _evaluate(wired).fired == []
        clock.advance(timedelta(minutes=2))
        assert _evaluate(wired).fired == ["nightly-report/cron"]  # started, no success within the grace


def test_unknown_tokens_are_404_and_change_nothing(wire: Callable[..., Container]) -> None:
    wired = wire(SPEC)
    with TestClient(create_app(wired, run_sweeper=False, dispatch=False)) as client:
        assert client.post("/api/v1/heartbeat/not-a-real-token-at-all").status_code == 404
        assert client.post("/api/v1/heartbeat/x/fail").status_code == 422  # too short to be a token
        assert client.post(f"/api/v1/heartbeat/{'a' * 30}/explode").status_code == 422
    with wired.db.read() as store:
        [row] = store.check_rows()
    assert row["last_ping_at"] is None


def test_the_push_token_survives_a_new_plan(wire: Callable[..., Container]) -> None:
    first = wire(SPEC).check_plan().checks[0].push_token
    again = (
        wire(
            make_spec("""
services:
  nightly-report:
    checks:
      - {name: cron, heartbeat: {period: 12h, grace: 1h}, severity: SEV-3}
""")
        )
        .check_plan()
        .checks[0]
        .push_token
    )
    assert first == again


def test_removing_a_firing_check_resolves_its_alert_once(wire: Callable[..., Container]) -> None:
    wired = wire(SPEC)
    token = str(wired.check_plan().checks[0].push_token)
    with TestClient(create_app(wired, run_sweeper=False, dispatch=False)) as client:
        assert client.post(f"/api/v1/heartbeat/{token}/fail").status_code == 200
    other = make_spec("""
services:
  nightly-report: {}
""")
    for _ in range(2):  # a second plan of the same spec changes nothing more
        assert wire(other).check_plan().checks == ()
    with wired.db.read() as store:
        [row] = store.check_rows()
        statuses = [event["status"] for event in store.alert_log(limit=10)]
    assert row["removed_at"] is not None
    assert row["alerting"] is False
    assert statuses == ["resolved", "firing"]  # newest first: one resolve, not one per plan
