"""The backup scheduler on a manual clock: slots in the project time zone, each handled once, missed ones
not replayed after a restart, staleness settled every pass."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from siaga.adapters.clock import ManualClock
from siaga.bootstrap import Container
from siaga.runtime.backup_scheduler import BackupScheduler
from siaga.services import incidents
from siaga.services.backups import Context
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
      verify: weekly
      repositories: [local]
"""


def test_slots_run_once_in_the_project_zone_and_staleness_alerts(
    wire: Callable[[Spec], Container], clock: ManualClock
) -> None:
    spec = make_spec("services: {}\n", BACKUPS)  # project time zone Asia/Jakarta
    container = wire(spec)
    clock.set(datetime(2026, 12, 5, 12, 0, tzinfo=UTC))  # Saturday 19:00 WIB
    ran: list[tuple[str, str, datetime]] = []

    def record(ctx: Context, name: str, kind: str) -> None:
        ran.append((name, kind, ctx.clock.now()))

    scheduler = BackupScheduler(container)
    scheduler.tick(record)  # first look: cursors start now, nothing runs
    assert ran == []
    # 01:00 WIB on Sunday is 18:00 UTC Saturday: the daily backup and the weekly verify.
    clock.set(datetime(2026, 12, 5, 17, 59, tzinfo=UTC))
    scheduler.tick(record)
    assert ran == []
    clock.set(datetime(2026, 12, 5, 18, 0, 30, tzinfo=UTC))
    scheduler.tick(record)
    scheduler.tick(record)  # the same slot is not run twice
    assert [(n, k) for n, k, _ in ran] == [("registry-db", "backup"), ("registry-db", "verify")]

    # Down for three days: one run on the way back, not three.
    clock.set(datetime(2026, 12, 8, 20, 0, tzinfo=UTC))
    restarted = BackupScheduler(container)
    restarted.tick(record)
    assert [(n, k) for n, k, _ in ran[2:]] == [("registry-db", "backup")]

    # None of those runs recorded a success (the stand-in runs nothing): the job goes stale.
    open_ = [i for i in incidents.list_incidents(uow=container.db) if i["status"] != "resolved"]
    assert [i["title"] for i in open_] == ["backup registry-db is stale: last success never"]


SECURITY = """
security:
  targets:
    hosts:
      - {host: 127.0.0.1, allow_ports: [1], check_ports: [1]}
  every: 1d
"""


def test_the_security_audit_runs_on_its_schedule(
    wire: Callable[[Spec], Container], clock: ManualClock
) -> None:
    container = wire(make_spec("services: {}\n", SECURITY))
    scheduler = BackupScheduler(container)
    scheduler.tick()
    scheduler.tick()  # same moment: not again
    with container.db.read() as store:
        [first] = store.audit_runs()
    assert {f["rule"] for f in first["findings"]} == {"ports.allowed-closed"}
    clock.advance(timedelta(days=1))
    scheduler.tick()
    with container.db.read() as store:
        assert len(store.audit_runs()) == 2
