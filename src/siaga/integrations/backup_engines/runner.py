"""One backup carried out: the dump teed into one ``restic backup --stdin`` per repository, the manifest
written next to it, and every failure turned into a recorded reason with nothing left behind.

Per repository, the data snapshot and then the manifest's, tagged with the same ``siaga:backup=<id>``.
The manifest's upload starts while the dump still streams, once restic has taken in the first MiB of the
data (so it holds its lock: see ``_pump``), and only waits for the manifest at the end; a dump smaller
than that writes its manifest after the data. Snapshot ids are the ones restic prints (restic 0.14: the
short form, a unique prefix that every restic command accepts), so a backup runs no ``restic
snapshots``. Several repositories are written at once.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from siaga.integrations.backup_engines import directory
from siaga.integrations.backup_engines.manifest import MANIFEST_FILENAME, Manifest
from siaga.integrations.backup_engines.processes import BackupError, StreamedDump, restic_failure
from siaga.integrations.restic import CHUNK, Restic, ResticError, StdinUpload

TAG_MANIFEST = "siaga:manifest"
_QUEUED = 64  # chunks of 1 MiB waiting for one restic at most
TAG_BACKUP = "siaga:backup="


class _Watchdog:
    """Calls every ``kill`` once ``timeout`` seconds have passed (unless cancelled first)."""

    def __init__(self, timeout: float | None, kills: list[Callable[[], None]]) -> None:
        self.expired = False
        self._kills = kills
        self._timer = threading.Timer(timeout, self._fire) if timeout else None
        if self._timer is not None:
            self._timer.daemon = True
            self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _fire(self) -> None:
        self.expired = True
        for kill in self._kills:
            kill()


class BackupRun:
    """One backup's bookkeeping: failed repositories, snapshots made, how long each phase took."""

    def __init__(
        self, repositories: Sequence[Restic], data_tags: list[str], manifest_tags: list[str], host: str
    ):
        self.repositories = list(repositories)
        self.data_tags = data_tags
        self.manifest_tags = manifest_tags
        self.pair = next(tag for tag in data_tags if tag.startswith(TAG_BACKUP))
        self.host = host
        self.failures: dict[str, BackupError] = {}
        self.snapshots: dict[str, str] = {}
        self.manifest_snapshots: dict[str, str] = {}
        self.durations: dict[str, float] = {}
        self.manifest: Manifest | None = None
        self.manifest_uploads: dict[str, StdinUpload] = {}  # started while the dump streams
        self.bytes = 0
        self.failure: BackupError | None = None

    def final_failure(self) -> BackupError | None:
        """The failure to report: the backup's own, else every failed repository's."""
        if self.failure is None and self.failures:
            return combined(self.failures)
        return self.failure

    def streamed(self, open_dump: Callable[[], StreamedDump], timeout: float | None) -> None:
        """Dump (``open_dump`` connects and takes the snapshot first: failing there starts nothing)."""
        started = time.perf_counter()
        dump = open_dump()
        uploads: list[tuple[Restic, StdinUpload]] = []

        def interrupt_uploads() -> None:
            # SIGINT, not SIGKILL: restic records nothing and removes its lock.
            for upload in [*(upload for _, upload in uploads), *self.manifest_uploads.values()]:
                upload.interrupt()

        watchdog = _Watchdog(timeout, [dump.kill, interrupt_uploads])
        too_long = f"the backup took longer than {timeout or 0:g}s"
        try:
            try:
                for restic in self.repositories:
                    uploads.append(
                        (restic, restic.start_stdin_backup(dump.filename, self.data_tags, self.host))
                    )
                self._pump(dump, uploads)
                self.durations["dump"] = time.perf_counter() - started
                if len(self.failures) == len(uploads):
                    raise combined(self.failures)
                checked = time.perf_counter()
                self.manifest = dump.finish()
                self.durations["validate"] = time.perf_counter() - checked
                if "checksums" in dump.timings:
                    self.durations["checksums"] = dump.timings["checksums"]
                if watchdog.expired:
                    raise BackupError("timeout", too_long)
            except BaseException as exc:
                notes = [note for restic, upload in uploads for note in _stop(restic, upload)]
                notes += [note for restic, _ in uploads for note in self._stop_manifest(restic)]
                problems = "".join(f" ({note})" for note in notes)
                if watchdog.expired:
                    raise BackupError("timeout", too_long + problems) from None
                if isinstance(exc, ResticError):
                    raise BackupError(exc.kind, exc.message + problems) from None
                if isinstance(exc, BackupError) and problems:
                    raise BackupError(exc.kind, exc.reason + problems) from None
                raise
            uploading = time.perf_counter()
            for restic, upload in uploads:
                if restic.label in self.failures:
                    continue
                try:
                    short = upload.commit(resolve=False)
                except ResticError as exc:
                    failure = restic_failure(exc, restic)
                    self.failures[restic.label] = (
                        BackupError("timeout", too_long) if watchdog.expired else failure
                    )
                    self._stop_manifest(restic)
                    continue
                self._record_manifest(restic, short)
            self.durations["upload"] = time.perf_counter() - uploading
        finally:
            watchdog.cancel()
            dump.close()
            for restic in self.repositories:  # any manifest upload still open records nothing
                self._stop_manifest(restic)
        if len(self.failures) == len(self.repositories):
            raise combined(self.failures)

    def directory(self, root: Path) -> None:
        started = time.perf_counter()
        self.manifest = directory.measure(str(root), "dump_failed")
        self.bytes = self.manifest.size
        self.durations["checksums"] = time.perf_counter() - started
        self.durations["dump"] = 0.0
        uploading = time.perf_counter()
        for restic in self.repositories:
            try:
                short = directory.back_up(restic, root, self.data_tags, self.host)
            except BackupError as exc:
                self.failures[restic.label] = exc
                continue
            self._record_manifest(restic, short)
        self.durations["upload"] = time.perf_counter() - uploading
        if len(self.failures) == len(self.repositories):
            raise combined(self.failures)

    def _pump(self, dump: StreamedDump, uploads: list[tuple[Restic, StdinUpload]]) -> None:
        """Every chunk of the dump to every upload still running; stop once none is.

        Each upload is written by its own thread from a queue (at most ``_QUEUED`` chunks), so the
        dump streams on while restic derives its key and loads its index instead of waiting for it.
        Once a whole chunk (1 MiB, more than a pipe holds) has gone into an upload, that restic is
        reading its input, so it has its lock: the manifest's upload to the same repository starts
        then. (restic 0.14 stalls ~40 s when another process's lock vanishes while it takes its own;
        taken now, the data upload's lock is there before and after.)
        """
        feeders = {restic.label: _Feeder(upload) for restic, upload in uploads}
        try:
            for chunk in dump.chunks():
                self.bytes += len(chunk)
                for restic, upload in uploads:
                    if restic.label in self.failures:
                        continue
                    feeder = feeders[restic.label]
                    if not feeder.put(chunk):
                        self.failures[restic.label] = _gone(restic, upload)
                        self._stop_manifest(restic)
                    elif feeder.reading.is_set() and restic.label not in self.manifest_uploads:
                        self.manifest_uploads[restic.label] = restic.start_stdin_backup(
                            MANIFEST_FILENAME, self.manifest_tags, self.host
                        )
                if len(self.failures) == len(uploads):
                    return
            for restic, upload in uploads:
                if restic.label not in self.failures and not feeders[restic.label].close():
                    self.failures[restic.label] = _gone(restic, upload)
                    self._stop_manifest(restic)
        finally:
            for feeder in feeders.values():
                feeder.close(discard=True)

    def _stop_manifest(self, restic: Restic) -> list[str]:
        upload = self.manifest_uploads.pop(restic.label, None)
        return _stop(restic, upload) if upload is not None else []

    def _record_manifest(self, restic: Restic, data_id: str) -> None:
        """Write the manifest next to ``data_id``; on failure forget the data too.

        Never two commands on one repository whose locks could cross (see ``_pump``): an upload started
        early is finished now; otherwise the manifest's upload starts after the data's has ended.
        """
        assert self.manifest is not None  # noqa: S101 — taken before any data upload commits
        upload = self.manifest_uploads.pop(restic.label, None)
        try:
            if upload is None:
                short = restic.backup_stdin(
                    [self.manifest.to_json()], MANIFEST_FILENAME, self.manifest_tags, self.host, resolve=False
                )
            else:
                upload.write(self.manifest.to_json())  # if restic has gone, commit raises its error
                short = upload.commit(resolve=False)
        except ResticError as exc:
            self.failures[restic.label] = restic_failure(exc, restic)
            # The same repository just failed: if this fails too, the orphan waits for the next retention.
            with contextlib.suppress(ResticError):
                restic.forget([data_id], prune=True)
            return
        self.snapshots[restic.label] = data_id
        self.manifest_snapshots[restic.label] = short


