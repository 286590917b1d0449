"""End-to-end fixtures: `siaga run` as a real subprocess on a free port, and a fresh PostgreSQL database.

Every server gets its own data directory (tmp_path), its own port (bound to 0 by the OS) and, on
PostgreSQL, its own database, so these tests run side by side under pytest-xdist.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import psycopg
import pytest

from tests.conftest import FRAGMENT, PG_ADMIN_URL, SPEC_ENV
from tests.e2e.cli_helpers import Run, Siaga, cli_env, siaga

SIAGA = Path(sys.executable).with_name("siaga")
START_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it; we release it for the server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIAGA_")}
    env.update(SPEC_ENV)
    env["SIAGA_DATA_DIR"] = str(data_dir)
    env["PYTHONUNBUFFERED"] = "1"
    if database_url:
        env["SIAGA_DATABASE_URL"] = database_url
    return env


class SiagaServer:
    """One `siaga run` process over one data directory / database; start, kill -9 and restart it."""

    def __init__(self, data_dir: Path, database_url: str | None, log_dir: Path) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.log_dir = log_dir
        self.env = server_env(data_dir, database_url)
        self.config = FRAGMENT
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.starts = 0
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the server is not running")
        return self.process.pid

    def cli(self, *args: str) -> str:
        """Run a `siaga` command against the same data; return its stdout."""
        done = subprocess.run(
            [str(SIAGA), *args], env=self.env, capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode != 0:
            raise AssertionError(f"siaga {' '.join(args)} exited {done.returncode}: {done.stderr}")
        return done.stdout

    def create_token(self, name: str, role: str) -> str:
        return self.cli("token", "create", "--name", name, "--role", role).strip()

    def start(self, port: int | None = None) -> None:
        if self.process is not None:
            raise RuntimeError("already running")
        self.starts += 1
        self.port = port or free_port()
        self._log = (self.log_dir / f"server-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [str(SIAGA), "run", "--config", str(self.config), "--port", str(self.port)],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"siaga run exited {self.process.returncode}:\n{self.log_text()}")
            if self.healthy():
                return
            time.sleep(0.05)
        raise AssertionError(f"siaga run not healthy after {START_TIMEOUT}s:\n{self.log_text()}")

    def healthy(self) -> bool:
        """True when GET /health answers 200."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/health")
            return conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flushing, exactly like the OOM killer or a power-cut process."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._close()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self._close()

    def _close(self) -> None:
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_text(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.log_dir.glob("server-*.log"))
        )


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A PostgreSQL database of this test's own (a server process keeps its data past any truncation)."""
    name = f"siaga_e2e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def siaga_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SiagaServer]:
    """A not-yet-started server over fresh storage on each engine; always stopped at teardown."""
    database_url = request.getfixturevalue("fresh_pg_url") if request.param == "postgresql" else None
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    server = SiagaServer(data_dir, database_url, logs)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def cli(tmp_path: Path, data_dir: Path) -> Siaga:
    """`cli(*args, **env)`: run siaga over this test's data dir, cwd = tmp_path, SPEC_ENV set."""

    def call(*args: str | Path, spec_env: bool = True, **extra_env: str) -> Run:
        return siaga(*args, env=cli_env(data_dir, spec_env=spec_env, **extra_env), cwd=tmp_path)

    return call
