"""Runs backup jobs, verifies and drills when their schedules say, watches for stale backups, and runs the
security audit on `security.every`.

One thread, one operation at a time (backups are I/O-heavy; running two against the same database or
repository only makes both slower). Each (job, kind) keeps a cursor in the database: the schedule slot it
last handled, so a restart neither repeats a slot nor runs the ones it missed while down (it notes them
in the log; the stale-backup alert tells people when a backup is overdue).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from siaga.bootstrap import Container
from siaga.domain import backups as domain
from siaga.services import backup_health, backups
from siaga.spec.backups import schedule_cron

log = logging.getLogger(__name__)
_TICK = 30.0


class BackupScheduler:
    def __init__(self, container: Container, *, tick: float = _TICK) -> None:
        self._container = container
        self._tick = tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="siaga-backups", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def context(self) -> backups.Context:
        wired = self._container
        return backups.Context(
            spec=wired.spec,
            uow=wired.db,
            policy=wired.policy,
            clock=wired.clock,
            data_dir=wired.settings.data_dir,
        )

    def _main(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("backup scheduling failed; it tries again in %.0f s", self._tick)
            self._stop.wait(self._tick)

    def due(self, now: datetime) -> list[tuple[str, str]]:
        """The (job, kind) pairs whose schedule slot has come since their cursor (cursors advanced)."""
        ctx = self.context()
        found: list[tuple[str, str]] = []
        with ctx.uow.transaction() as store:
            for name, job in sorted(ctx.spec.backups.jobs.items()):
                schedules = {
                    "backup": job.schedule,
                    "verify": job.verify,
                    "drill": job.drill.every if job.drill else None,
                }
                for kind, schedule in schedules.items():
                    if schedule is None:
                        continue
                    cursor_name = f"backup:{name}:{kind}"
                    cursor = store.job_cursor(cursor_name)
                    if cursor is None:
                        store.set_job_cursor(cursor_name, now)
                        continue
                    slots = domain.due_runs(schedule_cron(schedule), ctx.spec.project.timezone, cursor, now)
                    if not slots:
                        continue
                    if len(slots) > 1:
                        log.warning(
                            "%s %s: %d schedule slots passed while Siaga was down; running once",
                            kind,
                            name,
                            len(slots),
                        )
                    store.set_job_cursor(cursor_name, slots[-1])
                    found.append((name, kind))
        return found

    def tick(self, run: Callable[[backups.Context, str, str], object] | None = None) -> None:
        """One pass: run what is due, then settle the alerts that move with the clock (staleness)."""
        ctx = self.context()
        if not ctx.spec.backups.jobs and ctx.spec.security.every is None:
            return  # nothing to schedule: no database work at all
        changed = False
        for name, kind in self.due(ctx.clock.now()):
            if self._stop.is_set():
                return
            (run or _run)(ctx, name, kind)
            changed = True
        changed |= bool(
            backup_health.evaluate(uow=ctx.uow, policy=ctx.policy, spec=ctx.spec, now=ctx.clock.now())
        )
        if self.audit_due(ctx.clock.now()):
            self.audit()
            changed = True
        if changed:
            self._container.outbox_changed()

    # -- the security audit on `security.every` (the same thread: audits are I/O-bound and rare) -------
    def audit_due(self, now: datetime) -> bool:
        every = self._container.spec.security.every
        if every is None:
            return False
        with self._container.db.transaction() as store:
            last = store.job_cursor("audit:last")
            if last is not None and now - last < every:
                return False
            store.set_job_cursor("audit:last", now)
        return True

    def audit(self) -> None:
        import asyncio

        from siaga.services import audit

        wired = self._container
        request = audit.request_from_spec(wired.spec, wired.settings.config_path.resolve().parent)
        result = asyncio.run(audit.audit(request, now=wired.clock.now))
        audit.record(uow=wired.db, policy=wired.policy, spec=wired.spec, result=result)
        log.info("security audit: overall %d, %d findings", result.scores.overall, len(result.findings))


def _run(ctx: backups.Context, name: str, kind: str) -> object:
    if kind == "backup":
        return backups.run_backup(ctx, name)
    if kind == "verify":
        return backups.verify(ctx, name)
    return backups.drill(ctx, name)
