"""restic, driven as a subprocess: one repository per ``Restic``, ``--json`` where restic 0.14 offers it.

Secrets never reach a command line: the repository password goes to the child as ``RESTIC_PASSWORD``,
S3 keys as ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``; inherited ``RESTIC_PASSWORD*`` and
``RESTIC_REPOSITORY*`` variables are dropped so they cannot override them. Every error message is one
line, scrubbed of them.

Errors::

    Exception
     └── ResticError(kind, message)
           kind: wrong_password · unreachable · no_repository · locked · disk_full · corrupt
                 · not_found (no such snapshot or file)
                 · incomplete (exit 3: some files unreadable; ``snapshot_id`` holds the partial snapshot)
                 · aborted · timeout · failed

restic 0.14 has no dedicated exit codes for these (they came in 0.17), so ``classify`` reads stderr.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlsplit, urlunsplit

from siaga.spec.backups import Repository

__all__ = [
    "CHUNK",
    "RepoLocation",
    "Restic",
    "ResticError",
    "SnapshotInfo",
    "SnapshotStats",
    "StdinUpload",
    "classify",
    "scrub",
]

CHUNK = 1 << 20
"""Bytes moved per read/write when streaming: bounded memory, few system calls."""

_STDERR_KEPT = 64 * 1024
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_SECRET_ENV_WORDS = ("KEY", "SECRET", "TOKEN", "PASSWORD")
_DROPPED_ENV = (
    "RESTIC_PASSWORD",
    "RESTIC_PASSWORD_FILE",
    "RESTIC_PASSWORD_COMMAND",
    "RESTIC_REPOSITORY",
    "RESTIC_REPOSITORY_FILE",
    "RESTIC_KEY_HINT",
)
# Ordered: the first match wins. "unreachable" precedes "no_repository" because restic follows a network
# error when reading the config with "Is there a repository at the following location?" as well.
_PATTERNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("wrong_password", ("wrong password or no key found",)),
    (
        "unreachable",
        (
            "connection refused",
            "no such host",
            "i/o timeout",
            "network is unreachable",
            "no route to host",
            "connection reset",
            "tls handshake timeout",
            "context deadline exceeded",
            "server misbehaving",
        ),
    ),
    ("locked", ("repository is already locked", "unable to create lock")),
    ("disk_full", ("no space left on device", "file too large", "disk quota exceeded")),
    (
        "no_repository",
        (
            "is there a repository at the following location",
            "the specified bucket does not exist",
            "repository does not exist",
        ),
    ),
    ("corrupt", ("repository contains errors", "ciphertext verification failed")),
    ("not_found", ("no snapshot found", "no matching id found", "not found in snapshot")),
)


class ResticError(Exception):
    """A restic command failed; ``kind`` says how (see the module docstring), ``message`` is one line."""

    def __init__(self, kind: str, message: str, *, snapshot_id: str | None = None) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.snapshot_id = snapshot_id


@dataclass(frozen=True)
class RepoLocation:
    """Where a repository is and how to open it. ``password`` and ``env`` are secrets (kept out of repr)."""

    url: str  # "/srv/backups/main" or "s3:http://127.0.0.1:9000/bucket/prefix"
    password: str = field(repr=False)
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # S3 keys, AWS_DEFAULT_REGION
    name: str = ""  # the spec's key for it, when it has one

    @classmethod
    def from_spec(cls, repository: Repository, name: str = "") -> RepoLocation:
        """Given a spec ``Repository`` (and its key), return its location with the secrets resolved."""
        env: dict[str, str] = {}
        if repository.s3 is not None:
            s3 = repository.s3
            url = f"s3:{s3.endpoint.rstrip('/')}/{s3.bucket}"
            if s3.prefix.strip("/"):
                url += "/" + s3.prefix.strip("/")
            if repository.access_key is not None and repository.secret_key is not None:
                env["AWS_ACCESS_KEY_ID"] = repository.access_key.get_secret_value()
                env["AWS_SECRET_ACCESS_KEY"] = repository.secret_key.get_secret_value()
            if s3.region:
                env["AWS_DEFAULT_REGION"] = s3.region
        else:
            url = str(repository.path)
        return cls(url=url, password=repository.password.get_secret_value(), env=env, name=name)

    @property
    def label(self) -> str:
        """A name for messages: the spec key, else the URL with any embedded password masked."""
        return self.name or _mask_userinfo(self.url)

    def secrets(self) -> list[str]:
        """The values that must never appear in a message."""
        values = [self.password]
        values += [v for k, v in self.env.items() if any(word in k.upper() for word in _SECRET_ENV_WORDS)]
        password = urlsplit(self.url.removeprefix("s3:").removeprefix("rest:")).password
        if password:
            values.append(password)
        return [value for value in values if value]


@dataclass(frozen=True)
class SnapshotInfo:
    """One snapshot as ``restic snapshots --json`` lists it (restic 0.14 records no size: None)."""

    id: str
    time: datetime
    tags: tuple[str, ...]
    paths: tuple[str, ...]
    hostname: str
    size: int | None = None

    @property
    def short_id(self) -> str:
        return self.id[:8]


@dataclass(frozen=True)
class SnapshotStats:
    """``restic stats --json`` of one snapshot (restore-size mode: what a restore would write)."""

    total_size: int
    total_file_count: int


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` on one line, at most 300 characters, without ANSI codes or any of ``secrets``."""
    text = _ANSI.sub("", text)
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote(secret)}:
            text = text.replace(form, "***")
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:299] + "…"


