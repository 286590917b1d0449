"""The probe benchmark's targets: one cheap HTTP/1.1 server process (asyncio protocol on uvloop, no framework)
so that it is not what limits either prober.

    python bench/_targets.py --port PORT [--hang SECONDS]

    GET /{side}/t/{i}     200 "ok" at once
    GET /{side}/hang/{i}  200 "ok" after --hang seconds (default 15: longer than any prober's 10 s timeout)
    GET /stats            JSON: requests received per side and kind, connections open, hangs waiting, and
                          per side the hanging requests the client gave up on (how many, after how long)

``side`` is any word (the benchmark uses ``siaga`` and ``peer``), so each prober's probes are counted apart.
Keep-alive is supported (one request at a time per connection, as HTTP clients send them); a hanging request
whose client gives up is dropped when the connection closes. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from collections import Counter
from typing import cast

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
MAX_HEAD = 16384


class Stats:
    def __init__(self) -> None:
        self.hits: Counter[tuple[str, str]] = Counter()
        self.connections = 0
        self.hanging = 0
        # Hanging requests whose client gave up, per side: how many, and after how long (sum, longest).
        self.abandoned: dict[str, list[float]] = {}

    def as_json(self) -> bytes:
        sides: dict[str, dict[str, int]] = {}
        for (side, kind), count in self.hits.items():
            sides.setdefault(side, {})[kind] = count
        abandoned = {
            side: {"count": int(n), "mean_s": total / n if n else 0.0, "max_s": longest}
            for side, (n, total, longest) in self.abandoned.items()
        }
        return json.dumps(
            {"hits": sides, "connections": self.connections, "hanging": self.hanging, "abandoned": abandoned}
        ).encode()


class TargetProtocol(asyncio.Protocol):
    def __init__(self, stats: Stats, hang_s: float) -> None:
        self.stats = stats
        self.hang_s = hang_s
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.pending: asyncio.TimerHandle | None = None  # a hanging answer not yet sent
        self.hang_side = ""
        self.hang_began = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        self.stats.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.stats.connections -= 1
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None
            self.stats.hanging -= 1
            waited = time.monotonic() - self.hang_began
            entry = self.stats.abandoned.setdefault(self.hang_side, [0, 0.0, 0.0])
            entry[0] += 1
            entry[1] += waited
            entry[2] = max(entry[2], waited)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.pending is None:
            self._serve()
        elif len(self.buffer) > MAX_HEAD and self.transport is not None:
            self.transport.close()

    def _serve(self) -> None:
        while self.transport is not None and self.pending is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self.transport.close()
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            lines = head.split(b"\r\n")
            parts = lines[0].split(b" ")
            method = parts[0]
            path = parts[1].decode("latin-1") if len(parts) > 1 else "/"
            close = parts[-1] == b"HTTP/1.0"
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"connection":
                    close = value.strip().lower() == b"close"
                elif name == b"content-length":
                    # Bodies are not expected; skip one if it came (a partial one is read as the next head).
                    self.buffer = self.buffer[int(value.strip() or 0) :]
            self._answer(method, path, close)

    def _answer(self, method: bytes, path: str, close: bool) -> None:
        segments = path.split("?", 1)[0].strip("/").split("/")
        if segments == ["stats"]:
            body = self.stats.as_json()
            self._send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n", body, method, close)
            return
        if len(segments) != 3 or segments[1] not in {"t", "hang"}:
            self._send(NOT_FOUND, b"", method, close)
            return
        side, kind = segments[0], segments[1]
        self.stats.hits[side, kind] += 1
        if kind == "t":
            self._send(OK, b"ok", method, close)
            return
        loop = asyncio.get_running_loop()
        self.stats.hanging += 1
        self.hang_side, self.hang_began = side, time.monotonic()
        self.pending = loop.call_later(self.hang_s, self._release, method, close)

    def _release(self, method: bytes, close: bool) -> None:
        self.pending = None
        self.stats.hanging -= 1
        self._send(OK, b"ok", method, close)
        self._serve()

    def _send(self, status_and_headers: bytes, body: bytes, method: bytes, close: bool) -> None:
        if self.transport is None:
            return
        head = status_and_headers
        if status_and_headers is not OK and status_and_headers is not NOT_FOUND:
            head += b"Content-Length: %d\r\n" % len(body)
        head += b"Connection: close\r\n\r\n" if close else b"\r\n"
        self.transport.write(head + (b"" if method == b"HEAD" else body))
        if close:
            self.transport.close()


async def serve(port: int, hang_s: float) -> None:
    loop = asyncio.get_running_loop()
    stats = Stats()
    server = await loop.create_server(
        lambda: TargetProtocol(stats, hang_s), "127.0.0.1", port, backlog=4096, reuse_address=True
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hang", type=float, default=15.0, help="seconds a /hang/ request waits")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(serve(args.port, args.hang))
    except ImportError:
        asyncio.run(serve(args.port, args.hang))


if __name__ == "__main__":
    main()
