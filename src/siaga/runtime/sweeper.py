"""A background loop: the incident sweep (breaches, auto-resolve), escalation timers, maintenance
announcements and silence expiry every tick, and spec reloads."""

from __future__ import annotations

import logging
import threading
import time

from siaga.bootstrap import Container
from siaga.runtime.reloader import SpecReloader
from siaga.services import incidents, paging
from siaga.services.ports import StorageError

log = logging.getLogger(__name__)
_TIMER_TICK = 0.25


class Sweeper:
    def __init__(self, container: Container, *, reloader: SpecReloader | None = None) -> None:
        self._container = container
        self._reloader = reloader
        self._interval = container.settings.sweep_interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="siaga-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def run_once(self) -> incidents.SweepResult:
        """One tick: breaches and auto-resolves, due escalation steps, maintenance announcements, expired
        silences; then wake the dispatcher if any of it queued messages."""
        wired = self._container
        now = wired.clock.now()
        result = incidents.sweep(uow=wired.db, policy=wired.policy, now=now)
        queued = paging.advance_all(uow=wired.db, policy=wired.policy, now=now)
        queued += paging.announce(uow=wired.db, policy=wired.policy, now=now)
        queued += paging.expire_silences(uow=wired.db, policy=wired.policy, now=now)
        if queued or result.breaches or result.auto_resolved:
            wired.outbox_changed()
        return result

    def escalate_once(self) -> None:
        """Only the escalation timers (cheap when nothing is due: one indexed query)."""
        wired = self._container
        if paging.advance_all(uow=wired.db, policy=wired.policy, now=wired.clock.now()):
            wired.outbox_changed()

    def _run(self) -> None:
        # Escalation timers are looked at four times a second, so a step fires well within a second of
        # its time; the rest of the sweep runs every interval.
        tick = min(_TIMER_TICK, self._interval)
        next_sweep = time.monotonic() + self._interval
        while not self._stop.wait(tick):
            try:
                if time.monotonic() < next_sweep:
                    self.escalate_once()
                    continue
                next_sweep = time.monotonic() + self._interval
                if self._reloader is not None:
                    self._reloader.check()
                self.run_once()
            except StorageError:
                log.warning("incident sweep lost a race; it runs again next tick")
            except Exception:
                # The loop must outlive one bad tick; the next one retries from the database state.
                log.exception("incident sweep failed")
