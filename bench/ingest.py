"""Ingest benchmark: Siaga's Alertmanager webhook under load, incident reads at scale, memory, start-up,
and a real Alertmanager taking the same single-alert load as the peer.

    .venv/bin/python bench/ingest.py [--engine sqlite|postgresql|both] [--quick] [--json FILE]

Per engine, each part runs on its own fresh database (a temporary SQLite directory, or a temporary
PostgreSQL database that is dropped afterwards) behind a real ``siaga run`` process:

1. batches of 100 alerts (distinct fingerprints, spread over 1,000 service/alertname groups) from a few
   concurrent clients; afterwards the server is killed with SIGKILL and the alert log is counted straight
   in the database: every accepted alert must be there;
2. single-alert webhook requests from 8 clients: requests/s, p50/p99 latency; then the server's RSS;
3. 100,000 active alerts in 10,000 incidents, loaded through the API in batches (bulk-load rate), then
   p50/p95 of the incident list (first page, a filtered page) and of single incidents by random id;
4. `siaga run` readiness: process start to first 200 from /health, 5 starts;
5. the peer: Debian's Alertmanager takes the single-alert load of part 2 on ``POST /api/v2/alerts``.

Every request loop is bounded in count and in time; traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402  (bench/ is not a package; the path line above makes it importable)
    ENGINES,
    LoadResult,
    alertmanager,
    create_token,
    install_sigterm_cleanup,
    memory_mb,
    percentile,
    run_load,
    siaga,
    start_siaga,
    stop_process,
    table,
    temp_database,
)

SEVERITY_LABELS = ("critical", "warning", "info")  # SEV-1, SEV-2, SEV-3 in the fragment spec
WEBHOOK = "/api/v1/integrations/alertmanager"

GOALS = {
    "batch_rate": 5000.0,  # alerts/s
    "single_rate": 1000.0,  # requests/s
    "single_p99_ms": 50.0,
    "read_p95_ms": 200.0,
    "rss_mb": 150.0,
    "ready_s": 2.0,
}


@dataclass(frozen=True)
class Sizes:
    batch_alerts: int = 100_000
    batch_size: int = 100
    batch_groups: int = 1_000
    batch_clients: int = 4
    singles: int = 10_000
    single_clients: int = 8
    load_alerts: int = 100_000
    load_groups: int = 10_000
    reads: int = 300
    starts: int = 5
    phase_deadline_s: float = 150.0  # no single load phase runs longer than this

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            batch_alerts=10_000,
            batch_groups=1_000,
            singles=1_000,
            load_alerts=10_000,
            load_groups=1_000,
            reads=50,
            starts=3,
            phase_deadline_s=60.0,
        )


# -- payloads ----------------------------------------------------------------------------------------


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_alert(k: int, groups: int, tag: str, starts_at: str) -> dict[str, Any]:
    """Alert number ``k``: its own fingerprint and instance, in group ``k % groups`` (service+alertname)."""
    g = k % groups
    service, alertname = f"svc-{g // 50:04d}", f"Bench{g % 50:02d}"
    return {
        "status": "firing",
        "labels": {
            "alertname": alertname,
            "service": service,
            "severity": SEVERITY_LABELS[g % 3],
            "instance": f"host-{k:07d}",
        },
        "annotations": {"summary": f"{alertname} on {service}"},
        "startsAt": starts_at,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": f"{tag}{k:010x}",
    }


def webhook_body(alerts: list[dict[str, Any]], group_key: str) -> bytes:
    """Alertmanager's webhook payload, version 4."""
    return json.dumps(
        {
            "version": "4",
            "groupKey": group_key,
            "status": "firing",
            "receiver": "siaga",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "",
            "truncatedAlerts": 0,
            "alerts": alerts,
        }
    ).encode()


def batch_bodies(total: int, size: int, groups: int, tag: str) -> list[bytes]:
    starts_at = _now_iso()
    return [
        webhook_body(
            [make_alert(k, groups, tag, starts_at) for k in range(first, min(first + size, total))],
            f"{{}}:{{bench=\"{first}\"}}",
        )
        for first in range(0, total, size)
    ]


def single_bodies(total: int, groups: int, tag: str) -> list[bytes]:
    starts_at = _now_iso()
    return [webhook_body([make_alert(k, groups, tag, starts_at)], f"{{}}:{{k=\"{k}\"}}") for k in range(total)]


def accepted_of(result: LoadResult) -> int:
    return sum(int(json.loads(reply)["accepted"]) for reply in result.replies)


