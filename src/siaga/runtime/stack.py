"""Run and supervise the Prometheus stack on one box: every component of ``DIR/stack.json`` as a child
process, restarted with exponential backoff when it exits, its state and health in ``DIR/status.json``.

``python -m siaga.runtime.stack DIR`` runs the supervisor in the foreground (SIGTERM / SIGINT stop it);
``up`` / ``down`` / ``status`` start one in the background, stop it and read it. Whether a supervisor runs is
decided by the exclusive ``flock`` it holds on ``DIR/supervisor.pid`` for its whole life, never by the pid in
a file alone: a supervisor killed by SIGKILL leaves a status file that then reads as "not running".

Errors::

    StackError            the stack directory cannot be run as asked
    ├── StackFileError    stack.json is missing or does not have the expected shape
    └── AlreadyRunning    a supervisor already runs in that directory
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import psutil

from siaga.adapters.clock import SystemClock
from siaga.services.ports import Clock

__all__ = [
    "AlreadyRunning",
    "BackoffPolicy",
    "ComponentSpec",
    "ComponentStatus",
    "Health",
    "HealthState",
    "Restart",
    "StackError",
    "StackFileError",
    "StackStatus",
    "State",
    "Supervisor",
    "down",
    "interpret_status",
    "load_stack",
    "parse_stack",
    "plan_restart",
    "running_pid",
    "status",
    "status_to_json",
    "up",
]

log = logging.getLogger(__name__)

STACK_FILE = "stack.json"
STATUS_FILE = "status.json"
PID_FILE = "supervisor.pid"
LOG_DIR = "logs"
EXIT_BAD_STACK = 2
EXIT_ALREADY_RUNNING = 3
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # it names a log file


class StackError(Exception):
    """The stack directory cannot be run as asked."""


class StackFileError(StackError):
    """stack.json is missing or does not have the expected shape."""


class AlreadyRunning(StackError):
    """A supervisor already runs in that directory."""


class State(StrEnum):
    RUNNING = "running"
    RESTARTING = "restarting"  # exited; waiting out its backoff before the next start
    STOPPED = "stopped"
    FAILED = "failed"  # its executable cannot be run at all: no point retrying


class HealthState(StrEnum):
    OK = "ok"
    FAILING = "failing"
    UNKNOWN = "unknown"


# -- stack.json ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ComponentSpec:
    name: str
    argv: tuple[str, ...]  # paths in it are relative to the stack directory, the component's cwd
    health_url: str


def parse_stack(data: Any) -> tuple[ComponentSpec, ...]:
    """Given the decoded stack.json, return its components; raise StackFileError on any other shape."""
    if not isinstance(data, dict) or set(data) != {"components"} or not isinstance(data["components"], list):
        raise StackFileError('stack.json must be an object with one key, "components", a list')
    components: list[ComponentSpec] = []
    for i, item in enumerate(data["components"]):
        where = f"stack.json components[{i}]"
        if not isinstance(item, dict) or set(item) != {"name", "argv", "health_url"}:
            raise StackFileError(f"{where} must have exactly the keys name, argv, health_url")
        name, argv, url = item["name"], item["argv"], item["health_url"]
        if not isinstance(name, str) or not _NAME.match(name):
            raise StackFileError(f"{where}: name must be letters, digits, '_', '.' or '-', not {name!r}")
        if any(c.name == name for c in components):
            raise StackFileError(f"{where}: component {name!r} appears twice")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) and a for a in argv):
            raise StackFileError(f"{where} ({name}): argv must be a non-empty list of strings")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise StackFileError(f"{where} ({name}): health_url must be an http(s) URL")
        components.append(ComponentSpec(name, tuple(argv), url))
    return tuple(components)


def load_stack(stack_dir: Path) -> tuple[ComponentSpec, ...]:
    """Read ``stack_dir/stack.json``; raise StackFileError when it is missing, unreadable or malformed."""
    path = stack_dir / STACK_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StackFileError(f"no {path}: render the stack first (siaga render)") from None
    except (OSError, ValueError) as error:
        raise StackFileError(f"cannot read {path}: {error}") from None
    return parse_stack(data)


# -- restarts: pure ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    reset_after: float = 60.0  # a process that stayed up this long starts its backoff over

    def delay(self, failures: int) -> float:
        """Seconds to wait before the next start after ``failures`` (>= 1) quick exits in a row."""
        return min(self.maximum, self.initial * self.factor ** min(max(failures - 1, 0), 64))


@dataclass(frozen=True, slots=True)
class Restart:
    failures: int  # quick exits in a row, this one included
    at: float  # when to start again, on the same monotonic clock as the inputs


def plan_restart(policy: BackoffPolicy, *, failures: int, started: float, exited: float) -> Restart:
    """Given the quick exits in a row before this one and when the process started and exited (monotonic
    seconds), return when to start it again."""
    failures = 1 if exited - started >= policy.reset_after else failures + 1
    return Restart(failures=failures, at=exited + policy.delay(failures))


# -- status: what status.json holds, and how a reader judges it ----------------------------------------


@dataclass(frozen=True, slots=True)
class Health:
    state: HealthState = HealthState.UNKNOWN
    checked_at: datetime | None = None
    detail: str | None = None  # why it is failing


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    name: str
    state: State
    pid: int | None
    restarts: int
    started_at: datetime | None
    last_exit_code: int | None  # negative: killed by that signal
    health: Health = field(default_factory=Health)
    error: str | None = None

    @property
    def healthy(self) -> bool:
        return self.state is State.RUNNING and self.health.state is HealthState.OK

    def uptime(self, now: datetime) -> float | None:
        if self.state is not State.RUNNING or self.started_at is None:
            return None
        return max(0.0, (now - self.started_at).total_seconds())


@dataclass(frozen=True, slots=True)
class StackStatus:
    running: bool  # a supervisor is alive in the directory (and wrote this status)
    supervisor_pid: int | None
    updated_at: datetime | None
    components: tuple[ComponentStatus, ...] = ()

    @property
    def healthy(self) -> bool:
        return self.running and bool(self.components) and all(c.healthy for c in self.components)


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def status_to_json(status: StackStatus, *, now: datetime | None = None) -> dict[str, Any]:
    """The status as JSON data; with ``now`` also each component's uptime and the verdicts."""
    components: list[dict[str, Any]] = []
    for c in status.components:
        item: dict[str, Any] = {
            "name": c.name,
            "state": c.state.value,
            "pid": c.pid,
            "restarts": c.restarts,
            "started_at": _stamp(c.started_at),
            "last_exit_code": c.last_exit_code,
            "health": {
                "state": c.health.state.value,
                "checked_at": _stamp(c.health.checked_at),
                "detail": c.health.detail,
            },
            "error": c.error,
        }
        if now is not None:
            item["uptime_seconds"] = c.uptime(now)
            item["healthy"] = c.healthy
        components.append(item)
    data: dict[str, Any] = {
        "running": status.running,
        "supervisor_pid": status.supervisor_pid,
        "updated_at": _stamp(status.updated_at),
        "components": components,
    }
    if now is not None:
        data["healthy"] = status.healthy
    return data


