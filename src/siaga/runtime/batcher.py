"""Group commit for alert intake: alerts from concurrent requests share one transaction.

A request is answered only after the transaction holding its alerts has committed, so a 2xx still means
"on disk"; but a burst of single-alert webhooks costs a handful of transactions instead of one each.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future

from siaga.bootstrap import Container
from siaga.services import ingest
from siaga.services.ingest import IngestResult, Submission

log = logging.getLogger(__name__)
_STOP = object()


class IngestBatcher:
    def __init__(self, container: Container, *, max_alerts: int = 2000) -> None:
        self._container = container
        self._max_alerts = max_alerts
        self._queue: queue.SimpleQueue[tuple[Submission, Future[IngestResult]] | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._thread = threading.Thread(target=self._run, name="siaga-ingest", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout=30)
        self._thread = None

    def submit(self, submission: Submission) -> Future[IngestResult]:
        if not self.running:
            raise RuntimeError("the ingest writer is not running")
        future: Future[IngestResult] = Future()
        self._queue.put((submission, future))
        return future

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch = [item]
            size = len(item[0].alerts)  # type: ignore[index]
            stop_after = False
            while size < self._max_alerts:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop_after = True
                    break
                batch.append(more)
                size += len(more[0].alerts)  # type: ignore[index]
            self._write(batch)  # type: ignore[arg-type]
            if stop_after:
                return

    def _write(self, batch: list[tuple[Submission, Future[IngestResult]]]) -> None:
        wired = self._container
        try:
            results = ingest.ingest_many(
                uow=wired.db,
                policy=wired.policy,
                submissions=[sub for sub, _ in batch],
                now=wired.clock.now(),
            )
        except Exception as error:  # noqa: BLE001 - handed to the waiting request, which answers 500
            if len(batch) == 1:
                batch[0][1].set_exception(error)
                return
            # One bad submission must not fail its neighbours: retry them one by one.
            log.warning(
                "grouped ingest failed (%s); retrying %d submissions singly", type(error).__name__, len(batch)
            )
            for single in batch:
                self._write([single])
            return
        if any(result.queued for result in results):
            wired.outbox_changed()
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)