# -- parts -------------------------------------------------------------------------------------------


def say(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def bench_batches(engine: str, sizes: Sizes) -> dict[str, Any]:
    """Part 1: batches of 100 through the webhook, then SIGKILL and count the alert log in the database."""
    bodies = batch_bodies(sizes.batch_alerts, sizes.batch_size, sizes.batch_groups, "b1")
    with temp_database(engine, "ingest") as db, siaga(db) as server:
        say(f"{engine}: {len(bodies)} batches of {sizes.batch_size} from {sizes.batch_clients} clients")
        result = run_load(
            "POST",
            server.url + WEBHOOK,
            bodies,
            concurrency=sizes.batch_clients,
            headers=server.headers,
            keep_json=True,
            deadline_s=sizes.phase_deadline_s,
        )
        accepted = accepted_of(result)
        stop_process(server.process, kill=True)  # a crash right after the last reply: nothing may be lost
        logged = int(db.scalar("SELECT count(*) FROM alert_events"))
        stored = int(db.scalar("SELECT count(*) FROM alerts"))
        opened = int(db.scalar("SELECT count(*) FROM incidents"))
    return {
        "alerts_per_s": accepted / result.elapsed,
        "batches_per_s": result.rate,
        "batch_p50_ms": result.pct_ms(50),
        "batch_p99_ms": result.pct_ms(99),
        "accepted": accepted,
        "alert_log_rows": logged,
        "alert_rows": stored,
        "incidents": opened,
        "durable": logged == accepted and stored == accepted,
        "errors": result.errors,
        "stopped_early": result.stopped_early,
    }


def bench_singles(engine: str, sizes: Sizes) -> dict[str, Any]:
    """Part 2: one alert per webhook request; then the memory of the server holding those alerts."""
    bodies = single_bodies(sizes.singles, sizes.batch_groups, "s2")
    with temp_database(engine, "single") as db, siaga(db) as server:
        idle = memory_mb(server.pid)
        warm = single_bodies(50, sizes.batch_groups, "w2")
        run_load("POST", server.url + WEBHOOK, warm, concurrency=sizes.single_clients, headers=server.headers)
        say(f"{engine}: {len(bodies)} single-alert requests from {sizes.single_clients} clients")
        result = run_load(
            "POST",
            server.url + WEBHOOK,
            bodies,
            concurrency=sizes.single_clients,
            headers=server.headers,
            deadline_s=sizes.phase_deadline_s,
        )
        # Read a little too, so the figure is that of a server in use rather than one that only wrote.
        run_load("GET", server.url + "/api/v1/incidents?limit=50", 20, concurrency=1, headers=server.headers)
        active = int(db.scalar("SELECT count(*) FROM alerts WHERE status = 'firing'"))
        memory = memory_mb(server.pid)
    return {
        **_single_figures(result),
        "active_alerts": active,
        "idle_rss_mb": idle["rss_mb"],
        "rss_mb": memory["rss_mb"],
        "hwm_mb": memory["hwm_mb"],
    }


def _single_figures(result: LoadResult) -> dict[str, Any]:
    return {
        "requests": result.ok,
        "requests_per_s": result.rate,
        "p50_ms": result.pct_ms(50),
        "p99_ms": result.pct_ms(99),
        "max_ms": max(result.latencies, default=float("nan")) * 1000,
        "errors": result.errors,
        "stopped_early": result.stopped_early,
    }


def _read_latency(
    url: str, headers: dict[str, str], count: int, path_for: Callable[[int], str] | None = None
) -> dict[str, Any]:
    run_load("GET", url, 5, concurrency=1, headers=headers, path_for=path_for)  # warm-up
    result = run_load("GET", url, count, concurrency=1, headers=headers, path_for=path_for, deadline_s=120)
    return {
        "p50_ms": result.pct_ms(50),
        "p95_ms": result.pct_ms(95),
        "max_ms": max(result.latencies, default=float("nan")) * 1000,
        "ok": result.ok,
        "errors": result.errors,
    }


def bench_reads_and_starts(engine: str, sizes: Sizes) -> dict[str, Any]:
    """Part 3 (bulk load, then reads at scale) and part 4 (readiness, on that loaded database)."""
    bodies = batch_bodies(sizes.load_alerts, sizes.batch_size, sizes.load_groups, "l3")
    out: dict[str, Any] = {}
    with temp_database(engine, "reads") as db:
        token = create_token(db)
        with siaga(db, token) as server:
            say(f"{engine}: loading {sizes.load_alerts} alerts into {sizes.load_groups} incidents")
            load = run_load(
                "POST",
                server.url + WEBHOOK,
                bodies,
                concurrency=sizes.batch_clients,
                headers=server.headers,
                keep_json=True,
                deadline_s=sizes.phase_deadline_s * 2,
            )
            out["load_alerts_per_s"] = accepted_of(load) / load.elapsed
            out["load_errors"] = load.errors
            out["active_alerts"] = int(db.scalar("SELECT count(*) FROM alerts WHERE status = 'firing'"))
            out["open_incidents"] = int(db.scalar("SELECT count(*) FROM incidents WHERE status != 'resolved'"))
            low = int(db.scalar("SELECT min(id) FROM incidents"))
            high = int(db.scalar("SELECT max(id) FROM incidents"))
            say(f"{engine}: reading incidents ({sizes.reads} requests per kind, one client)")
            base = server.url + "/api/v1/incidents"
            out["list"] = _read_latency(base + "?limit=50", server.headers, sizes.reads)
            out["list_filtered"] = _read_latency(
                base + "?status=open&severity=SEV-1&limit=50", server.headers, sizes.reads
            )
            rng = random.Random(7)
            ids = [rng.randint(low, high) for _ in range(sizes.reads + 5)]
            out["detail"] = _read_latency(
                base + "/", server.headers, sizes.reads, path_for=lambda i: str(ids[i % len(ids)])
            )
            memory = memory_mb(server.pid)
            out["loaded_rss_mb"], out["loaded_hwm_mb"] = memory["rss_mb"], memory["hwm_mb"]
        say(f"{engine}: {sizes.starts} starts of `siaga run` on the loaded database")
        times = []
        for _ in range(sizes.starts):
            started = start_siaga(db, token, db.data_dir / "siaga-starts.log")
            stop_process(started.process)
            times.append(started.ready_seconds)
        out["ready_median_s"] = statistics.median(times)
        out["ready_max_s"] = max(times)
    return out


def bench_alertmanager(sizes: Sizes) -> dict[str, Any]:
    """Part 5: the peer takes the single-alert load (a JSON array with one alert per request)."""
    starts_at = _now_iso()
    bodies = []
    for k in range(sizes.singles):
        alert = make_alert(k, sizes.batch_groups, "am", starts_at)
        bodies.append(json.dumps([{key: alert[key] for key in ("labels", "annotations", "startsAt")}]).encode())
    with alertmanager() as (url, pid):
        headers = {"Content-Type": "application/json"}
        run_load("POST", url + "/api/v2/alerts", bodies[:50], concurrency=sizes.single_clients, headers=headers)
        say(f"alertmanager: {len(bodies)} single-alert requests from {sizes.single_clients} clients")
        result = run_load(
            "POST",
            url + "/api/v2/alerts",
            bodies,
            concurrency=sizes.single_clients,
            headers=headers,
            deadline_s=sizes.phase_deadline_s,
        )
        memory = memory_mb(pid)
    return {**_single_figures(result), "rss_mb": memory["rss_mb"], "hwm_mb": memory["hwm_mb"]}


# -- report ------------------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def engine_rows(r: dict[str, Any]) -> list[list[str]]:
    b, s, q = r["batches"], r["singles"], r["reads"]
    read_p95 = max(q["list"]["p95_ms"], q["list_filtered"]["p95_ms"], q["detail"]["p95_ms"])
    durable = f"{b['alert_log_rows']:,} rows = {b['accepted']:,} accepted" if b["durable"] else (
        f"MISMATCH: {b['alert_log_rows']:,} log rows, {b['alert_rows']:,} alerts, {b['accepted']:,} accepted"
    )
    return [
        ["batches of 100: alerts/s", f"{b['alerts_per_s']:,.0f}", "≥ 5,000", _verdict(b["alerts_per_s"] >= 5000)],
        ["  batch latency p50 / p99", f"{b['batch_p50_ms']:.0f} / {b['batch_p99_ms']:.0f} ms", "", ""],
        ["  durable after SIGKILL", durable, "all", _verdict(b["durable"])],
        ["single alert: requests/s", f"{s['requests_per_s']:,.0f}", "≥ 1,000", _verdict(s["requests_per_s"] >= 1000)],
        ["  latency p50", f"{s['p50_ms']:.1f} ms", "", ""],
        ["  latency p99", f"{s['p99_ms']:.1f} ms", "≤ 50 ms", _verdict(s["p99_ms"] <= 50)],
        ["bulk load (10k groups): alerts/s", f"{q['load_alerts_per_s']:,.0f}", "", ""],
        [
            f"GET incidents, first page p50 / p95 ({q['active_alerts']:,} alerts)",
            f"{q['list']['p50_ms']:.1f} / {q['list']['p95_ms']:.1f} ms",
            "p95 ≤ 200 ms",
            _verdict(q["list"]["p95_ms"] <= 200),
        ],
        [
            "GET incidents?status=open&severity=SEV-1",
            f"{q['list_filtered']['p50_ms']:.1f} / {q['list_filtered']['p95_ms']:.1f} ms",
            "p95 ≤ 200 ms",
            _verdict(q["list_filtered"]["p95_ms"] <= 200),
        ],
        [
            f"GET incidents/{{id}}, random of {q['open_incidents']:,}",
            f"{q['detail']['p50_ms']:.1f} / {q['detail']['p95_ms']:.1f} ms",
            "p95 ≤ 200 ms",
            _verdict(read_p95 <= 200 and q["detail"]["p95_ms"] <= 200),
        ],
        [
            f"RSS with {s['active_alerts']:,} active alerts (peak)",
            f"{s['rss_mb']:.0f} MB ({s['hwm_mb']:.0f} MB)",
            "≤ 150 MB",
            _verdict(s["rss_mb"] <= 150),
        ],
        ["  RSS idle after start", f"{s['idle_rss_mb']:.0f} MB", "", ""],
        [
            f"  RSS with {q['active_alerts']:,} alerts (peak)",
            f"{q['loaded_rss_mb']:.0f} MB ({q['loaded_hwm_mb']:.0f} MB)",
            "",
            "",
        ],
        [
            "readiness to /health 200, median (max)",
            f"{q['ready_median_s']:.2f} s ({q['ready_max_s']:.2f} s)",
            "≤ 2 s",
            _verdict(q["ready_median_s"] <= 2),
        ],
    ]


def _errors(figures: dict[str, Any]) -> str:
    errors = figures.get("errors") or {}
    return ", ".join(f"{k}: {v}" for k, v in errors.items()) or "0"


def report(results: dict[str, Any], sizes: Sizes) -> None:
    for engine in ENGINES:
        if engine not in results:
            continue
        print(f"\n## Siaga on {engine}\n")
        print(table(["measure", "result", "goal", ""], engine_rows(results[engine])))
        problems = {
            "batches": _errors(results[engine]["batches"]),
            "singles": _errors(results[engine]["singles"]),
            "bulk load": ", ".join(f"{k}: {v}" for k, v in results[engine]["reads"]["load_errors"].items()) or "0",
        }
        print("\nfailed requests: " + "; ".join(f"{k} {v}" for k, v in problems.items()))
    peer = results.get("alertmanager")
    if peer:
        print(f"\n## Single-alert requests, {sizes.singles:,} from {sizes.single_clients} clients\n")
        columns = [(f"Siaga ({e})", results[e]["singles"]) for e in ENGINES if e in results]
        columns.append(("Alertmanager 0.25 (memory only)", peer))
        rows = [
            ["requests/s", *[f"{c['requests_per_s']:,.0f}" for _, c in columns]],
            ["p50", *[f"{c['p50_ms']:.1f} ms" for _, c in columns]],
            ["p99", *[f"{c['p99_ms']:.1f} ms" for _, c in columns]],
            ["max", *[f"{c['max_ms']:.1f} ms" for _, c in columns]],
            ["failed requests", *[_errors(c) for _, c in columns]],
            ["RSS after (peak)", *[f"{c['rss_mb']:.0f} MB ({c['hwm_mb']:.0f} MB)" for _, c in columns]],
        ]
        print(table(["", *[name for name, _ in columns]], rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=[*ENGINES, "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="~10x smaller sizes, for a smoke run")
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    args = parser.parse_args(argv)
    install_sigterm_cleanup()
    sizes = Sizes.quick() if args.quick else Sizes()
    engines = ENGINES if args.engine == "both" else (args.engine,)
    began = time.monotonic()
    results: dict[str, Any] = {}
    for engine in engines:
        results[engine] = {
            "batches": bench_batches(engine, sizes),
            "singles": bench_singles(engine, sizes),
            "reads": bench_reads_and_starts(engine, sizes),
        }
    results["alertmanager"] = bench_alertmanager(sizes)
    say(f"done in {time.monotonic() - began:.0f} s")
    report(results, sizes)
    if args.json:
        args.json.write_text(json.dumps({"sizes": sizes.__dict__, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
