"""A day on a virtual clock: every check runs at its own grid times (the scheduler's schedule), with real
probes against real local targets, and the sweeper's work (breaches, auto-resolve, escalation, maintenance
announcements) runs every minute. Seconds of real time for a day of virtual time."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from siaga.adapters.clock import ManualClock
from siaga.bootstrap import Container
from siaga.domain.checks import next_run
from siaga.integrations.probes import close_probers, make_probers
from siaga.runtime.sweeper import Sweeper
from siaga.services import checks, rollups
from siaga.services.checks import Run

MINUTE = timedelta(minutes=1)


@dataclass
class Timeline:
    fired: list[tuple[datetime, str]] = field(default_factory=list)
    resolved: list[tuple[datetime, str]] = field(default_factory=list)
    queued: int = 0
    runs: int = 0


def simulate(
    wired: Container,
    clock: ManualClock,
    *,
    until: datetime,
    script: Callable[[datetime], None],
) -> Timeline:
    """From the clock's time to `until`, minute by minute: call `script(now)` (it switches targets), run
    the checks due in that minute at their due times, record them, and run the sweeper's tick."""
    return asyncio.run(_simulate(wired, clock, until, script))


async def _simulate(
    wired: Container, clock: ManualClock, until: datetime, script: Callable[[datetime], None]
) -> Timeline:
    timeline = Timeline()
    sweeper = Sweeper(wired)
    probers = make_probers()
    loop = asyncio.get_running_loop()
    plan = wired.check_plan()
    due = {check.id: next_run(check.key, check.every, clock.now() - check.every) for check in plan.checks}
    try:
        while clock.now() < until:
            minute_end = clock.now() + MINUTE
            script(clock.now())
            batch = [c for c in plan.checks if due[c.id] < minute_end]

            async def one(check: checks.PlannedCheck) -> Run:
                result = None
                if check.heartbeat is None:
                    prober = probers[check.spec.kind]
                    result = await prober.probe(check.spec.probe, check.spec.timeout.total_seconds())
                return Run(check.id, due[check.id], result)

            runs = list(await asyncio.gather(*(one(check) for check in batch)))
            for check in batch:
                due[check.id] += check.every
            clock.set(minute_end)
            recorded = await loop.run_in_executor(
                None,
                functools.partial(
                    checks.record, uow=wired.db, policy=wired.policy, plan=plan, runs=runs, now=minute_end
                ),
            )
            timeline.runs += len(runs)
            timeline.queued += recorded.queued
            timeline.fired += [(minute_end, key) for key in recorded.fired]
            timeline.resolved += [(minute_end, key) for key in recorded.resolved]
            await loop.run_in_executor(None, sweeper.run_once)
            if minute_end.minute % 10 == 0:
                await loop.run_in_executor(
                    None,
                    functools.partial(
                        rollups.roll_up, uow=wired.db, now=minute_end, settle=timedelta(seconds=30)
                    ),
                )
    finally:
        await close_probers(probers)
    return timeline