def classify(returncode: int, stderr: str) -> str:
    """Given a failed restic's exit code and stderr, return the error kind."""
    if returncode == -signal.SIGXFSZ:
        return "disk_full"
    lowered = stderr.lower()
    for kind, needles in _PATTERNS:
        if any(needle in lowered for needle in needles):
            return kind
    if returncode == 3:
        return "incomplete"
    if returncode in (-signal.SIGINT, -signal.SIGTERM, -signal.SIGKILL, 130):
        return "aborted"
    return "failed"


def _mask_userinfo(url: str) -> str:
    scheme, _, rest = url.partition(":")
    if scheme not in ("s3", "rest") or "://" not in rest:
        return url
    parts = urlsplit(rest)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return f"{scheme}:{urlunsplit(parts._replace(netloc=netloc))}"


def _message(stderr: str, returncode: int) -> str:
    lines = [line.strip() for line in _ANSI.sub("", stderr).splitlines() if line.strip()]
    fatal = [line.removeprefix("Fatal: ") for line in lines if line.startswith("Fatal:")]
    if fatal:
        text = fatal[0]
        if re.fullmatch(r"There were \d+ errors", text):
            first = next((line for line in lines if line.startswith("ignoring error for")), None)
            text += f" (first: {first.removeprefix('ignoring error for ')})" if first else ""
        if "Is there a repository" in stderr and "repository" not in text.lower():
            text += " (is there a repository at this location?)"
        return text
    if lines:
        return lines[-1]
    if returncode < 0:
        return f"restic was killed by signal {signal.Signals(-returncode).name}"
    return f"restic exited with code {returncode}"


def _parse_time(text: str) -> datetime:
    # restic writes nanoseconds; Python reads at most microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _check_tags(tags: Sequence[str]) -> None:
    for tag in tags:
        if not tag or "," in tag:
            raise ValueError(f"restic tags must be non-empty and hold no comma: {tag!r}")


class _Drain(threading.Thread):
    """Reads a child's pipe to the end, keeping the last ``limit`` bytes (or the last lines)."""

    def __init__(self, pipe: IO[bytes], *, limit: int = _STDERR_KEPT, lines: int = 0) -> None:
        super().__init__(daemon=True)
        self._pipe = pipe
        self._limit = limit
        self._buffer = bytearray()
        self.lines: collections.deque[bytes] = collections.deque(maxlen=max(lines, 1))
        self._by_line = lines > 0
        self.start()

    def run(self) -> None:
        if self._by_line:
            for line in self._pipe:
                self.lines.append(line)
        else:
            while chunk := self._pipe.read(CHUNK):
                self._buffer += chunk
                del self._buffer[: max(0, len(self._buffer) - self._limit)]
        self._pipe.close()

    def text(self) -> str:
        self.join()
        return self._buffer.decode("utf-8", "replace")


