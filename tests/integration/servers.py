"""Real servers for tests: Siaga's app under uvicorn in a thread; Debian's Alertmanager and Prometheus as
processes; a metrics endpoint whose values a test sets."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import httpx
import uvicorn
from fastapi import FastAPI

ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(condition: object, timeout: float = 15.0, what: str = "condition") -> None:
    """Poll a real external process until ``condition()`` is truthy (not a stand-in for virtual time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` on a free port in a background thread; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, what="uvicorn to start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def alertmanager(workdir: Path, config: str) -> Iterator[str]:
    """Run a real Alertmanager with ``config``; yield its base URL."""
    if not Path(ALERTMANAGER).exists():
        raise RuntimeError("prometheus-alertmanager is not installed (make test installs it)")
    (workdir / "alertmanager.yml").write_text(config)
    port = free_port()
    log = (workdir / "alertmanager.log").open("w")
    process = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={workdir / 'alertmanager.yml'}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return process.poll() is not None

    try:
        wait_until(ready, what="Alertmanager to be ready")
        if process.poll() is not None:
            raise RuntimeError((workdir / "alertmanager.log").read_text())
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


@contextmanager
def prometheus(workdir: Path, config: str, *extra: str) -> Iterator[str]:
    """Run a real Prometheus with ``config`` (files it names are relative to ``workdir``); yield its URL."""
    if not Path(PROMETHEUS).exists():
        raise RuntimeError("prometheus is not installed (make test installs it)")
    (workdir / "prometheus.yml").write_text(config)
    port = free_port()
    log = (workdir / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
        cwd=workdir,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return process.poll() is not None

    try:
        wait_until(ready, timeout=30, what="Prometheus to be ready")
        if process.poll() is not None:
            raise RuntimeError((workdir / "prometheus.log").read_text())
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


@contextmanager
def metrics_server(text: list[str]) -> Iterator[str]:
    """Serve ``text[0]`` (change it any time) as Prometheus exposition on /metrics; yield host:port."""
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = text[0].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


T = TypeVar("T")


class BackgroundLoop:
    """An event loop in a thread, for servers that outlive one ``asyncio.run`` of a test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, make: Callable[[], Awaitable[T]]) -> T:
        async def wrapped() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout=30)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()
