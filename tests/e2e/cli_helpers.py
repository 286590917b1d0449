"""Helpers for the `siaga` CLI end-to-end tests: run the console script as a real process, check its output.

Every call gets its own environment (no SIAGA_* inherited from the developer's shell), a data directory
under the test's tmp_path and that tmp_path as working directory, so no `./siaga.yaml` or `.siaga/` of
the checkout is picked up and tests run side by side under pytest-xdist.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import FRAGMENT, SPEC_ENV

SIAGA = Path(sys.executable).with_name("siaga")
CLI_USER = "e2e-tester"  # getpass.getuser() reads LOGNAME/USER, so the CLI actor is cli:e2e-tester
CLI_ACTOR = f"cli:{CLI_USER}"
TIMEOUT = 60.0
START_TIMEOUT = 30.0
USER_ERROR = re.compile(r"^siaga: error: \S.*$")


def cli_env(data_dir: Path, *, spec_env: bool = True, **extra: str) -> dict[str, str]:
    """A clean environment for one CLI call: no inherited SIAGA_* or spec variables, a wide terminal."""
    drop = {"LOGNAME", "USER", "LNAME", "USERNAME", "COLUMNS", "LINES", *SPEC_ENV}
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIAGA_") and k not in drop}
    if spec_env:
        env.update(SPEC_ENV)
    env.update(
        SIAGA_DATA_DIR=str(data_dir),
        LOGNAME=CLI_USER,
        USER=CLI_USER,
        COLUMNS="200",  # Rich tables: keep every cell on one line
        NO_COLOR="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return (
            f"siaga {' '.join(self.args)} -> exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"
        )

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


Siaga = Callable[..., Run]  # the `cli` fixture: run `siaga` with arguments and environment


def siaga(*args: str | Path, env: Mapping[str, str], cwd: Path, timeout: float = TIMEOUT) -> Run:
    """Run `siaga ARGS` as a subprocess and return what it did (never raises on a non-zero exit)."""
    argv = tuple(str(a) for a in args)
    done = subprocess.run(
        [str(SIAGA), *argv],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return Run(argv, done.returncode, done.stdout, done.stderr)


def no_traceback(run: Run) -> None:
    assert "Traceback" not in run.out, run
    assert "Traceback" not in run.err, run


def ok(run: Run) -> Run:
    assert run.code == 0, run
    no_traceback(run)
    return run


def user_error(run: Run, *fragments: str) -> str:
    """Exit 2, exactly one `siaga: error: ...` line on stderr, nothing on stdout, no traceback.

    Each fragment must appear in that line (case-insensitively).
    """
    no_traceback(run)
    assert run.code == 2, run
    assert len(run.err_lines) == 1, run
    line = run.err_lines[0]
    assert USER_ERROR.match(line), run
    assert run.out == "", run
    for fragment in fragments:
        assert fragment.lower() in line.lower(), f"{fragment!r} not in {line!r}\n{run}"
    return line


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it; we release it for the server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def _wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"siaga run exited {server.process.returncode}:\n{server.log.read_text()}")
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=2) as response:  # noqa: S310 (http only)
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"siaga run not healthy after {START_TIMEOUT}s:\n{server.log.read_text()}")


@contextmanager
def running_server(data_dir: Path, cwd: Path, config: Path = FRAGMENT) -> Iterator[Server]:
    """`siaga run --config CONFIG --port <free>` over data_dir; terminated (then killed) on exit."""
    port = free_port()
    log = cwd / f"server-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(SIAGA), "run", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
            env=cli_env(data_dir),
            cwd=cwd,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_healthy(server)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