def _component_from_json(item: Mapping[str, Any]) -> ComponentStatus:
    health = item.get("health") or {}
    detail = health.get("detail")
    return ComponentStatus(
        name=str(item["name"]),
        state=State(item["state"]),
        pid=item.get("pid"),
        restarts=int(item.get("restarts", 0)),
        started_at=_time(item.get("started_at")),
        last_exit_code=item.get("last_exit_code"),
        health=Health(
            HealthState(health.get("state", "unknown")),
            _time(health.get("checked_at")),
            None if detail is None else str(detail),
        ),
        error=item.get("error"),
    )


def _not_running(component: ComponentStatus) -> ComponentStatus:
    state = State.FAILED if component.state is State.FAILED else State.STOPPED
    return replace(component, state=state, pid=None, started_at=None, health=Health())


def interpret_status(
    data: Mapping[str, Any] | None, *, supervisor_pid: int | None, now: datetime, stale_after: float = 15.0
) -> StackStatus:
    """Given status.json's data and the pid of the supervisor that is alive in the directory (None: none
    is), return the status to believe: without a live supervisor that wrote it, nothing runs; a status
    not refreshed for ``stale_after`` seconds keeps its states but not its health."""
    data = data or {}
    try:
        components = tuple(_component_from_json(item) for item in data.get("components", []))
        updated_at = _time(data.get("updated_at"))
    except (KeyError, TypeError, ValueError, AttributeError):
        components, updated_at = (), None  # unreadable: as if absent
    live = supervisor_pid is not None and data.get("supervisor_pid") == supervisor_pid
    if not live or data.get("running") is not True:
        return StackStatus(False, supervisor_pid, updated_at, tuple(_not_running(c) for c in components))
    if updated_at is None or (now - updated_at).total_seconds() > stale_after:
        components = tuple(replace(c, health=Health()) for c in components)
    return StackStatus(True, supervisor_pid, updated_at, components)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_status(stack_dir: Path, status: StackStatus) -> None:
    """Replace ``stack_dir/status.json`` atomically (a temporary file renamed over it)."""
    fd, temporary = tempfile.mkstemp(dir=stack_dir, prefix=".status.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide it from a monitoring user
        with os.fdopen(fd, "w", encoding="utf-8") as sink:
            json.dump(status_to_json(status), sink, indent=2)
        os.replace(temporary, stack_dir / STATUS_FILE)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


# -- the pid file lock -------------------------------------------------------------------------------


def _hold_pid_file(stack_dir: Path, *, wait: float = 1.0) -> int:
    """Lock ``supervisor.pid`` for this process's life and write our pid; return the open descriptor.
    Raise AlreadyRunning when another supervisor holds it (a reader holds it only for an instant)."""
    fd = os.open(stack_dir / PID_FILE, os.O_RDWR | os.O_CREAT, 0o644)  # no O_TRUNC: it may be in use
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise AlreadyRunning(f"a supervisor already runs in {stack_dir}") from None
            time.sleep(0.02)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def running_pid(stack_dir: Path) -> int | None:
    """The pid of the supervisor alive in ``stack_dir``, or None when none holds its pid file."""
    try:
        fd = os.open(stack_dir / PID_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            for _ in range(50):  # the holder writes its pid right after locking
                text = os.pread(fd, 32, 0).decode(errors="replace").strip()
                if text.isdigit():
                    return int(text)
                time.sleep(0.01)
            raise StackError(f"{stack_dir / PID_FILE} is locked but holds no pid") from None
        return None
    finally:
        os.close(fd)


# -- the supervisor ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Child:
    spec: ComponentSpec
    state: State = State.STOPPED
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    failures: int = 0
    started: float = 0.0  # monotonic
    started_at: datetime | None = None
    last_exit_code: int | None = None
    next_start: float = 0.0  # monotonic, while restarting
    error: str | None = None
    health: Health = field(default_factory=Health)
    check: Future[Health] | None = None
    check_for: int = 0  # the start the pending check is about
    check_due: float = 0.0

    def status(self) -> ComponentStatus:
        pid = self.process.pid if self.process is not None else None
        return ComponentStatus(
            self.spec.name,
            self.state,
            pid,
            max(self.starts - 1, 0),
            self.started_at if pid else None,
            self.last_exit_code,
            self.health,
            self.error,
        )


def _probe(http: httpx.Client, url: str, timeout: float, clock: Clock) -> Health:
    try:
        with http.stream("GET", url, timeout=timeout) as response:
            code = response.status_code
    except httpx.HTTPError as error:
        return Health(HealthState.FAILING, clock.now(), str(error) or type(error).__name__)
    if 200 <= code < 300:
        return Health(HealthState.OK, clock.now())
    return Health(HealthState.FAILING, clock.now(), f"HTTP {code}")


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class Supervisor:
    """Children of one stack directory. ``run()`` is ``start()``, ``step()`` every tick until ``stop()``,
    then ``shutdown()``; tests drive the three with an injected monotonic clock."""

    def __init__(
        self,
        stack_dir: Path,
        components: Sequence[ComponentSpec],
        *,
        policy: BackoffPolicy | None = None,
        grace: float = 10.0,
        tick: float = 0.1,
        status_every: float = 2.0,
        health_every: float = 2.0,
        health_timeout: float = 1.0,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stack_dir = stack_dir
        self.policy = policy or BackoffPolicy()
        self._children = [_Child(spec) for spec in components]
        self._grace, self._tick, self._status_every = grace, tick, status_every
        self._health_every, self._health_timeout = health_every, health_timeout
        self._clock: Clock = clock or SystemClock()
        self._monotonic = monotonic
        self._stop_requested = False  # a plain flag: set from signal handlers, which must not take locks
        self._stopping = False
        self._dirty = True
        self._next_write = 0.0
        self._http = httpx.Client(trust_env=False)  # a health URL on 127.0.0.1 must not go to a proxy
        self._pool = ThreadPoolExecutor(max_workers=max(len(self._children), 1), thread_name_prefix="health")

    def stop(self) -> None:
        """Ask ``run()`` to stop; safe from a signal handler or another thread."""
        self._stop_requested = True

    def run(self) -> None:
        self.start()
        try:
            while not self._stop_requested:
                self.step()
                time.sleep(self._tick)
        finally:
            self.shutdown()

    def start(self) -> None:
        (self.stack_dir / LOG_DIR).mkdir(exist_ok=True)
        for child in self._children:
            self._start(child)
        self._write_status()

    def step(self) -> None:
        """Reap exits, start what is due, collect and schedule health checks, write the status if due."""
        now = self._monotonic()
        for child in self._children:
            self._reap(child, now)
            if child.state is State.RESTARTING and now >= child.next_start:
                self._start(child)
            self._collect_health(child)
            if child.state is State.RUNNING and child.check is None and now >= child.check_due:
                child.check_for = child.starts
                child.check = self._pool.submit(
                    _probe, self._http, child.spec.health_url, self._health_timeout, self._clock
                )
                # Until it answers, ask often: a fresh start should read healthy as soon as it is.
                ok = child.health.state is HealthState.OK
                child.check_due = now + (self._health_every if ok else min(0.5, self._health_every))
        if self._dirty or now >= self._next_write:
            self._write_status()

    def shutdown(self) -> None:
        """SIGTERM every child's process group, SIGKILL what outlives the grace period, write the status."""
        self._stopping = True
        alive = [(child, child.process) for child in self._children if child.process is not None]
        for child, process in alive:
            log.info("stopping %s (pid %d)", child.spec.name, process.pid)
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self._grace  # real waiting: not the injected clock's business
        while any(p.poll() is None for _, p in alive) and time.monotonic() < deadline:
            time.sleep(0.05)
        for child, process in alive:
            if process.poll() is None:
                log.warning("%s outlived %.0fs of SIGTERM: SIGKILL", child.spec.name, self._grace)
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
            self._reap(child, self._monotonic())
        for child in self._children:
            child.state = State.FAILED if child.state is State.FAILED else State.STOPPED
            child.health = Health()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._http.close()
        self._write_status(running=False)

    def snapshot(self, *, running: bool = True) -> StackStatus:
        return StackStatus(
            running, os.getpid(), self._clock.now(), tuple(child.status() for child in self._children)
        )

    def _note(self, child: _Child, text: str) -> None:
        with (self.stack_dir / LOG_DIR / f"{child.spec.name}.log").open("a", encoding="utf-8") as sink:
            sink.write(f"--- siaga stack {self._clock.now().isoformat()}: {text}\n")

    def _start(self, child: _Child) -> None:
        child.starts += 1
        child.health, child.check = Health(), None
        self._note(child, f"starting {' '.join(child.spec.argv)}")
        try:
            with (self.stack_dir / LOG_DIR / f"{child.spec.name}.log").open("ab") as sink:
                child.process = subprocess.Popen(  # noqa: S603 (argv comes from the rendered stack.json)
                    child.spec.argv,
                    cwd=self.stack_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    process_group=0,  # Ctrl-C on a foreground supervisor reaches it alone; it stops them
                )
        except OSError as error:
            child.process, child.state = None, State.FAILED
            child.error = f"cannot run {child.spec.argv[0]}: {error.strerror or error}"
            log.error("%s: %s", child.spec.name, child.error)
            self._note(child, child.error)
        else:
            child.state, child.error = State.RUNNING, None
            child.started, child.started_at = self._monotonic(), self._clock.now()
            child.check_due = child.started
            log.info("started %s (pid %d)", child.spec.name, child.process.pid)
        self._dirty = True

    def _reap(self, child: _Child, now: float) -> None:
        if child.process is None or (code := child.process.poll()) is None:
            return
        # Whatever it left in its process group would hold the port against the next start.
        _signal_group(child.process.pid, signal.SIGKILL)
        child.process, child.last_exit_code, child.health = None, code, Health()
        self._dirty = True
        if self._stopping:
            child.state = State.STOPPED
            return
        restart = plan_restart(self.policy, failures=child.failures, started=child.started, exited=now)
        child.failures, child.next_start, child.state = restart.failures, restart.at, State.RESTARTING
        delay = restart.at - now
        log.warning("%s exited with %d; restarting in %.1fs", child.spec.name, code, delay)
        self._note(child, f"exited with {code}; restarting in {delay:.1f}s")

    def _collect_health(self, child: _Child) -> None:
        if child.check is None or not child.check.done():
            return
        result, child.check = child.check.result(), None
        if child.state is State.RUNNING and child.check_for == child.starts:
            if result.state is not child.health.state:
                self._dirty = True
            child.health = result

    def _write_status(self, *, running: bool = True) -> None:
        write_status(self.stack_dir, self.snapshot(running=running))
        self._dirty = False
        self._next_write = self._monotonic() + self._status_every


def _stop_leftovers(stack_dir: Path, components: Sequence[ComponentSpec], grace: float = 10.0) -> None:
    """Stop the children a supervisor killed by SIGKILL left running (they hold the ports). A pid in the
    old status.json counts only when its working directory and command line are a component's."""
    argvs = {c.name: list(c.argv) for c in components}
    leftovers: list[psutil.Process] = []
    for item in (_read_json(stack_dir / STATUS_FILE) or {}).get("components", []):
        pid, argv = item.get("pid"), argvs.get(item.get("name"))
        if not isinstance(pid, int) or argv is None:
            continue
        try:
            process = psutil.Process(pid)
            if Path(process.cwd()) == stack_dir and process.cmdline() == argv:
                leftovers.append(process)
        except psutil.Error:
            continue
    for process in leftovers:
        log.warning("stopping %s left over by a previous supervisor (pid %d)", process.name(), process.pid)
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(leftovers, timeout=grace)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=grace)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m siaga.runtime.stack DIR``: supervise DIR in the foreground until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m siaga.runtime.stack", description=main.__doc__)
    parser.add_argument("stack_dir", type=Path, help="directory holding stack.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per health check
    stack_dir: Path = args.stack_dir.resolve()
    try:
        components = load_stack(stack_dir)
        pid_fd = _hold_pid_file(stack_dir)
    except AlreadyRunning as error:
        log.error("%s", error)
        return EXIT_ALREADY_RUNNING
    except StackError as error:
        log.error("%s", error)
        return EXIT_BAD_STACK
    supervisor = Supervisor(stack_dir, components)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: supervisor.stop())
    try:
        _stop_leftovers(stack_dir, components)
        log.info("supervising %s in %s", ", ".join(c.name for c in components), stack_dir)
        supervisor.run()
    finally:
        os.ftruncate(pid_fd, 0)
        os.close(pid_fd)
    log.info("stopped")
    return 0


# -- for other code: up, down, status ------------------------------------------------------------------

# The supervisors this process started, by directory: reaped once gone, so none lingers as a zombie.
_launched: dict[Path, subprocess.Popen[bytes]] = {}


def _reap_launched(stack_dir: Path) -> None:
    if (process := _launched.pop(stack_dir, None)) is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)  # it released its lock: it has exited, or is about to


def up(stack_dir: Path, *, timeout: float = 30.0) -> int:
    """Start a supervisor for ``stack_dir`` in the background and return its pid once every component has
    been started once. Raise StackFileError on a bad stack.json, AlreadyRunning, or StackError when the
    supervisor does not come up."""
    stack_dir = stack_dir.resolve()
    load_stack(stack_dir)  # a bad stack.json fails here, in the caller, not in a detached process
    if (pid := running_pid(stack_dir)) is not None:
        raise AlreadyRunning(f"a supervisor already runs in {stack_dir} (pid {pid})")
    _reap_launched(stack_dir)
    (stack_dir / LOG_DIR).mkdir(exist_ok=True)
    supervisor_log = stack_dir / LOG_DIR / "supervisor.log"
    with supervisor_log.open("ab") as sink:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "siaga.runtime.stack", str(stack_dir)],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    _launched[stack_dir] = process
    deadline = time.monotonic() + timeout
    while (data := _read_json(stack_dir / STATUS_FILE)) is None or data.get("supervisor_pid") != process.pid:
        if (code := process.poll()) is not None:
            _launched.pop(stack_dir, None)
            last = (supervisor_log.read_text(errors="replace").strip().splitlines() or [""])[-1]
            kind = AlreadyRunning if code == EXIT_ALREADY_RUNNING else StackError
            raise kind(f"the supervisor exited with {code}: {last}")
        if time.monotonic() > deadline:
            process.terminate()
            _reap_launched(stack_dir)
            raise StackError(f"the supervisor wrote no status within {timeout:g}s (see {supervisor_log})")
        time.sleep(0.05)
    return process.pid


def down(stack_dir: Path, *, timeout: float = 30.0) -> bool:
    """Stop the supervisor of ``stack_dir`` (SIGTERM; SIGKILL after ``timeout``) and wait until it is gone.
    Return whether one was running."""
    stack_dir = stack_dir.resolve()
    pid = running_pid(stack_dir)
    if pid is None:
        _reap_launched(stack_dir)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline, killed = time.monotonic() + timeout, False
    while running_pid(stack_dir) is not None:
        if time.monotonic() > deadline:
            if killed:
                raise StackError(f"the supervisor (pid {pid}) survived SIGKILL")
            log.warning("supervisor pid %d still up after %gs: SIGKILL", pid, timeout)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline, killed = time.monotonic() + 10.0, True
        time.sleep(0.05)
    _reap_launched(stack_dir)
    return True


def status(stack_dir: Path, *, now: datetime | None = None) -> StackStatus:
    """What runs in ``stack_dir``, from status.json as judged by whether its supervisor is alive."""
    stack_dir = stack_dir.resolve()
    return interpret_status(
        _read_json(stack_dir / STATUS_FILE),
        supervisor_pid=running_pid(stack_dir),
        now=now or datetime.now(UTC),
    )


if __name__ == "__main__":
    sys.exit(main())
