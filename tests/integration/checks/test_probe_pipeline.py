"""Every check kind against a real target raises and clears the right alert and incident, with the right
severity, through the same pipeline as external alerts (virtual clock; real probes)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from siaga.adapters.clock import ManualClock
from siaga.bootstrap import Container
from siaga.services import incidents, status
from tests.conftest import PG_ADMIN_URL
from tests.integration.checks.conftest import make_spec, open_incidents, probe_and_record
from tests.integration.checks.targets import http_target, tcp_listener, tls_server

MINUTE = timedelta(minutes=1)


def _states(wired: Container) -> dict[str, str]:
    items = status.overview(
        uow=wired.db, spec=wired.spec, policy=wired.policy, plan=wired.check_plan(), now=wired.clock.now()
    )
    return {item["name"]: item["state"] for item in items}


def test_http_check_healthy_error_slow_and_hanging(
    wire: Callable[..., Container], clock: ManualClock
) -> None:
    with http_target() as (base, target):
        wired = wire(
            make_spec(f"""
services:
  api-gateway:
    environment: production
    checks:
      - name: health
        http: {{url: "{base}/health"}}
        timeout: 1s
        expect: ['status == 200', 'json.status == "UP"', 'latency < duration("900ms")']
        degraded_if: ['latency > duration("300ms")']
        failures_before_alert: 2
        severity: SEV-1
""")
        )
        assert probe_and_record(wired).fired == []
        assert _states(wired) == {"api-gateway": "up"}

        target.mode = "error"
        clock.advance(MINUTE)
        assert probe_and_record(wired).fired == []  # one failure: below failures_before_alert
        assert _states(wired) == {"api-gateway": "degraded"}
        clock.advance(MINUTE)
        assert probe_and_record(wired).fired == ["api-gateway/health"]
        [incident] = open_incidents(wired)
        assert incident["severity"] == "SEV-1"
        assert incident["service"] == "api-gateway"
        assert "expected status == 200" in incident["title"]
        assert "status=500" in incident["title"]
        assert _states(wired) == {"api-gateway": "down"}

        target.mode = "healthy"
        clock.advance(MINUTE)
        assert probe_and_record(wired).resolved == ["api-gateway/health"]
        clock.advance(timedelta(minutes=6))
        incidents.sweep(uow=wired.db, policy=wired.policy, now=clock.now())
        assert open_incidents(wired) == []

        target.mode = "slow"  # 400 ms: degraded, shown and not paged
        for _ in range(3):
            clock.advance(MINUTE)
            assert probe_and_record(wired).fired == []
        assert _states(wired) == {"api-gateway": "degraded"}

        target.mode = "hang"  # the probe's own timeout ends the run
        clock.advance(MINUTE)
        probe_and_record(wired)
        clock.advance(MINUTE)
        assert probe_and_record(wired).fired == ["api-gateway/health"]
        [incident] = open_incidents(wired)  # the earlier incident, reopened
        with wired.db.read() as store:
            [alert] = store.alerts_of(int(incident["id"]))
        assert "timed out after 1s" in alert["annotations"]["summary"]


def test_tcp_listener_that_closes(wire: Callable[..., Container], clock: ManualClock) -> None:
    with tcp_listener() as listener:
        wired = wire(
            make_spec(f"""
services:
  ollama:
    checks:
      - {{name: port, tcp: {{host: 127.0.0.1, port: {listener.port}}}, every: 5m, severity: SEV-2}}
""")
        )
        assert probe_and_record(wired).fired == []
        listener.close()
        clock.advance(timedelta(minutes=5))
        assert probe_and_record(wired).fired == ["ollama/port"]
        [incident] = open_incidents(wired)
        assert incident["severity"] == "SEV-2"
        assert "refused" in incident["title"]
        listener.open()
        clock.advance(timedelta(minutes=5))
        assert probe_and_record(wired).resolved == ["ollama/port"]


def test_tls_certificate_expiring_in_ten_days(wire: Callable[..., Container], tmp_path: Path) -> None:
    with tls_server(tmp_path, days_left=10) as (port, ca_file):
        wired = wire(
            make_spec(f"""
services:
  api-gateway:
    checks:
      - name: certificate
        tls: {{host: 127.0.0.1, port: {port}, server_name: localhost, ca_file: "{ca_file}"}}
        every: 1h
        expect: ['cert.days_left > 14', 'cert.chain_valid', 'cert.hostname_valid']
        severity: SEV-2
      - name: not-expired
        tls: {{host: 127.0.0.1, port: {port}, server_name: localhost, ca_file: "{ca_file}"}}
        every: 1h
""")
        )
        recorded = probe_and_record(wired)
        assert recorded.fired == ["api-gateway/certificate"]  # the default (not expired) holds for the other
        [incident] = open_incidents(wired)
        assert incident["severity"] == "SEV-2"
        assert "cert.days_left > 14" in incident["title"]


def test_host_thresholds_crossed_and_a_rule_with_for(
    wire: Callable[..., Container], clock: ManualClock
) -> None:
    rules = """
