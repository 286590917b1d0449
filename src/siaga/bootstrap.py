"""Wires settings → database → clock → spec → policy; the one place that chooses implementations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from siaga.adapters.clock import SystemClock
from siaga.adapters.db import engine as db_engine
from siaga.adapters.db import migrate
from siaga.adapters.db.engine import Database
from siaga.services.checks import CheckPlan, PlanCache
from siaga.services.policy import Policy
from siaga.services.ports import Clock
from siaga.settings import Settings
from siaga.spec import Spec, load_spec


@dataclass(slots=True)
class Container:
    settings: Settings
    db: Database
    clock: Clock
    spec: Spec
    policy: Policy
    # Called after a commit that may have queued messages (the running dispatcher registers itself).
    outbox_listeners: list[Callable[[], None]] = field(default_factory=list)
    plans: PlanCache = field(default_factory=PlanCache)

    def check_plan(self) -> CheckPlan:
        """The check plan of the spec in force (rows synced on first use after a reload)."""
        return self.plans.get(uow=self.db, spec=self.spec, policy=self.policy, now=self.clock.now())

    def outbox_changed(self) -> None:
        for listener in self.outbox_listeners:
            listener()

    def close(self) -> None:
        self.db.dispose()


def open_database(settings: Settings, *, upgrade: bool = True) -> Database:
    if settings.is_sqlite:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    engine = db_engine.create(settings.database_url)
    if upgrade:
        migrate.upgrade(engine)
    return Database(engine)


def bootstrap(settings: Settings, *, spec: Spec | None = None, clock: Clock | None = None) -> Container:
    """Load the spec (raising SpecError), open and migrate the database, and return the wired container."""
    spec = spec if spec is not None else load_spec(settings.config_path)
    db = open_database(settings)
    return Container(
        settings=settings, db=db, clock=clock or SystemClock(), spec=spec, policy=Policy.from_spec(spec)
    )
