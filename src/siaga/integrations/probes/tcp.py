"""TCP checks: a connect, and optionally a line sent and the answer read.

A plain connect succeeds as soon as the connection is accepted, even if the server closes it at once.
With ``send`` and no ``receive`` the probe reads the first answer that arrives (up to 4 KiB) and the
conditions judge ``received``; a server that says nothing before the time is up leaves it empty. With
``receive`` it reads until that text arrived, 4 KiB were read, the server closed, or the time is up —
and fails when the text is not there.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import time

from pydantic import BaseModel

from siaga.integrations.probes.base import ProbeResult
from siaga.spec.checks import TcpProbe

MAX_READ = 4096


class TcpProber:
    """Probes ``tcp`` checks; holds no connections between probes."""

    async def probe(self, settings: BaseModel, timeout: float) -> ProbeResult:
        """Connect to ``settings.host:port`` (then send and read); ok when connected and answered."""
        if not isinstance(settings, TcpProbe):
            raise TypeError(f"TcpProber cannot probe {type(settings).__name__}")
        started = time.perf_counter()
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                reader, writer = await asyncio.open_connection(settings.host, settings.port)
        except TimeoutError:
            return ProbeResult(False, time.perf_counter() - started, f"timed out after {timeout:g}s")
        except OSError as exc:
            return ProbeResult(False, time.perf_counter() - started, connect_failure(exc, settings.host))
        try:
            received = await _converse(reader, writer, settings, deadline)
        except OSError as exc:
            return ProbeResult(False, time.perf_counter() - started, connect_failure(exc, settings.host))
        finally:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await writer.wait_closed()
        latency = time.perf_counter() - started
        variables = {"received": received}
        if settings.receive is not None and settings.receive not in received:
            got = repr(received[:60]) if received else "nothing"
            return ProbeResult(False, latency, f"expected {settings.receive!r}, received {got}", variables)
        return ProbeResult(True, latency, None, variables)

    async def close(self) -> None:
        return None


async def _converse(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, settings: TcpProbe, deadline: float
) -> str:
    """Send ``settings.send`` if any and return what was read by the deadline ("" for a plain connect)."""
    if settings.send is None and settings.receive is None:
        return ""
    data = bytearray()
    try:
        async with asyncio.timeout_at(deadline):
            if settings.send is not None:
                writer.write(settings.send.encode())
                await writer.drain()
            while len(data) < MAX_READ:
                chunk = await reader.read(MAX_READ - len(data))
                if not chunk:
                    break
                data += chunk
                if settings.receive is None or settings.receive.encode() in data:
                    break
    except TimeoutError:
        pass  # the time is up: judge what arrived
    return data.decode("utf-8", "replace")


def connect_failure(exc: OSError, host: str) -> str:
    """One line for a failed connect to ``host`` (also used by the TLS prober)."""
    if isinstance(exc, socket.gaierror):
        return f"DNS: {host} did not resolve ({exc.strerror or 'unknown error'})"
    # Several addresses tried (localhost: ::1 and 127.0.0.1) come back as one OSError without an errno.
    if exc.errno == errno.ECONNREFUSED or f"[Errno {errno.ECONNREFUSED}]" in str(exc):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the server"
    return f"connection failed: {exc.strerror or type(exc).__name__}"
