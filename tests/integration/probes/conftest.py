"""Real local targets for the probers, served from one background event loop per test module.

An HTTP server (healthy, 500, slow, hanging, JSON, redirects, basic and bearer auth), TCP listeners (one
answering a line, one closing at once), TLS servers with trustme certificates (valid for 10 days, for
another host name, TLS 1.2 only), an HTTPS server, and a small UDP DNS server built on dnspython's message
API. Every port is chosen by the kernel (port 0) so parallel workers never collide.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import trustme
from aiohttp import web

from tests.integration.servers import BackgroundLoop

BASIC_USER = "monitor"
BASIC_PASSWORD = "b4sic-S3cret-pw"
BEARER_TOKEN = "tok-7f3a9c-bearer-secret"
SLOW_SECONDS = 1.5
CERT_DAYS = 10

DNS_ZONE: dict[tuple[str, str], list[str]] = {
    ("svc.siaga.test.", "A"): ["10.0.0.1", "10.0.0.2"],
    ("svc.siaga.test.", "MX"): ["10 mail.siaga.test."],
    ("svc.siaga.test.", "TXT"): ['"v=spf1 " "-all"'],
    ("www.siaga.test.", "CNAME"): ["svc.siaga.test."],
    ("siaga.test.", "NS"): ["ns1.siaga.test."],
}
DNS_NAMES = {name for name, _ in DNS_ZONE}
DNS_SERVFAIL = "broken.siaga.test."
DNS_SILENT = "silent.siaga.test."


@dataclass(frozen=True)
class Targets:
    http: str  # base URL
    https: str
    line_port: int  # answers "HELLO <line>" to each line, keeps the connection open
    closing_port: int  # accepts, then closes at once
    closed_port: int  # nobody listens
    tls_port: int  # leaf for localhost / 127.0.0.1, 10 days left
    tls_other_port: int  # leaf for other.siaga.test
    tls12_port: int  # TLS 1.2 only
    dns: str  # host:port
    ca_file: Path
    not_after: datetime


# -- HTTP ----------------------------------------------------------------------------------------------


async def _health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _error(request: web.Request) -> web.Response:
    return web.Response(status=500, text="boom")


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(SLOW_SECONDS)
    return web.Response(text="ok, slowly")


async def _hang(request: web.Request) -> web.Response:
    await asyncio.sleep(60)
    return web.Response(text="too late")


async def _json(request: web.Request) -> web.Response:
    return web.json_response({"status": "UP", "checks": {"db": "UP"}, "used": 3, "max": 10})


async def _redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/health")


async def _redirect_loop(request: web.Request) -> web.Response:
    raise web.HTTPFound("/redirect-loop")


async def _basic(request: web.Request) -> web.Response:
    expected = base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
    if request.headers.get("Authorization") != f"Basic {expected}":
        return web.Response(status=401, text="who are you")
    return web.Response(text="ok, basic")


async def _bearer(request: web.Request) -> web.Response:
    if request.headers.get("Authorization") != f"Bearer {BEARER_TOKEN}":
        return web.Response(status=401, text="who are you")
    return web.Response(text="ok, bearer")


async def _echo(request: web.Request) -> web.Response:
    body = await request.text()
    headers = {"X-Multi": "one"}
    response = web.json_response(
        {"method": request.method, "body": body, "x_test": request.headers.get("X-Test", "")},
        headers=headers,
    )
    response.headers.add("X-Multi", "two")
    return response


async def _big(request: web.Request) -> web.Response:
    return web.Response(text="x" * 200_000)


def _app() -> web.Application:
    app = web.Application()
    app.add_routes(
        [
            web.get("/health", _health),
            web.get("/error", _error),
            web.get("/slow", _slow),
            web.get("/hang", _hang),
            web.get("/json", _json),
            web.get("/redirect", _redirect),
            web.get("/redirect-loop", _redirect_loop),
            web.get("/basic", _basic),
            web.get("/bearer", _bearer),
            web.route("*", "/echo", _echo),
            web.get("/big", _big),
        ]
    )
    return app


# -- TCP and TLS ---------------------------------------------------------------------------------------


async def _answer_lines(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while line := await reader.readline():
            writer.write(b"HELLO " + line)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()


async def _close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _port(server: asyncio.Server) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port


def _server_context(cert: trustme.LeafCert, *, max_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    if max_version is not None:
        context.maximum_version = max_version
    return context


class _BlockingTlsServer:
    """A TLS server on plain blocking sockets, in a thread of its own.

    asyncio's TLS server drops the connection on a failed handshake before its alert is sent; a real
    server (and this one) sends the alert, which is what tells a client "no common protocol version".
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(2)
            with contextlib.suppress(OSError), self._context.wrap_socket(conn, server_side=True) as tls:
                while tls.recv(4096):
                    pass

    async def close(self) -> None:
        self._stopping.set()
        await asyncio.to_thread(self._thread.join, 5)
        self._listener.close()


