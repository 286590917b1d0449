"""Paging benchmark: alert received → message delivered, for Siaga and for a real Alertmanager, and the
lateness of escalation timers with many pending steps.

    .venv/bin/python bench/paging.py [--engine sqlite|postgresql] [--sizes 1000,10000] [--timers 10000]

1. Delivery latency: N single-alert posts (distinct alertnames, so N incidents and N Alertmanager groups)
   from 8 clients, after 50 uncounted warm-up alerts on each side. Siaga routes every incident to a webhook
   channel; Alertmanager (`group_by: [alertname]`, `group_wait: 0s`) sends to a webhook receiver. Both go to
   the same local HTTP server; latency is the time from a post leaving the client to the first delivery
   naming that alert. Siaga writes every step durably (incident, escalation, outbox row, receipt);
   Alertmanager keeps its state in memory.
2. Escalation timers: T incidents whose second step is due 20 s after they opened; lateness is the arrival of
   that step's message minus (opened_at + 20 s), with opened_at read from Siaga's database.

Traffic goes to 127.0.0.1 only; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import alertmanager, free_port, install_sigterm_cleanup, siaga, table, temp_database

SPEC = """\
version: 1
project: {name: paging-bench, timezone: UTC}
severities:
  - {name: SEV-1, aliases: [critical], ack_within: 1h}
channels:
  hook: {type: webhook, url: "${BENCH_HOOK_URL}"}
escalations:
  timer:
    steps:
      - notify: [hook]
      - {after: 20s, notify: [hook]}
routes:
  - {match_re: {alertname: "Timer.*"}, escalation: timer}
  - notify: [hook]
"""
AM_CONFIG = """\
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 24h
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
        send_resolved: false
"""
TIMER_DELAY = 20.0
WARM_UP = 50  # alerts each side gets first (connections, caches), not counted


class Receiver:
    """A local HTTP server recording when each alert (by alertname and step) first arrived."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrivals: dict[tuple[str, int], float] = {}
        self.incident_of: dict[str, int] = {}
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/siaga", self._siaga)
        app.router.add_post("/am", self._alertmanager)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()

    def _seen(self, name: str, step: int) -> None:
        self.arrivals.setdefault((name, step), time.time())

    async def _siaga(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests += 1
        name = body["incident"]["labels"]["alertname"]
        self.incident_of[name] = int(body["incident"]["id"])
        self._seen(name, int(body.get("step") or 0))
        return web.Response(text="ok")

    async def _alertmanager(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests += 1
        for alert in body["alerts"]:
            self._seen(alert["labels"]["alertname"], 0)
        return web.Response(text="ok")

    def start(self) -> Receiver:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)

    def reset(self) -> None:
        self.arrivals.clear()
        self.incident_of.clear()
        self.requests = 0

    def wait_for(self, keys: set[tuple[str, int]], deadline_s: float) -> None:
        end = time.monotonic() + deadline_s
        while not keys <= self.arrivals.keys() and time.monotonic() < end:
            time.sleep(0.05)


async def _post_all(
    url: str, bodies: list[tuple[str, bytes]], headers: dict[str, str], clients: int
) -> dict[str, float]:
    """Post each body once from ``clients`` concurrent clients; return the send time per alertname."""
    sent: dict[str, float] = {}
    queue = list(reversed(bodies))
    async with aiohttp.ClientSession(headers=headers) as session:

        async def client() -> None:
            while queue:
                name, body = queue.pop()
                sent[name] = time.time()
                async with session.post(url, data=body) as response:
                    if response.status >= 300:
                        raise RuntimeError(f"{url} answered {response.status}: {await response.text()}")
                    await response.read()

        await asyncio.gather(*(client() for _ in range(clients)))
    return sent


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50_ms": pick(0.50) * 1000, "p99_ms": pick(0.99) * 1000, "max_ms": ordered[-1] * 1000}


def _alert(name: str, now: str) -> dict[str, Any]:
    return {"labels": {"alertname": name, "service": name.lower(), "severity": "critical"}, "startsAt": now}


def _webhook_body(alerts: list[dict[str, Any]]) -> bytes:
    return json.dumps(
        {
            "version": "4",
            "groupKey": "{}:{}",
            "status": "firing",
            "receiver": "siaga",
            "alerts": [{**a, "status": "firing", "endsAt": "0001-01-01T00:00:00Z"} for a in alerts],
        }
    ).encode()


@contextmanager
def spec_file() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="siaga-bench-paging-") as directory:
        path = Path(directory) / "siaga.yaml"
        path.write_text(SPEC)
        yield path