class _Feeder(threading.Thread):
    """Writes queued chunks into one upload; ``reading`` is set once restic has taken a whole chunk."""

    def __init__(self, upload: StdinUpload) -> None:
        super().__init__(name="restic-feeder", daemon=True)
        self._upload = upload
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUED)
        self._discard = False
        self._closed = False
        self.gone = False  # restic stopped reading
        self.reading = threading.Event()
        self.start()

    def put(self, chunk: bytes) -> bool:
        """Queue ``chunk``; False once restic has gone."""
        if self.gone:
            return False
        self._queue.put(chunk)
        return True

    def close(self, discard: bool = False) -> bool:
        """Wait until everything queued is written (or, with ``discard``, dropped); False if restic
        went away."""
        self._discard = self._discard or discard
        if not self._closed:
            self._closed = True
            self._queue.put(None)
        self.join()
        return not self.gone

    def run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self.gone or self._discard:
                continue
            if not self._upload.write(chunk):
                self.gone = True
            elif len(chunk) >= CHUNK:
                self.reading.set()


def _stop(restic: Restic, upload: StdinUpload) -> list[str]:
    """Abort an upload (forgetting anything recorded anyway); what could not be cleaned up, as notes."""
    problems: list[str] = []
    try:
        recorded = upload.abort()
        if recorded:
            restic.forget([recorded], prune=True)
    except ResticError as exc:
        problems.append(f"{restic.label}: could not remove a partial snapshot: {exc.message}")
    if upload.interrupted:
        # An interrupted restic can leave its lock behind, which would block the next prune or check;
        # ``unlock`` removes only stale locks, never a live process's.
        with contextlib.suppress(ResticError):
            restic.unlock()
    return problems


def combined(failures: Mapping[str, BackupError]) -> BackupError:
    """One failure for several repositories: the first one's kind, every reason."""
    first = next(iter(failures.values()))
    return BackupError(first.kind, "; ".join(error.reason for error in failures.values()))


def _gone(restic: Restic, upload: StdinUpload) -> BackupError:
    """restic stopped reading its input: its error, as a BackupError."""
    try:
        recorded = upload.commit(resolve=False)
    except ResticError as exc:
        return restic_failure(exc, restic)
    restic.forget([recorded], prune=True)
    return BackupError("failed", f"{restic.label}: restic stopped reading the dump")