class StdinUpload:
    """A running ``restic backup --stdin``: ``write`` chunks, then ``commit`` (→ snapshot id) or ``abort``.

    ``abort`` interrupts restic before it has seen the end of its input, so it records no snapshot.
    """

    def __init__(self, restic: Restic, process: subprocess.Popen[bytes]) -> None:
        self._restic = restic
        self._process = process
        assert process.stdout is not None  # noqa: S101 — a pipe
        assert process.stderr is not None  # noqa: S101 — a pipe
        self._stdout = _Drain(process.stdout, lines=16)
        self._stderr = _Drain(process.stderr)
        self.bytes = 0
        self.interrupted = False

    def write(self, chunk: bytes) -> bool:
        """Send ``chunk``; False when restic has gone (then ``commit`` raises its error)."""
        stdin = self._process.stdin
        if stdin is None or stdin.closed:
            return False
        try:
            stdin.write(chunk)
        except (BrokenPipeError, ValueError):
            return False
        self.bytes += len(chunk)
        return True

    def commit(self, resolve: bool = True) -> str:
        """End the input and wait; return the new snapshot's id (full when ``resolve``, else restic's
        short one) or raise ``ResticError``."""
        self._close_stdin()
        returncode = self._restic._wait(self._process)
        stderr = self._stderr.text()
        self._stdout.join()
        if returncode != 0:
            raise self._restic._error(returncode, stderr)
        short = _summary_id(self._stdout.lines)
        if short is None:
            raise ResticError("failed", "restic backup printed no snapshot id")
        return self._restic.snapshot(short).id if resolve else short

    def abort(self) -> str | None:
        """Stop restic without recording a snapshot; return the id of one recorded anyway, if any.

        An interrupted restic may leave its lock behind (when the signal beats the lock's creation, its
        cleanup misses it): ``interrupted`` says so, and ``Restic.unlock`` removes such stale locks.
        """
        if self._process.poll() is None:
            self.interrupted = True
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._close_stdin()
        self._stderr.join()
        self._stdout.join()
        short = _summary_id(self._stdout.lines) if self._process.returncode == 0 else None
        return self._restic.snapshot(short).id if short else None

    def interrupt(self) -> None:
        """Ask restic to stop (SIGINT: it records nothing); ``abort`` waits for it."""
        if self._process.poll() is None:
            self.interrupted = True
            self._process.send_signal(signal.SIGINT)

    def kill(self) -> None:
        """Kill restic at once (a last resort: its lock stays behind, stale, until ``Restic.unlock``)."""
        if self._process.poll() is None:
            self.interrupted = True
            self._process.kill()

    def _close_stdin(self) -> None:
        stdin = self._process.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()


def _summary_id(lines: Iterable[bytes]) -> str | None:
    for line in reversed(list(lines)):
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("message_type") == "summary":
            snapshot_id = message.get("snapshot_id")
            return str(snapshot_id) if snapshot_id else None
    return None