def delivery(engine: str, size: int, receiver: Receiver, spec: Path) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    names = [f"Bench{size}x{i}" for i in range(size)]
    receiver.reset()
    env = {"BENCH_HOOK_URL": f"http://127.0.0.1:{receiver.port}/siaga"}
    warm = [f"Warm{size}x{i}" for i in range(WARM_UP)]
    with temp_database(engine, "paging") as db, siaga(db, config=spec, env=env) as server:
        url = server.url + "/api/v1/integrations/alertmanager"
        warm_bodies = [(name, _webhook_body([_alert(name, now)])) for name in warm]
        asyncio.run(_post_all(url, warm_bodies, server.headers, 8))
        receiver.wait_for({(name, 0) for name in warm}, 60)
        bodies = [(name, _webhook_body([_alert(name, now)])) for name in names]
        started = time.monotonic()
        sent = asyncio.run(
            _post_all(server.url + "/api/v1/integrations/alertmanager", bodies, server.headers, 8)
        )
        receiver.wait_for({(name, 0) for name in names}, 120)
        elapsed = time.monotonic() - started
    siaga_latency = [receiver.arrivals[(n, 0)] - sent[n] for n in names if (n, 0) in receiver.arrivals]
    receiver.reset()
    with alertmanager(config=AM_CONFIG.replace("{url}", f"http://127.0.0.1:{receiver.port}/am")) as (
        am,
        _pid,
    ):
        json_type = {"Content-Type": "application/json"}
        warm_bodies = [(name, json.dumps([_alert(name, now)]).encode()) for name in warm]
        asyncio.run(_post_all(am + "/api/v2/alerts", warm_bodies, json_type, 8))
        receiver.wait_for({(name, 0) for name in warm}, 60)
        bodies = [(name, json.dumps([_alert(name, now)]).encode()) for name in names]
        sent = asyncio.run(_post_all(am + "/api/v2/alerts", bodies, json_type, 8))
        receiver.wait_for({(name, 0) for name in names}, 120)
    am_latency = [receiver.arrivals[(n, 0)] - sent[n] for n in names if (n, 0) in receiver.arrivals]
    return {
        "size": size,
        "siaga": {**_percentiles(siaga_latency), "delivered": len(siaga_latency), "elapsed_s": elapsed},
        "alertmanager": {**_percentiles(am_latency), "delivered": len(am_latency)},
    }


def _opened_at(db: Any, engine: str) -> dict[int, float]:
    query = "SELECT id, opened_at FROM incidents"
    if engine == "sqlite":
        with sqlite3.connect(db.data_dir / "siaga.db") as conn:
            rows = conn.execute(query).fetchall()
        return {int(i): datetime.fromisoformat(at).replace(tzinfo=UTC).timestamp() for i, at in rows}
    with psycopg.connect(db.url) as conn:
        rows = conn.execute(query).fetchall()
    return {int(i): at.timestamp() for i, at in rows}


def timers(engine: str, count: int, receiver: Receiver, spec: Path) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    names = [f"Timer{i}" for i in range(count)]
    receiver.reset()
    env = {"BENCH_HOOK_URL": f"http://127.0.0.1:{receiver.port}/siaga"}
    with temp_database(engine, "timers") as db, siaga(db, config=spec, env=env) as server:
        bodies = [
            (names[i], _webhook_body([_alert(n, now) for n in names[i : i + 100]]))
            for i in range(0, count, 100)
        ]
        asyncio.run(_post_all(server.url + "/api/v1/integrations/alertmanager", bodies, server.headers, 4))
        receiver.wait_for({(name, 1) for name in names}, TIMER_DELAY + 120)
        opened = _opened_at(db, engine)
    lateness = [
        receiver.arrivals[(n, 1)] - (opened[receiver.incident_of[n]] + TIMER_DELAY)
        for n in names
        if (n, 1) in receiver.arrivals
    ]
    return {
        "pending": count,
        "fired": len(lateness),
        **{k.replace("_ms", "_late_ms"): v for k, v in _percentiles(lateness).items()},
        "early": sum(1 for value in lateness if value < 0),
    }


def main(argv: list[str] | None = None) -> int:
    install_sigterm_cleanup()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    receiver = Receiver().start()
    results: dict[str, Any] = {"engine": args.engine, "delivery": [], "timers": None}
    try:
        with spec_file() as spec:
            for size in [int(s) for s in args.sizes.split(",") if s]:
                print(f"[{datetime.now(UTC):%H:%M:%S}] delivery of {size:,} alerts", flush=True)
                results["delivery"].append(delivery(args.engine, size, receiver, spec))
            if args.timers:
                print(f"[{datetime.now(UTC):%H:%M:%S}] {args.timers:,} pending escalation steps", flush=True)
                results["timers"] = timers(args.engine, args.timers, receiver, spec)
    finally:
        receiver.stop()
    rows = []
    for item in results["delivery"]:
        s, a = item["siaga"], item["alertmanager"]
        rows.append(
            [
                f"{item['size']:,}",
                f"{s['p50_ms']:.0f} / {s['p99_ms']:.0f} ms ({s['delivered']:,})",
                f"{a['p50_ms']:.0f} / {a['p99_ms']:.0f} ms ({a['delivered']:,})",
                f"{s['p99_ms'] / a['p99_ms']:.1f}x" if a["p99_ms"] else "-",
            ]
        )
    print(f"\n## Alert received → message delivered ({args.engine})\n")
    print(table(["alerts", "Siaga p50 / p99 (delivered)", "Alertmanager 0.25 p50 / p99", "p99 ratio"], rows))
    if results["timers"]:
        t = results["timers"]
        print(f"\n## Escalation timers: {t['pending']:,} steps due {TIMER_DELAY:.0f} s after opening\n")
        print(
            table(
                ["fired", "lateness p50", "p99", "max", "early"],
                [
                    [
                        f"{t['fired']:,}",
                        f"{t['p50_late_ms']:.0f} ms",
                        f"{t['p99_late_ms']:.0f} ms",
                        f"{t['max_late_ms']:.0f} ms",
                        t["early"],
                    ]
                ],
            )
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
