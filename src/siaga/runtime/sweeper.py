"""A background loop that runs the incident sweep (breaches, auto-resolve) every few seconds."""

from __future__ import annotations

import logging
import threading

from siaga.services import incidents
from siaga.services.policy import Policy
from siaga.services.ports import Clock, StorageError, UnitOfWork

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(self, *, uow: UnitOfWork, policy: Policy, clock: Clock, interval: float) -> None:
        self._uow = uow
        self._policy = policy
        self._clock = clock
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="siaga-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def run_once(self) -> incidents.SweepResult:
        return incidents.sweep(uow=self._uow, policy=self._policy, now=self._clock.now())

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.run_once()
            except StorageError:
                log.warning("incident sweep lost a race; it runs again next tick")
            except Exception:
                # The loop must outlive one bad tick; the next one retries from the database state.
                log.exception("incident sweep failed")