# -- DNS -----------------------------------------------------------------------------------------------


class _DnsServer(asyncio.DatagramProtocol):
    """Answers from DNS_ZONE; NXDOMAIN for unknown names, SERVFAIL for one, silence for another."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        name = question.name.to_text()
        record_type = dns.rdatatype.to_text(question.rdtype)
        if name == DNS_SILENT:
            return
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name == DNS_SERVFAIL:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif (name, record_type) in DNS_ZONE:
            response.answer.append(
                dns.rrset.from_text_list(name, 60, "IN", record_type, DNS_ZONE[name, record_type])
            )
        elif name not in DNS_NAMES:
            response.set_rcode(dns.rcode.NXDOMAIN)
        self.transport.sendto(response.to_wire(), addr)


# -- all together --------------------------------------------------------------------------------------


class _Servers:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._closers: list[Callable[[], Awaitable[None]]] = []

    async def start(self) -> Targets:
        ca = trustme.CA()
        ca_file = self.workdir / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        not_after = (datetime.now(UTC) + timedelta(days=CERT_DAYS)).replace(microsecond=0)
        leaf = ca.issue_cert("localhost", "127.0.0.1", common_name="localhost", not_after=not_after)
        other = ca.issue_cert("other.siaga.test", common_name="other.siaga.test", not_after=not_after)

        http_port = await self._http(None)
        https_port = await self._http(_server_context(leaf))
        line = await self._stream(_answer_lines, None)
        closing = await self._stream(_close_at_once, None)
        tls = await self._stream(_answer_lines, _server_context(leaf))
        tls_other = await self._stream(_answer_lines, _server_context(other))
        tls12 = _BlockingTlsServer(_server_context(leaf, max_version=ssl.TLSVersion.TLSv1_2))
        self._closers.append(tls12.close)
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            _DnsServer, local_addr=("127.0.0.1", 0)
        )
        dns_port = transport.get_extra_info("sockname")[1]

        async def close_dns() -> None:
            transport.close()

        self._closers.append(close_dns)
        return Targets(
            http=f"http://127.0.0.1:{http_port}",
            https=f"https://localhost:{https_port}",
            line_port=line,
            closing_port=closing,
            closed_port=_closed_port(),
            tls_port=tls,
            tls_other_port=tls_other,
            tls12_port=tls12.port,
            dns=f"127.0.0.1:{dns_port}",
            ca_file=ca_file,
            not_after=not_after,
        )

    async def _http(self, context: ssl.SSLContext | None) -> int:
        # handler_cancellation: a client that gave up (the hanging route) must not keep its handler alive.
        runner = web.AppRunner(_app(), handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        self._closers.append(runner.cleanup)
        port: int = runner.addresses[0][1]
        return port

    async def _stream(
        self,
        handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
        context: ssl.SSLContext | None,
    ) -> int:
        server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=context)

        async def close() -> None:
            server.close()
            await server.wait_closed()

        self._closers.append(close)
        return _port(server)

    async def stop(self) -> None:
        for close in reversed(self._closers):
            await close()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Targets]:
    background = BackgroundLoop()
    servers = _Servers(tmp_path_factory.mktemp("probes"))
    try:
        yield background.run(servers.start)
    finally:
        background.run(servers.stop)
        background.close()
