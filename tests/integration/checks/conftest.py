"""A small spec with checks, both engines, a manual clock: the check pipeline without the scheduler."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from siaga.adapters.clock import ManualClock
from siaga.adapters.db.engine import Database
from siaga.bootstrap import Container
from siaga.integrations.probes import close_probers, make_probers
from siaga.services import checks
from siaga.services.checks import CheckPlan, Recorded, Run
from siaga.services.policy import Policy
from siaga.settings import Settings
from siaga.spec import Spec, parse_spec

HEAD = """
version: 1
project: {name: checks-test, timezone: Asia/Jakarta, resolve_after: 5m}
severities:
  - {name: SEV-1, aliases: [critical]}
  - {name: SEV-2, aliases: [warning]}
  - {name: SEV-3, aliases: [info]}
"""


def make_spec(services: str, extra: str = "", env: dict[str, str] | None = None) -> Spec:
    """Given the `services:` section (and other sections) as YAML text, return the spec."""
    return parse_spec(HEAD + services + extra, filename="checks-test.yaml", env=env or {})


@pytest.fixture
def wire(db: Database, clock: ManualClock, tmp_path: Path) -> Callable[[Spec], Container]:
    """Given a spec, return a container on the test database and the manual clock."""

    def build(spec: Spec) -> Container:
        settings = Settings(
            data_dir=tmp_path, database_url=str(db.engine.url), config_path=tmp_path / "siaga.yaml"
        )
        return Container(settings=settings, db=db, clock=clock, spec=spec, policy=Policy.from_spec(spec))

    return build


async def _probe_all(plan: CheckPlan, due: datetime, only: set[str] | None) -> list[Run]:
    probers = make_probers()
    try:
        runs = []
        for check in plan.checks:
            if only is not None and check.key not in only:
                continue
            result = None
            if check.heartbeat is None:
                prober = probers[check.spec.kind]
                result = await prober.probe(check.spec.probe, check.spec.timeout.total_seconds())
            runs.append(Run(check.id, due, result))
        return runs
    finally:
        await close_probers(probers)


def probe_and_record(wired: Container, only: set[str] | None = None) -> Recorded:
    """Run every check of the container's plan once with the real probers, due at the clock's `now`, and
    record the runs (the scheduler's job, minus the timing)."""
    plan = wired.check_plan()
    now = wired.clock.now()
    runs = asyncio.run(_probe_all(plan, now, only))
    return checks.record(uow=wired.db, policy=wired.policy, plan=plan, runs=runs, now=now)


def open_incidents(wired: Container) -> list[dict[str, Any]]:
    with wired.db.read() as store:
        return [dict(row) for row in store.incidents(statuses=["triggered", "acknowledged"])]
