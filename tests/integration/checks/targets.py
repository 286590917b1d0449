"""Real targets for check tests, each in its own thread and event loop: an HTTP service whose behaviour the
test switches (healthy, 500, slow, hanging), a TCP listener that can be closed, a TLS server with a
certificate that expires when the test says."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trustme
from aiohttp import web


@dataclass
class Behaviour:
    mode: str = "healthy"  # healthy | error | slow | hang
    slow_seconds: float = 0.4
    paths: dict[str, str] = field(default_factory=dict)  # a mode for one path, overriding `mode`


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)  # type: ignore[arg-type]

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


@contextmanager
def http_target() -> Iterator[tuple[str, Behaviour]]:
    """Yield (base URL, behaviour): every path answers as `behaviour` says for it."""
    behaviour = Behaviour()

    async def health(request: web.Request) -> web.Response:
        mode = behaviour.paths.get(request.path, behaviour.mode)
        if mode == "error":
            return web.json_response({"status": "DOWN"}, status=500)
        if mode == "slow":
            await asyncio.sleep(behaviour.slow_seconds)
        if mode == "hang":
            await asyncio.sleep(30)
        return web.json_response({"status": "UP"})

    app = web.Application()
    app.router.add_get("/{tail:.*}", health)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    loop = _LoopThread()
    loop.run(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", behaviour
    finally:
        loop.run(runner.cleanup())
        loop.close()


class Listener:
    """A TCP listener that answers `hello` to every connection, until closed."""

    def __init__(self) -> None:
        self._loop = _LoopThread()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def _handle(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello\n")
        await writer.drain()
        writer.close()

    def open(self) -> None:
        async def start() -> asyncio.Server:
            return await asyncio.start_server(self._handle, "127.0.0.1", self.port)

        self._server = self._loop.run(start())  # type: ignore[assignment]
        assert self._server is not None
        self.port = self._server.sockets[0].getsockname()[1]

    def close(self) -> None:
        if self._server is not None:
            server = self._server

            async def stop() -> None:
                server.close()
                await server.wait_closed()

            self._loop.run(stop())
            self._server = None

    def shutdown(self) -> None:
        self.close()
        self._loop.close()


@contextmanager
def tcp_listener() -> Iterator[Listener]:
    listener = Listener()
    listener.open()
    try:
        yield listener
    finally:
        listener.shutdown()


@contextmanager
def tls_server(tmp_path: Path, days_left: float, hostname: str = "localhost") -> Iterator[tuple[int, Path]]:
    """Yield (port, CA file) of a TLS server whose certificate for `hostname` expires in `days_left` days."""
    ca = trustme.CA()
    not_after = dt.datetime.now(dt.UTC) + dt.timedelta(days=days_left)
    leaf = ca.issue_cert(hostname, not_after=not_after)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    loop = _LoopThread()

    async def handle(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def start() -> asyncio.Server:
        return await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)

    server: asyncio.Server = loop.run(start())  # type: ignore[assignment]
    try:
        yield server.sockets[0].getsockname()[1], ca_file
    finally:

        async def stop() -> None:
            server.close()
            await server.wait_closed()

        loop.run(stop())
        loop.close()
