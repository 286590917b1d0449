"""The pieces every engine shares: the error it raises, child processes with drained stderr, the
contract of a streamed dump, and the restore pump."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Protocol, cast

from siaga.integrations.backup_engines.manifest import Manifest
from siaga.integrations.restic import CHUNK, Restic, ResticError, scrub

_STDERR_KEPT = 64 * 1024
_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
_DISK_FULL_WORDS = (
    "no space left on device",
    "file too large",
    "disk quota exceeded",
    "could not extend file",
)


class BackupError(Exception):
    """A backup or restore step failed; ``kind`` names how (see ``docs/backups-engines.md``), ``reason`` is
    one line for people, without secrets."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


class StreamedDump(Protocol):
    """A dump in progress, opened (source connected, snapshot taken) but not yet read."""

    filename: str
    secrets: Sequence[str]
    timings: dict[str, float]

    def chunks(self) -> Iterator[bytes]:
        """The dump's bytes, ~1 MiB at a time (validators are fed the same bytes)."""
        ...

    def finish(self) -> Manifest:
        """After ``chunks`` ran out: check every exit code and validator; the manifest, or BackupError."""
        ...

    def kill(self) -> None:
        """Kill the child processes now (any thread: the watchdog uses it)."""
        ...

    def close(self) -> None:
        """Release everything (processes, connections, temp files); safe to call twice."""
        ...


class Child:
    """A subprocess whose stderr (and optionally stdout) a thread drains, so it can never block on them.

    With ``feed_stdin`` its stdin is a pipe written by ``feed``; a child that stops reading (``pg_restore
    --list`` exits once it has the table of contents) is simply no longer fed.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdin: int | IO[bytes] | None = subprocess.DEVNULL,
        stdout: int | IO[bytes] | None = subprocess.PIPE,
        capture_stdout: bool = False,
    ) -> None:
        self.name = name
        self.process = subprocess.Popen(  # noqa: S603 — fixed argv, no shell
            list(argv),
            stdin=stdin,
            stdout=stdout,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None,
        )
        self._stderr = bytearray()
        self._stdout = bytearray()
        assert self.process.stderr is not None  # noqa: S101 — a pipe, asked for above
        self._threads = [
            threading.Thread(target=self._drain_stderr, args=(self.process.stderr,), daemon=True)
        ]
        if capture_stdout and self.process.stdout is not None:
            out = self.process.stdout
            self._threads.append(threading.Thread(target=self._drain_stdout, args=(out,), daemon=True))
        for thread in self._threads:
            thread.start()
        self.fed = True  # False once the child stopped reading its stdin

    @property
    def stdout(self) -> IO[bytes]:
        assert self.process.stdout is not None  # noqa: S101 — callers asked for a pipe
        return self.process.stdout

    def feed(self, chunk: bytes) -> None:
        if not self.fed or self.process.stdin is None:
            return
        try:
            self.process.stdin.write(chunk)
        except (BrokenPipeError, ValueError):
            self.fed = False

    def close_stdin(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()

    def wait(self, timeout: float | None = None) -> int:
        self.close_stdin()
        returncode = self.process.wait(timeout=timeout)
        for thread in self._threads:
            thread.join()
        return returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()

    def stop(self) -> None:
        """Kill if still running and reap, closing every pipe."""
        self.kill()
        self.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def stdout_text(self) -> str:
        return self._stdout.decode("utf-8", "replace")

    def stderr_text(self) -> str:
        return self._stderr.decode("utf-8", "replace")

    def complaint(self, secrets: Sequence[str]) -> str:
        """The most telling line of stderr (the first error, else the last line), scrubbed."""
        lines = [line.strip() for line in self.stderr_text().splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line.lower() or "fatal" in line.lower()]
        line = errors[0] if errors else (lines[-1] if lines else "no message")
        return scrub(line, secrets)

    def _drain_stderr(self, pipe: IO[bytes]) -> None:
        while chunk := read_some(pipe):
            self._stderr += chunk
            del self._stderr[: max(0, len(self._stderr) - _STDERR_KEPT)]
        pipe.close()

    def _drain_stdout(self, pipe: IO[bytes]) -> None:
        while chunk := read_some(pipe):
            self._stdout += chunk
        pipe.close()


def read_some(pipe: IO[bytes]) -> bytes:
    """Whatever the pipe has now (up to 1 MiB), b"" at its end: for readers that must not wait for more."""
    return cast(io.BufferedReader, pipe).read1(CHUNK)


def tool_env(**extra: str | None) -> dict[str, str]:
    """This process's environment plus ``extra`` (None values left out)."""
    env = dict(os.environ)
    env.update({key: value for key, value in extra.items() if value is not None})
    return env


def failure_kind(text: str, default: str) -> str:
    """``disk_full`` when ``text`` says the disk is full, else ``default``."""
    lowered = text.lower()
    return "disk_full" if any(word in lowered for word in _DISK_FULL_WORDS) else default


def restic_failure(error: ResticError, restic: Restic) -> BackupError:
    return BackupError(error.kind, f"{restic.label}: {error.message}")


def pump_snapshot(restic: Restic, snapshot_id: str, filename: str, sink: IO[bytes]) -> int:
    """Stream one file of a snapshot into ``sink``; return the bytes moved.

    Raises BackupError: ``disk_full`` when the sink's disk is, ``restore_failed`` when the sink stops taking
    data, restic's kind when restic fails.
    """
    dump = restic.dump(snapshot_id, filename)
    assert dump.stdout is not None  # noqa: S101 — Restic.dump pipes it
    moved = 0
    try:
        while chunk := dump.stdout.read(CHUNK):
            _write_all(sink, chunk)
            moved += len(chunk)
        sink.flush()
    except BrokenPipeError:
        dump.kill()
        dump.wait()
        raise BackupError("restore_failed", "the restore target stopped reading the data") from None
    except OSError as exc:
        dump.kill()
        dump.wait()
        raise os_failure(exc, "writing the restored data") from None
    finally:
        dump.stdout.close()
    try:
        restic.wait(dump)
    except ResticError as exc:
        raise restic_failure(exc, restic) from None
    return moved


def os_failure(exc: OSError, doing: str) -> BackupError:
    """``disk_full`` for ENOSPC / EFBIG / EDQUOT, else ``restore_failed``, saying what was being done."""
    kind = "disk_full" if exc.errno in _DISK_FULL_ERRNOS else "restore_failed"
    return BackupError(kind, f"{doing} failed: {exc.strerror or exc}")


def _write_all(sink: IO[bytes], chunk: bytes) -> None:
    # An unbuffered file may take part of a chunk (the disk filling up): write the rest, or raise.
    view = memoryview(chunk)
    while view:
        written = sink.write(view)
        if written is None or written >= len(view):
            return
        view = view[written:]