class Restic:
    """One restic repository. Every method runs restic to completion (except ``dump``) and raises
    ``ResticError`` when it fails."""

    def __init__(
        self,
        repository: RepoLocation,
        *,
        binary: str = "restic",
        cache_dir: Path | None = None,
        timeout: float | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.repository = repository
        self._binary = binary
        self._cache_dir = cache_dir
        self._timeout = timeout  # for the commands that run to completion (not streams)
        # Snapshots are stamped with Siaga's clock (restic's --time), so retention decisions and the
        # snapshots' own times agree, also on a virtual clock.
        self._clock = clock

    def _time_args(self) -> list[str]:
        if self._clock is None:
            return []
        return ["--time", self._clock().astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")]

    def __repr__(self) -> str:
        return f"Restic({self.label!r})"

    @property
    def label(self) -> str:
        return self.repository.label

    def scrub(self, text: str) -> str:
        """``text`` as one line with this repository's secrets masked."""
        return scrub(text, self.repository.secrets())

    def init(self) -> None:
        """Create the repository; an existing one is fine when the password opens it."""
        process = self._run(["init"], check=False)
        if process.returncode == 0:
            return
        stderr = process.stderr.decode("utf-8", "replace")
        if "already exists" not in stderr and "already initialized" not in stderr:
            raise self._error(process.returncode, stderr)
        self._run(["cat", "config"])  # proves the password opens it

    def start_stdin_backup(self, filename: str, tags: Sequence[str] = (), host: str = "siaga") -> StdinUpload:
        """Start ``restic backup --stdin`` recording one file ``filename``; feed it through the upload."""
        _check_tags(tags)
        args = [
            "backup",
            "--json",
            "--stdin",
            "--stdin-filename",
            filename,
            "--host",
            host,
            *self._time_args(),
        ]
        args += [arg for tag in tags for arg in ("--tag", tag)]
        return StdinUpload(self, self._popen(args, stdin=subprocess.PIPE))

    def backup_stdin(
        self,
        producer: subprocess.Popen[bytes] | Iterable[bytes],
        filename: str,
        tags: Sequence[str] = (),
        host: str = "siaga",
        *,
        resolve: bool = True,
    ) -> str:
        """Stream ``producer`` (a running process's stdout, or chunks) into a snapshot; return its id
        (restic's short one unless ``resolve``).

        A producer that exits non-zero or raises aborts the upload: nothing is recorded.
        """
        upload = self.start_stdin_backup(filename, tags, host)
        restic_gone = False
        try:
            for chunk in _chunks(producer):
                if not upload.write(chunk):
                    restic_gone = True
                    break
        except BaseException:
            self._discard(upload)
            raise
        if isinstance(producer, subprocess.Popen):
            if restic_gone:
                producer.kill()
            if producer.wait() != 0 and not restic_gone:
                self._discard(upload)
                raise ResticError("aborted", f"the producer exited with code {producer.returncode}")
        return upload.commit(resolve)  # raises restic's own error when it went away

    def backup_paths(
        self,
        paths: Sequence[str | Path],
        tags: Sequence[str] = (),
        host: str = "siaga",
        cwd: Path | None = None,
        *,
        resolve: bool = True,
    ) -> str:
        """Back up ``paths`` (relative ones from ``cwd``) and return the snapshot id (restic's short one
        unless ``resolve``).

        Raises ``ResticError("incomplete", snapshot_id=...)`` when some files could not be read (exit 3).
        """
        _check_tags(tags)
        args = ["backup", "--json", "--host", host, *self._time_args()]
        args += [arg for tag in tags for arg in ("--tag", tag)]
        process = self._popen([*args, "--", *map(str, paths)], cwd=cwd)
        assert process.stdout is not None  # noqa: S101 — a pipe
        assert process.stderr is not None  # noqa: S101 — a pipe
        stdout, stderr = _Drain(process.stdout, lines=16), _Drain(process.stderr)
        returncode = self._wait(process, self._timeout)
        text = stderr.text()
        stdout.join()
        short = _summary_id(stdout.lines)
        if returncode == 3 and short:
            full = self.snapshot(short).id
            raise ResticError("incomplete", self.scrub(_message(text, 3)), snapshot_id=full)
        if returncode != 0:
            raise self._error(returncode, text)
        if short is None:
            raise ResticError("failed", "restic backup printed no snapshot id")
        return self.snapshot(short).id if resolve else short

    def snapshots(self, tags: Sequence[str] | None = None, ids: Sequence[str] = ()) -> list[SnapshotInfo]:
        """Snapshots holding every tag in ``tags`` (and among ``ids``, when given), oldest first."""
        args = ["snapshots", "--json"]
        if tags:
            _check_tags(tags)
            args += ["--tag", ",".join(tags)]
        raw: Any = json.loads(self._run([*args, *ids]).stdout or b"[]")
        infos = [
            SnapshotInfo(
                id=str(item["id"]),
                time=_parse_time(str(item["time"])),
                tags=tuple(item.get("tags") or ()),
                paths=tuple(item.get("paths") or ()),
                hostname=str(item.get("hostname", "")),
            )
            for item in raw or []
        ]
        return sorted(infos, key=lambda info: info.time)

    def snapshot(self, snapshot_id: str) -> SnapshotInfo:
        """The snapshot with this id (or unique id prefix)."""
        found = self.snapshots(ids=[snapshot_id])
        if len(found) != 1:
            raise ResticError("not_found", f"no snapshot {snapshot_id} in {self.label}")
        return found[0]

    def forget(self, ids: Sequence[str], prune: bool = True) -> None:
        """Remove these snapshots (and, with ``prune``, the data only they referenced)."""
        if ids:
            self._run(["forget", *(["--prune"] if prune else []), *ids])

    def check(self, read_data_subset: str | None = None) -> None:
        """``restic check``, also reading this subset of the pack files (``"3/28"``, ``"10%"``) if given."""
        args = ["check"] if read_data_subset is None else ["check", f"--read-data-subset={read_data_subset}"]
        self._run(args)

    def dump(self, snapshot_id: str, filename: str, *, tags: Sequence[str] = ()) -> subprocess.Popen[bytes]:
        """Start ``restic dump``; its stdout streams the file. Read it to the end, then call ``wait``.

        With ``snapshot_id="latest"``, ``tags`` picks the newest snapshot holding all of them.
        """
        _check_tags(tags)
        tag_args = ["--tag", ",".join(tags)] if tags else []
        return self._popen(["dump", *tag_args, snapshot_id, "/" + filename.lstrip("/")])

    def wait(self, process: subprocess.Popen[bytes]) -> None:
        """Wait for a process ``dump`` started; raise ``ResticError`` if it failed."""
        stderr = process.stderr.read() if process.stderr is not None else b""
        returncode = self._wait(process)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        if returncode != 0:
            raise self._error(returncode, stderr.decode("utf-8", "replace"))

    def restore(self, snapshot_id: str, target_dir: Path) -> None:
        """Restore the snapshot's tree into ``target_dir``."""
        self._run(["restore", snapshot_id, "--target", str(target_dir)])

    def unlock(self) -> None:
        """Remove stale locks (those of processes that are gone); live ones stay."""
        self._run(["unlock"])

    def stats(self, snapshot_id: str) -> SnapshotStats:
        """Size and file count a restore of the snapshot would write."""
        raw: Any = json.loads(self._run(["stats", "--json", "--mode", "restore-size", snapshot_id]).stdout)
        return SnapshotStats(int(raw["total_size"]), int(raw["total_file_count"]))

    # The machinery below is shared with StdinUpload.

    def _argv(self, args: list[str]) -> list[str]:
        argv = [self._binary, "--repo", self.repository.url, "--quiet"]
        if self._cache_dir is not None:
            argv += ["--cache-dir", str(self._cache_dir)]
        return argv + args

    def _env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in _DROPPED_ENV}
        if "AWS_ACCESS_KEY_ID" in self.repository.env:
            env.pop("AWS_SESSION_TOKEN", None)
        env.update(self.repository.env)
        env["RESTIC_PASSWORD"] = self.repository.password
        env["TZ"] = "UTC"  # --time is read in restic's local zone: make that UTC
        return env

    def _popen(
        self, args: list[str], *, stdin: int = subprocess.DEVNULL, cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen(  # noqa: S603 — fixed argv, no shell
                self._argv(args),
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._env(),
                cwd=cwd,
            )
        except OSError as exc:
            raise ResticError("failed", f"cannot run {self._binary}: {exc.strerror}") from None

    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        try:
            process = subprocess.run(  # noqa: S603 — fixed argv, no shell
                self._argv(args),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=self._env(),
                timeout=self._timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ResticError("timeout", f"restic {args[0]} took longer than {self._timeout:g}s") from None
        except OSError as exc:
            raise ResticError("failed", f"cannot run {self._binary}: {exc.strerror}") from None
        if check and process.returncode != 0:
            raise self._error(process.returncode, process.stderr.decode("utf-8", "replace"))
        return process

    def _wait(self, process: subprocess.Popen[bytes], timeout: float | None = None) -> int:
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise ResticError("timeout", f"restic took longer than {timeout:g}s") from None

    def _error(self, returncode: int, stderr: str) -> ResticError:
        return ResticError(classify(returncode, stderr), self.scrub(_message(stderr, returncode)))

    def _discard(self, upload: StdinUpload) -> None:
        recorded = upload.abort()
        if recorded:
            self.forget([recorded], prune=True)
        if upload.interrupted:
            self.unlock()


def _chunks(producer: subprocess.Popen[bytes] | Iterable[bytes]) -> Iterator[bytes]:
    if isinstance(producer, subprocess.Popen):
        if producer.stdout is None:
            raise ValueError("the producer's stdout must be a pipe")
        while chunk := producer.stdout.read(CHUNK):
            yield chunk
        return
    yield from producer
