"""The probe scheduler: every check on its fixed grid, bounded concurrency, results written in batches.

It runs in its own thread with its own event loop, so thousands of probes never share a loop with the API.
Runs start on `epoch + phase + k * every` (siaga.domain.checks.next_run): no drift, first runs spread over
the interval, the same times after a restart or a reload. Each run has its own timeout and a slot from a
global semaphore, so a hanging target holds one slot and delays nothing else. Finished runs are handed,
once a second, to one writer thread that records them in one transaction (services.checks.record), rolls
results up and prunes old ones.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from siaga.bootstrap import Container
from siaga.domain.checks import next_run, phase
from siaga.integrations.probes import close_probers, make_probers
from siaga.integrations.probes.base import Prober, ProbeResult
from siaga.integrations.prometheus_query import Sample, query_rules
from siaga.services import checks, promql_rules, rollups, slo_report
from siaga.services.checks import CheckPlan, PlannedCheck, Run
from siaga.services.ports import StorageError
from siaga.spec.checks import Rule

log = logging.getLogger(__name__)

LAG_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LATE = 1.0  # seconds: a run starting later than this counts as late
_TICK = 0.25  # longest sleep, so reloads and stop are noticed quickly
_MIN_SLEEP = 0.005
_FLUSH_EVERY = 1.0
_ROLLUP_EVERY = 30.0
_PRUNE_EVERY = 3600.0
_BURN_EVERY = 60.0


@dataclass(slots=True)
class SchedulerStats:
    """Counters read by /metrics at scrape time."""

    runs: Counter[str] = field(default_factory=Counter)  # by kind
    lag_buckets: list[int] = field(default_factory=lambda: [0] * (len(LAG_BOUNDS) + 1))
    lag_sum: float = 0.0
    late: int = 0
    skipped: int = 0  # runs not started because the previous run of the check was still going
    scheduled: int = 0
    in_flight: int = 0
    write_errors: int = 0
    promql_evaluations: int = 0  # rounds of PromQL rules evaluated through Prometheus' query API

    def observe_lag(self, lag: float) -> None:
        index = next((i for i, bound in enumerate(LAG_BOUNDS) if lag <= bound), len(LAG_BOUNDS))
        self.lag_buckets[index] += 1
        self.lag_sum += lag
        if lag > _LATE:
            self.late += 1


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # uvicorn[standard] brings it; without it the standard loop does the same job
        return None
    return uvloop.new_event_loop


def _forget(running: dict[int, asyncio.Task[None]], check_id: int, _task: asyncio.Task[None]) -> None:
    running.pop(check_id, None)


class CheckScheduler:
    def __init__(
        self,
        container: Container,
        *,
        max_concurrency: int = 2000,
        probers: Callable[[], Mapping[str, Prober]] = make_probers,
    ) -> None:
        self._container = container
        self._max_concurrency = max_concurrency
        self._make_probers = probers
        self.stats = SchedulerStats()
        self.plan = CheckPlan()
        self._spec: object = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._thread_main, name="siaga-checks", daemon=True)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="siaga-checks-writer")
        self._pending: list[Run] = []
        self._writing: Future[None] | None = None
        self._ready = threading.Event()
        self._promql_due: dict[str, float] = {}  # rule group → monotonic time of its next evaluation
        self._promql_task: asyncio.Task[None] | None = None

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Block until the first plan is loaded (tests and `siaga run` readiness)."""
        return self._ready.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=15)
        self._writer.shutdown(wait=True)

    def _thread_main(self) -> None:
        try:
            # uvloop (uvicorn's loop, already installed) costs less per wake-up and per socket than asyncio's.
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                runner.run(self._main())
        except Exception:
            log.exception("check scheduler stopped")

    # -- the loop ---------------------------------------------------------------------------------
    async def _main(self) -> None:
        probers = self._make_probers()
        slots = asyncio.Semaphore(self._max_concurrency)
        running: dict[int, asyncio.Task[None]] = {}
        heap: list[tuple[datetime, int, int]] = []  # (due, check id, plan generation; 0 = one-off)
        generation = 0
        last_flush = last_rollup = last_burn = time.monotonic()
        last_prune = 0.0
        seen = self._container.clock.now()  # the clock at the last look: slots after it are still to run
        try:
            while not self._stop.is_set():
                clock_now = self._container.clock.now()
                if self._container.spec is not self._spec:
                    generation += 1
                    heap = await self._replan(clock_now, generation, since=seen)
                    self._ready.set()
                seen = clock_now
                by_id = self._by_id
                while heap and heap[0][0] <= clock_now:
                    due, check_id, gen = heapq.heappop(heap)
                    check = by_id.get(check_id)
                    if gen not in (generation, 0) or check is None:
                        continue
                    if gen:
                        following = due + check.every
                        if following <= clock_now:  # fell a whole interval behind: rejoin the grid
                            following = next_run(check.key, check.every, clock_now)
                        heapq.heappush(heap, (following, check_id, gen))
                    if check_id in running:
                        self.stats.skipped += 1
                        continue
                    task = asyncio.create_task(self._run(check, due, probers, slots))
                    running[check_id] = task
                    task.add_done_callback(functools.partial(_forget, running, check_id))
                self.stats.in_flight = len(running)
                mono = time.monotonic()
                if mono - last_flush >= _FLUSH_EVERY:
                    last_flush = mono
                    self._flush()
                if mono - last_rollup >= _ROLLUP_EVERY:
                    last_rollup = mono
                    self._writer.submit(self._rollup, mono - last_prune >= _PRUNE_EVERY)
                    if mono - last_prune >= _PRUNE_EVERY:
                        last_prune = mono
                if mono - last_burn >= _BURN_EVERY:
                    last_burn = mono
                    self._writer.submit(self._evaluate_slos)
                self._maybe_evaluate_promql(mono)
                wait = _TICK
                if heap:
                    # At least a few milliseconds: runs due close together start in one wake-up.
                    due_in = (heap[0][0] - self._container.clock.now()).total_seconds()
                    wait = min(wait, max(due_in, _MIN_SLEEP))
                await asyncio.sleep(wait)
        finally:
            if self._promql_task is not None:
                self._promql_task.cancel()
            for task in list(running.values()):
                task.cancel()
            await asyncio.gather(*running.values(), return_exceptions=True)
            self._flush()
            await close_probers(probers)

    @property
    def _by_id(self) -> dict[int, PlannedCheck]:
        return self._plan_index

    async def _replan(
        self, now: datetime, generation: int, *, since: datetime
    ) -> list[tuple[datetime, int, int]]:
        """Load the plan of the spec in force and lay out each check's next slot after ``since`` (the
        previous look at the clock), so a reload drops no slot that fell due meanwhile."""
        wired = self._container
        spec = wired.spec  # read before planning: a reload meanwhile is noticed on the next tick
        loop = asyncio.get_running_loop()
        try:
            new_plan = await loop.run_in_executor(self._writer, wired.check_plan)
        except StorageError:
            log.warning("could not load the check plan; retrying")
            return []
        self.plan = new_plan
        self._plan_index = new_plan.by_id()
        self._spec = spec
        self.stats.scheduled = len(new_plan.checks)
        heap = [(next_run(c.key, c.every, since), c.id, generation) for c in new_plan.checks]
        if generation == 1:
            # At start, run every check once soon (spread over a few seconds) instead of waiting up to a
            # whole interval for its first grid slot: an hourly certificate check answers in seconds.
            spread = timedelta(seconds=5)
            heap += [(now + phase(c.key, min(spread, c.every)), c.id, 0) for c in new_plan.checks]
        heapq.heapify(heap)
        return heap

    _plan_index: dict[int, PlannedCheck] = {}

    async def _run(
        self, check: PlannedCheck, due: datetime, probers: Mapping[str, Prober], slots: asyncio.Semaphore
    ) -> None:
        async with slots:
            lag = (self._container.clock.now() - due).total_seconds()
            self.stats.observe_lag(max(lag, 0.0))
            self.stats.runs[check.spec.kind] += 1
            result: ProbeResult | None = None
            if check.heartbeat is None:
                prober = probers[check.spec.kind]
                timeout = check.spec.timeout.total_seconds()
                try:
                    # The prober keeps its own timeout; this one only guards against a prober bug.
                    async with asyncio.timeout(timeout + 5):
                        result = await prober.probe(check.spec.probe, timeout)
                except TimeoutError:
                    result = ProbeResult(ok=False, latency=timeout, error=f"timed out after {timeout:g}s")
                except Exception as error:
                    log.exception("probe %s failed", check.key)
                    result = ProbeResult(ok=False, latency=0.0, error=f"probe error: {type(error).__name__}")
            self._pending.append(Run(check.id, due, result))

    # -- writing ----------------------------------------------------------------------------------
    def _flush(self) -> None:
        if not self._pending or (self._writing is not None and not self._writing.done()):
            return
        runs, self._pending = self._pending, []
        self._writing = self._writer.submit(self._write, runs, self.plan)

    def _write(self, runs: list[Run], plan: CheckPlan) -> None:
        wired = self._container
        try:
            outcome = checks.record(
                uow=wired.db, policy=wired.policy, plan=plan, runs=runs, now=wired.clock.now()
            )
        except Exception:
            # Results are measurements, not promises: a failed write loses these samples (logged and
            # counted), never the alert state, which is only changed by a write that commits.
            self.stats.write_errors += 1
            log.exception("could not record %d check results", len(runs))
            return
        if outcome.queued or outcome.fired or outcome.resolved:
            wired.outbox_changed()

    def _rollup(self, prune: bool) -> None:
        wired = self._container
        try:
            rollups.roll_up(uow=wired.db, now=wired.clock.now(), settle=self._settle())
            if prune:
                rollups.prune(uow=wired.db, now=wired.clock.now(), retention=wired.spec.project.retention)
        except Exception:
            log.exception("check rollup failed; it runs again later")

    def _evaluate_slos(self) -> None:
        wired = self._container
        try:
            changed = slo_report.evaluate_burn(
                uow=wired.db, spec=wired.spec, policy=wired.policy, plan=self.plan, now=wired.clock.now()
            )
        except Exception:
            log.exception("SLO burn-rate evaluation failed; it runs again in a minute")
            return
        if changed:
            wired.outbox_changed()

    # -- PromQL rules Siaga evaluates itself (prometheus.url set, no Alertmanager) -------------------
    def _maybe_evaluate_promql(self, mono: float) -> None:
        spec = self._container.spec
        if not spec.prometheus.siaga_evaluates or (self._promql_task and not self._promql_task.done()):
            return
        prom = spec.prometheus
        due: list[Rule] = []
        for rule in spec.rules:
            group = rule.group or "siaga"
            if rule.expr is not None and self._promql_due.get(group, 0.0) <= mono:
                due.append(rule)
        if not due:
            return
        for group in {rule.group or "siaga" for rule in due}:
            self._promql_due[group] = (
                mono + prom.group_intervals.get(group, prom.rule_interval).total_seconds()
            )
        self._promql_task = asyncio.create_task(self._evaluate_promql(str(prom.url), due))

    async def _evaluate_promql(self, base_url: str, rules: list[Rule]) -> None:
        import aiohttp

        at = self._container.clock.now()
        async with aiohttp.ClientSession() as session:
            found = await query_rules(session, base_url, [str(rule.expr) for rule in rules], at)
        self._writer.submit(self._write_promql, list(zip(rules, found, strict=True)), at)

    def _write_promql(self, results: list[tuple[Rule, list[Sample] | None]], at: datetime) -> None:
        wired = self._container
        try:
            outcome = promql_rules.apply(uow=wired.db, policy=wired.policy, results=results, now=at)
        except Exception:
            log.exception("PromQL rule evaluation could not be recorded; it runs again next interval")
            return
        self.stats.promql_evaluations += 1
        if outcome.queued or outcome.fired or outcome.resolved:
            wired.outbox_changed()

    def _settle(self) -> timedelta:
        """How long after a minute ends all its runs have been written: the longest timeout, plus margin."""
        longest = max((c.spec.timeout for c in self.plan.checks), default=timedelta(0))
        return longest + timedelta(seconds=5)
