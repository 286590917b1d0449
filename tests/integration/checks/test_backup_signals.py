"""Backup runs are signals: a failure pages at once (in the run's own transaction), the next success
resolves it, a job without success for its interval + 10 % is stale; each alert is raised once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from siaga.adapters.clock import ManualClock
from siaga.bootstrap import Container
from siaga.services import backup_health, incidents
from siaga.spec import Spec
from tests.integration.checks.conftest import make_spec

BACKUPS = """
backups:
  repositories:
    local: {path: /var/backups/t, password: "${RESTIC_PASSWORD:-x}"}
  jobs:
    registry-db:
      source: {sqlite: /srv/registry.db}
      schedule: daily
      repositories: [local]
      severity: critical
"""


def _run(clock: ManualClock, ok: bool, reason: str | None = None, kind: str = "backup") -> dict[str, Any]:
    return {
        "job": "registry-db",
        "kind": kind,
        "started_at": clock.now() - timedelta(seconds=30),
        "finished_at": clock.now(),
        "ok": ok,
        "reason": reason,
        "snapshots": {"local": "abc123"} if ok else {},
        "bytes": 1024 if ok else None,
        "detail": {},
    }


def _open(container: Container) -> list[dict[str, Any]]:
    return [i for i in incidents.list_incidents(uow=container.db) if i["status"] != "resolved"]


def test_failure_pages_success_resolves_and_staleness_follows_the_clock(
    wire: Callable[[Spec], Container], clock: ManualClock
) -> None:
    spec = make_spec("services: {}\n", BACKUPS)
    container = wire(spec)

    def record(run: dict[str, Any]) -> list[Any]:
        return backup_health.record_run(
            uow=container.db,
            policy=container.policy,
            spec=spec,
            run=run,
            now=clock.now(),
        )

    def evaluate() -> list[Any]:
        return backup_health.evaluate(uow=container.db, policy=container.policy, spec=spec, now=clock.now())

    assert record(_run(clock, True)) == []
    clock.advance(timedelta(days=1))
    [raised] = record(_run(clock, False, "pg_dump exited 1: database does not exist"))
    assert raised.labels["alertname"] == "BackupFailed"
    [incident] = _open(container)
    assert incident["severity"] == "SEV-1"
    assert "pg_dump exited 1" in str(incident["title"])
    assert evaluate() == []  # raised once

    clock.advance(timedelta(hours=1))
    [cleared] = record(_run(clock, True))
    assert cleared.status.value == "resolved"

    # No success for 26 h 24 min (daily + 10 %): stale; the next success clears it.
    clock.advance(timedelta(hours=26, minutes=24))
    assert evaluate() == []
    clock.advance(timedelta(minutes=1))
    [stale] = evaluate()
    assert stale.labels["alertname"] == "BackupStale"
    assert evaluate() == []
    [fresh] = record(_run(clock, True))
    assert (fresh.labels["alertname"], fresh.status.value) == ("BackupStale", "resolved")
    with container.db.read() as store:
        assert [r["ok"] for r in store.backup_runs("registry-db")] == [True, True, False, True]
