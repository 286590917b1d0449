"""Shared pieces for Siaga's benchmarks: free ports, throw-away databases, a real `siaga run` process, a
real Alertmanager, process memory from /proc, and a bounded aiohttp load generator.

Everything here talks to 127.0.0.1 only, and every process and temporary directory it makes is cleaned up
by the context managers, also when a benchmark fails half-way.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from psycopg import sql as pgsql

ROOT = Path(__file__).resolve().parent.parent
# The `siaga` command of the interpreter running the benchmark (normally .venv/bin/python).
SIAGA = Path(sys.executable).parent / "siaga"
FRAGMENT = ROOT / "tests" / "unit" / "spec" / "fragment.yaml"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
PG_ADMIN_URL = os.environ.get("SIAGA_BENCH_PG_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")
# The fragment spec refers to these; nothing is ever sent to them during a benchmark.
SPEC_ENV = {
    "SLACK_ALERTS_URL": "http://127.0.0.1:1/slack-alerts",
    "SLACK_SECURITY_URL": "http://127.0.0.1:1/slack-security",
    "PAGERDUTY_ROUTING_KEY": "http://127.0.0.1:1/pagerduty",
    "SMTP_URL": "smtp://127.0.0.1:1",
    "OPS_WEBHOOK_URL": "http://127.0.0.1:1/hook",
    "PAGERDUTY_API_URL": "http://127.0.0.1:1",  # never the real PagerDuty from a test or a benchmark
}
ENGINES = ("sqlite", "postgresql")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_status(port: int, path: str, timeout: float = 1.0) -> int | None:
    """Status of a plain GET on 127.0.0.1:port, or None if nothing answers (cheap enough to poll)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def install_sigterm_cleanup() -> None:
    """Turn SIGTERM into SystemExit so that every ``finally`` (process and directory cleanup) runs."""

    def _exit(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


def stop_process(process: subprocess.Popen[Any], *, kill: bool = False, timeout: float = 10.0) -> None:
    """Stop ``process`` (its own session) with SIGTERM, or SIGKILL when ``kill``; escalate if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait(timeout=timeout)


# -- memory ------------------------------------------------------------------------------------------


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak RSS) of ``pid`` in MB (10^6 bytes), from /proc/PID/status."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in {"VmRSS", "VmHWM"}:
            values[name] = int(rest.split()[0]) * 1024 / 1e6
    return {"rss_mb": values["VmRSS"], "hwm_mb": values["VmHWM"]}


def cpu_seconds(pid: int | str) -> float:
    """User plus system CPU time ``pid`` has used so far, from /proc/PID/stat (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


_TICKS = os.sysconf("SC_CLK_TCK")


def _machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (everything but idle and iowait)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / _TICKS


def _postgres_pids() -> list[str]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(entry.name)
    return pids


class CpuWatch:
    """CPU used during one phase by the server, this load generator, PostgreSQL, and everything else.

    The machine has 2 cores shared with whatever else runs on it; ``other_cores`` (the average number of
    cores busy with work that is not this benchmark's) says how much a figure was disturbed.
    """

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self._start = self._sample()
        self._began = time.perf_counter()

    def _sample(self) -> dict[str, float]:
        return {
            "server": cpu_seconds(self.server_pid),
            "client": cpu_seconds("self"),
            "postgres": sum(cpu_seconds(pid) for pid in _postgres_pids()),
            "busy": _machine_busy_seconds(),
        }

    def stop(self) -> dict[str, float]:
        end = self._sample()
        elapsed = time.perf_counter() - self._began
        used = {name: end[name] - self._start[name] for name in end}
        others = used["busy"] - used["server"] - used["client"] - max(used["postgres"], 0.0)
        return {
            "server_cpu_s": used["server"],
            "client_cpu_s": used["client"],
            "postgres_cpu_s": max(used["postgres"], 0.0),
            "other_cores": max(others, 0.0) / elapsed if elapsed else 0.0,
        }


# -- databases ---------------------------------------------------------------------------------------


@dataclass
class TempDatabase:
    """A throw-away database: a SQLite file in ``data_dir`` or a fresh PostgreSQL database."""

    engine: str
    data_dir: Path
    url: str | None = None  # None: Siaga's default SQLite file in data_dir

    @property
    def env(self) -> dict[str, str]:
        env = {"SIAGA_DATA_DIR": str(self.data_dir)}
        if self.url:
            env["SIAGA_DATABASE_URL"] = self.url
        return env

    def scalar(self, sql: str) -> Any:
        """Run one read-only query straight on the database (not through Siaga)."""
        if self.url is None:
            conn = sqlite3.connect(self.data_dir / "siaga.db")
            try:
                return conn.execute(sql).fetchone()[0]
            finally:
                conn.close()
        with psycopg.connect(self.url) as pg:
            row = pg.execute(sql).fetchone()
            return row[0] if row else None


@contextlib.contextmanager
def temp_database(engine: str, label: str = "bench") -> Iterator[TempDatabase]:
    """A fresh database for one server; the directory is removed and a PostgreSQL database dropped after."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"siaga-{label}-"))
    name = None
    try:
        if engine == "sqlite":
            yield TempDatabase(engine, data_dir)
            return
        if engine != "postgresql":
            raise ValueError(f"unknown engine {engine!r}")
        name = f"siaga_{label}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
        yield TempDatabase(engine, data_dir, f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}")
    finally:
        if name is not None:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(
                    pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
                )
        shutil.rmtree(data_dir, ignore_errors=True)


# -- siaga -------------------------------------------------------------------------------------------


def _siaga_env(db: TempDatabase) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIAGA_")}
    return {**env, **SPEC_ENV, **SINK_ENV, **db.env}


# -- a sink for the fragment's channels ------------------------------------------------------------

SINK_ENV: dict[str, str] = {}  # set while channel_sink() runs: the servers started then page into it


@contextlib.contextmanager
def channel_sink() -> Iterator[dict[str, str]]:
    """Working channels for the fragment spec: an HTTP server that accepts every Slack, PagerDuty and webhook
    post at once, and an SMTP server that accepts every mail (aiosmtpd), both on 127.0.0.1. Incidents then
    page as they would in production instead of retrying against a closed port."""
    from aiohttp import web
    from aiosmtpd.controller import Controller

    class _Accept:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    port, smtp_port = free_port(), free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=202 if request.path == "/v2/enqueue" else 200, text="ok")

    def serve() -> None:
        asyncio.set_event_loop(loop)
        app = web.Application()
        app.router.add_post("/{tail:.*}", accept)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    smtp = Controller(_Accept(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    base = f"http://127.0.0.1:{port}"
    env = {
        "SLACK_ALERTS_URL": f"{base}/slack/alerts",
        "SLACK_SECURITY_URL": f"{base}/slack/security",
        "PAGERDUTY_API_URL": base,
        "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}?starttls=no",
        "OPS_WEBHOOK_URL": f"{base}/hook",
    }
    SINK_ENV.update(env)
    try:
        yield env
    finally:
        SINK_ENV.clear()
        smtp.stop()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def create_token(db: TempDatabase, name: str = "bench", role: str = "responder") -> str:
    """``siaga token create``; the token is the last line it prints."""
    done = subprocess.run(
        [str(SIAGA), "token", "create", "--name", name, "--role", role],
        env=_siaga_env(db),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"siaga token create failed: {done.stderr.strip()}")
    return done.stdout.strip().splitlines()[-1].strip()


@dataclass
class SiagaServer:
    process: subprocess.Popen[Any]
    port: int
    token: str
    db: TempDatabase
    ready_seconds: float
    ready_cpu_seconds: float  # CPU the process used until ready: start-up cost without the machine's noise

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}


def start_siaga(
    db: TempDatabase,
    token: str,
    log: Path,
    *,
    timeout: float = 30.0,
    config: Path = FRAGMENT,
    env: dict[str, str] | None = None,
) -> SiagaServer:
    """Start ``siaga run`` and wait for the first 200 from /health; the caller stops it (see ``siaga``)."""
    port = free_port()
    command = [str(SIAGA), "run", "--config", str(config), "--port", str(port)]
    with log.open("ab") as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            env={**_siaga_env(db), **(env or {})},
            cwd=ROOT,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        deadline = started + timeout
        while True:
            if http_status(port, "/health") == 200:
                ready = time.perf_counter() - started
                ready_cpu = cpu_seconds(process.pid)
                break
            if process.poll() is not None:
                raise RuntimeError(f"siaga run exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            if time.perf_counter() > deadline:
                raise TimeoutError(f"siaga run not ready after {timeout}s:\n{log.read_text()[-3000:]}")
            time.sleep(0.005)
    except BaseException:
        stop_process(process)
        raise
    return SiagaServer(
        process=process, port=port, token=token, db=db, ready_seconds=ready, ready_cpu_seconds=ready_cpu
    )


@contextlib.contextmanager
def siaga(
    db: TempDatabase, token: str | None = None, *, config: Path = FRAGMENT, env: dict[str, str] | None = None
) -> Iterator[SiagaServer]:
    """A running ``siaga run`` on ``db`` (a token is made if none is given); stopped afterwards."""
    token = token or create_token(db)
    server = start_siaga(db, token, db.data_dir / "siaga.log", config=config, env=env)
    try:
        yield server
    finally:
        stop_process(server.process)


# -- alertmanager ------------------------------------------------------------------------------------

ALERTMANAGER_CONFIG = """\
route:
  receiver: blackhole
  group_by: [alertname, service]
receivers:
  - name: blackhole
"""


@contextlib.contextmanager
def alertmanager(*, timeout: float = 30.0, config: str = ALERTMANAGER_CONFIG) -> Iterator[tuple[str, int]]:
    """A real Alertmanager (by default its only receiver has no integrations); yields (base URL, pid)."""
    if not Path(ALERTMANAGER).exists():
        raise RuntimeError(f"{ALERTMANAGER} is not installed (apt-get install prometheus-alertmanager)")
    workdir = Path(tempfile.mkdtemp(prefix="siaga-bench-am-"))
    process = None
    try:
        (workdir / "am.yml").write_text(config)
        port = free_port()
        with (workdir / "alertmanager.log").open("wb") as log:
            process = subprocess.Popen(
                [
                    ALERTMANAGER,
                    f"--config.file={workdir / 'am.yml'}",
                    f"--storage.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--cluster.listen-address=",
                    "--log.level=warn",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while http_status(port, "/-/ready") != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"Alertmanager did not start:\n{(workdir / 'alertmanager.log').read_text()}"
                )
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        if process is not None:
            stop_process(process)
        shutil.rmtree(workdir, ignore_errors=True)


# -- load generation ---------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """What a bounded run of requests gave: counts, wall time and per-request latencies (seconds)."""

    sent: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    replies: list[Any] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def pct_ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


async def _drive(
    method: str,
    url: str,
    bodies: Sequence[bytes | None] | int,
    *,
    concurrency: int,
    headers: dict[str, str],
    keep_json: bool,
    deadline_s: float,
    path_for: Callable[[int], str] | None,
) -> LoadResult:
    count = bodies if isinstance(bodies, int) else len(bodies)
    result = LoadResult()
    next_index = 0
    limit = time.perf_counter() + deadline_s
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal next_index
        while next_index < count:
            if time.perf_counter() > limit:
                result.stopped_early = True
                return
            i = next_index
            next_index += 1
            body = None if isinstance(bodies, int) else bodies[i]
            target = url + (path_for(i) if path_for else "")
            began = time.perf_counter()
            try:
                async with session.request(method, target, data=body, headers=headers) as response:
                    payload = await response.read()
                    took = time.perf_counter() - began
                    result.sent += 1
                    if response.status == 200:
                        result.ok += 1
                        result.latencies.append(took)
                        if keep_json:
                            result.replies.append(payload)
                    else:
                        key = f"HTTP {response.status}"
                        result.errors[key] = result.errors.get(key, 0) + 1
            except (aiohttp.ClientError, TimeoutError) as error:
                result.sent += 1
                key = type(error).__name__
                result.errors[key] = result.errors.get(key, 0) + 1

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        result.elapsed = time.perf_counter() - started
    return result


def run_load(
    method: str,
    url: str,
    bodies: Sequence[bytes | None] | int,
    *,
    concurrency: int,
    headers: dict[str, str] | None = None,
    keep_json: bool = False,
    deadline_s: float = 300.0,
    path_for: Callable[[int], str] | None = None,
) -> LoadResult:
    """Send one request per body (or ``bodies`` bodiless requests) with ``concurrency`` keep-alive clients.

    Bounded twice: by the number of requests and by ``deadline_s`` seconds of wall time. ``path_for(i)``
    appends a per-request path (for GETs of varying ids). Only 200s count as ``ok`` and have a latency.
    """
    return asyncio.run(
        _drive(
            method,
            url,
            bodies,
            concurrency=concurrency,
            headers=headers or {},
            keep_json=keep_json,
            deadline_s=deadline_s,
            path_for=path_for,
        )
    )


# -- reporting ---------------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text (and Markdown-compatible) table."""
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    return "\n".join(
        [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells[1:])]
    )