rules:
  - name: disk-almost-full
    signal: check.resources
    condition: 'disk["/"].percent > 0.0'
    for: 10m
    severity: SEV-1
"""
    services = """
services:
  host:
    checks:
      - name: resources
        host: {}
        every: 5m
        expect: ['cpu.percent <= 100.0', 'memory.percent < %s']
        for: 5m
        severity: SEV-2
"""
    wired = wire(make_spec(services % "0.001", rules))
    assert probe_and_record(wired).fired == []  # failing, but `for: 5m` has not passed
    clock.advance(timedelta(minutes=5))
    assert probe_and_record(wired).fired == ["host/resources"]
    clock.advance(timedelta(minutes=5))
    assert probe_and_record(wired).fired == ["disk-almost-full:host/resources"]  # held 10m
    by_title = {incident["title"]: incident for incident in open_incidents(wired)}
    assert {incident["severity"] for incident in by_title.values()} == {"SEV-1", "SEV-2"}

    # The spec changes (a reload): memory below 100 % now passes, and the alert clears.
    wired.spec = make_spec(services % "100.0", rules)
    clock.advance(timedelta(minutes=5))
    assert probe_and_record(wired).resolved == ["host/resources"]


PG_QUERY = "select count(*) as used, current_setting('max_connections')::int as max from pg_stat_activity"
MARIA_QUERY = "select count(*) as used, @@max_connections as max from information_schema.processlist"


def _db_spec(pg: str, maria: str, redis: str) -> str:
    return f"""
services:
  database:
    checks:
      - name: postgres
        db:
          url: "${{PG_URL}}"
          query: "{PG_QUERY}"
        expect: ['row.used < row.max * {pg}']
        severity: SEV-1
      - name: mariadb
        db: {{url: "${{MARIA_URL}}", query: "{MARIA_QUERY}"}}
        expect: ['row.used < row.max * {maria}']
        severity: SEV-2
      - name: redis
        db: {{url: "${{REDIS_URL}}", query: "DBSIZE"}}
        expect: ['row.value < {redis}']
        severity: SEV-3
"""


@pytest.mark.parametrize("reachable", [True, False], ids=["reachable", "unreachable"])
def test_the_real_databases_reachable_unreachable_and_over_threshold(
    wire: Callable[..., Container], clock: ManualClock, reachable: bool
) -> None:
    base = PG_ADMIN_URL if reachable else "postgresql://postgres:postgres@127.0.0.1:1/postgres"
    env = {
        "PG_URL": base,
        "MARIA_URL": "mysql://root@127.0.0.1:3306/test" if reachable else "mysql://root@127.0.0.1:1/test",
        "REDIS_URL": "redis://127.0.0.1:6379/0" if reachable else "redis://127.0.0.1:1/0",
    }
    wired = wire(make_spec(_db_spec("0.8", "0.8", "1000000000"), env=env))
    fired = probe_and_record(wired).fired
    if not reachable:
        assert sorted(fired) == ["database/mariadb", "database/postgres", "database/redis"]
        by_severity = {incident["severity"] for incident in open_incidents(wired)}
        assert by_severity == {"SEV-1", "SEV-2", "SEV-3"}
        assert all("postgres:postgres" not in incident["title"] for incident in open_incidents(wired))
        return
    assert fired == []
    # The same queries against a threshold nobody meets: connections used >= 0 % of the maximum.
    wired.spec = make_spec(_db_spec("0.0", "0.0", "0"), env=env)
    clock.advance(MINUTE)
    assert sorted(probe_and_record(wired).fired) == [
        "database/mariadb",
        "database/postgres",
        "database/redis",
    ]


def test_a_service_whose_dependency_is_down_is_impacted_not_paged(
    wire: Callable[..., Container], clock: ManualClock
) -> None:
    with http_target() as (base, target), http_target() as (other, dependent):
        wired = wire(
            make_spec(
                f"""
services:
  database:
    checks: [{{name: health, http: {{url: "{base}/health"}}, severity: SEV-1}}]
  auth-api:
    depends_on: [database]
    checks: [{{name: health, http: {{url: "{other}/health"}}, severity: SEV-1}}]
""",
                """
channels:
  ops: {type: webhook, url: "${OPS_WEBHOOK_URL}"}
routes:
  - notify: [ops]
""",
                env={"OPS_WEBHOOK_URL": "http://127.0.0.1:1/hook"},
            )
        )
        probe_and_record(wired)
        target.mode = "error"
        clock.advance(MINUTE)
        recorded = probe_and_record(wired)
        assert recorded.fired == ["database/health"]
        assert recorded.queued == 1  # the database incident pages
        assert _states(wired) == {"database": "down", "auth-api": "impacted"}
        dependent.mode = "error"  # the API fails because its database does
        clock.advance(MINUTE)
        recorded = probe_and_record(wired)
        assert recorded.fired == ["auth-api/health"]
        assert recorded.queued == 0  # recorded, not paged: inhibited by depends_on
        assert len(open_incidents(wired)) == 2
        assert _states(wired) == {"database": "down", "auth-api": "impacted"}
