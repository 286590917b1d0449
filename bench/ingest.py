"""Ingest benchmark: Siaga's Alertmanager webhook under load, incident reads at scale, memory, start-up,
and a real Alertmanager taking the same single-alert load as the peer.

    .venv/bin/python bench/ingest.py [--engine sqlite|postgresql|both] [--quick] [--json FILE]

Per engine, each part runs on its own fresh database (a temporary SQLite directory, or a temporary
PostgreSQL database that is dropped afterwards) behind a real `siaga run` process:

1. batches of 100 alerts (distinct fingerprints, spread over 1,000 service/alertname groups) from 4
   concurrent clients; then the server is killed with SIGKILL and the alert log is counted straight in the
   database: every accepted alert must be there;
2. single-alert webhook requests from 8 clients: requests/s, p50/p99 latency; then the server's RSS
   holding those 10,000 active alerts;
3. 100,000 active alerts in 10,000 incidents, loaded through the webhook in batches (the bulk-load rate),
   then p50/p95 of the incident list (first page, a filtered page) and of single incidents by random id;
4. `siaga run` readiness: process start to the first 200 from /health, 5 starts on that loaded database;
5. the peer: Debian's Alertmanager takes the single-alert load of part 2 on `POST /api/v2/alerts`.

Every request loop is bounded in count and in time; traffic goes to 127.0.0.1 only. The machine's 2 cores
are shared with the load generator (and PostgreSQL), and with whatever else runs there: each part reports
how many cores other work kept busy meanwhile, and the server's own CPU cost, which such noise disturbs less.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    ENGINES,
    CpuWatch,
    LoadResult,
    alertmanager,
    channel_sink,
    create_token,
    install_sigterm_cleanup,
    memory_mb,
    run_load,
    siaga,
    start_siaga,
    stop_process,
    table,
    temp_database,
)

SEVERITY_LABELS = ("critical", "warning", "info")  # SEV-1, SEV-2, SEV-3 in the fragment spec
WEBHOOK = "/api/v1/integrations/alertmanager"


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
    # Time caps: no load phase runs longer than this, whatever the server's speed (bulk load: 1.5 times).
    phase_deadline_s: float = 120.0

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            batch_alerts=10_000,
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
    """Batches of ``size`` consecutive alerts; with ``groups`` ≥ ``size`` each touches ``size`` groups."""
    starts_at = _now_iso()
    return [
        webhook_body(
            [make_alert(k, groups, tag, starts_at) for k in range(first, min(first + size, total))],
            f'{{}}:{{batch="{tag}{first}"}}',
        )
        for first in range(0, total, size)
    ]


def single_bodies(total: int, groups: int, tag: str) -> list[bytes]:
    starts_at = _now_iso()
    return [
        webhook_body([make_alert(k, groups, tag, starts_at)], f'{{}}:{{k="{tag}{k}"}}') for k in range(total)
    ]


def accepted_of(result: LoadResult) -> int:
    return sum(int(json.loads(reply)["accepted"]) for reply in result.replies)


def say(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def _ms(seconds: float) -> float:
    return seconds * 1000


# -- the parts ---------------------------------------------------------------------------------------


def bench_batches(engine: str, sizes: Sizes) -> dict[str, Any]:
    """Part 1: batches of 100 through the webhook, then SIGKILL and count the alert log in the database."""
    bodies = batch_bodies(sizes.batch_alerts, sizes.batch_size, sizes.batch_groups, "b1")
    with temp_database(engine, "ingest") as db, siaga(db) as server:
        say(f"{engine}: {len(bodies):,} batches of {sizes.batch_size} from {sizes.batch_clients} clients")
        watch = CpuWatch(server.pid)
        result = run_load(
            "POST",
            server.url + WEBHOOK,
            bodies,
            concurrency=sizes.batch_clients,
            headers=server.headers,
            keep_json=True,
            deadline_s=sizes.phase_deadline_s,
        )
        cpu = watch.stop()
        accepted = accepted_of(result)
        stop_process(server.process, kill=True)  # a crash right after the last reply: nothing may be lost
        logged = int(db.scalar("SELECT count(*) FROM alert_events"))
        stored = int(db.scalar("SELECT count(*) FROM alerts"))
        opened = int(db.scalar("SELECT count(*) FROM incidents"))
    return {
        "alerts_per_s": accepted / result.elapsed,
        "batch_p50_ms": result.pct_ms(50),
        "batch_p99_ms": result.pct_ms(99),
        "accepted": accepted,
        "alert_log_rows": logged,
        "alert_rows": stored,
        "incidents": opened,
        "durable": logged == accepted == stored,
        "errors": result.errors,
        "stopped_early": result.stopped_early,
        "server_cpu_ms_per_batch": _ms(cpu["server_cpu_s"]) / result.ok if result.ok else math.nan,
        "postgres_cpu_ms_per_batch": _ms(cpu["postgres_cpu_s"]) / result.ok if result.ok else math.nan,
        "other_cores": cpu["other_cores"],
    }


def _single_figures(result: LoadResult, cpu: dict[str, float]) -> dict[str, Any]:
    ok = result.ok or math.nan
    return {
        "requests": result.ok,
        "requests_per_s": result.rate,
        "p50_ms": result.pct_ms(50),
        "p99_ms": result.pct_ms(99),
        "max_ms": _ms(max(result.latencies, default=math.nan)),
        "errors": result.errors,
        "stopped_early": result.stopped_early,
        "server_cpu_ms_per_request": _ms(cpu["server_cpu_s"]) / ok,
        "postgres_cpu_ms_per_request": _ms(cpu["postgres_cpu_s"]) / ok,
        "other_cores": cpu["other_cores"],
    }


def bench_singles(engine: str, sizes: Sizes) -> dict[str, Any]:
    """Part 2: one alert per webhook request; then the memory of the server holding those alerts."""
    bodies = single_bodies(sizes.singles, sizes.batch_groups, "s2")
    with temp_database(engine, "single") as db, siaga(db) as server:
        idle = memory_mb(server.pid)
        warm = single_bodies(50, sizes.batch_groups, "w2")
        run_load("POST", server.url + WEBHOOK, warm, concurrency=sizes.single_clients, headers=server.headers)
        say(f"{engine}: {len(bodies):,} single-alert requests from {sizes.single_clients} clients")
        watch = CpuWatch(server.pid)
        result = run_load(
            "POST",
            server.url + WEBHOOK,
            bodies,
            concurrency=sizes.single_clients,
            headers=server.headers,
            deadline_s=sizes.phase_deadline_s,
        )
        cpu = watch.stop()
        # Read a little too, so the figure is that of a server in use rather than one that only wrote.
        run_load("GET", server.url + "/api/v1/incidents?limit=50", 20, concurrency=1, headers=server.headers)
        active = int(db.scalar("SELECT count(*) FROM alerts WHERE status = 'firing'"))
        memory = memory_mb(server.pid)
    return {
        **_single_figures(result, cpu),
        "active_alerts": active,
        "idle_rss_mb": idle["rss_mb"],
        "rss_mb": memory["rss_mb"],
        "hwm_mb": memory["hwm_mb"],
    }


def _read_latency(
    url: str, headers: dict[str, str], count: int, path_for: Callable[[int], str] | None = None
) -> dict[str, Any]:
    """``count`` GETs from one client (latency, not throughput): p50, p95, max."""
    run_load("GET", url, 5, concurrency=1, headers=headers, path_for=path_for)  # warm-up
    result = run_load("GET", url, count, concurrency=1, headers=headers, path_for=path_for, deadline_s=120)
    return {
        "p50_ms": result.pct_ms(50),
        "p95_ms": result.pct_ms(95),
        "max_ms": _ms(max(result.latencies, default=math.nan)),
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
            say(f"{engine}: loading {sizes.load_alerts:,} alerts into {sizes.load_groups:,} incidents")
            watch = CpuWatch(server.pid)
            load = run_load(
                "POST",
                server.url + WEBHOOK,
                bodies,
                concurrency=sizes.batch_clients,
                headers=server.headers,
                keep_json=True,
                deadline_s=sizes.phase_deadline_s * 1.5,
            )
            out["load_other_cores"] = watch.stop()["other_cores"]
            out["load_alerts_per_s"] = accepted_of(load) / load.elapsed
            out["load_errors"] = load.errors
            out["load_stopped_early"] = load.stopped_early
            out["active_alerts"] = int(db.scalar("SELECT count(*) FROM alerts WHERE status = 'firing'"))
            out["open_incidents"] = int(
                db.scalar("SELECT count(*) FROM incidents WHERE status != 'resolved'")
            )
            low = int(db.scalar("SELECT min(id) FROM incidents"))
            high = int(db.scalar("SELECT max(id) FROM incidents"))
            say(f"{engine}: reading incidents ({sizes.reads} requests of each kind, one client)")
            watch = CpuWatch(server.pid)
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
            out["read_other_cores"] = watch.stop()["other_cores"]
            memory = memory_mb(server.pid)
            out["loaded_rss_mb"], out["loaded_hwm_mb"] = memory["rss_mb"], memory["hwm_mb"]
        say(f"{engine}: {sizes.starts} starts of `siaga run` on the loaded database")
        times, cpu = [], []
        for _ in range(sizes.starts):
            started = start_siaga(db, token, db.data_dir / "siaga-starts.log")
            stop_process(started.process)
            times.append(started.ready_seconds)
            cpu.append(started.ready_cpu_seconds)
        out["ready_s"] = times
        out["ready_median_s"] = statistics.median(times)
        out["ready_cpu_median_s"] = statistics.median(cpu)
    return out


def bench_alertmanager(sizes: Sizes) -> dict[str, Any]:
    """Part 5: the peer takes the single-alert load (a JSON array with one alert per request)."""
    starts_at = _now_iso()
    bodies = []
    for k in range(sizes.singles + 50):
        alert = make_alert(k, sizes.batch_groups, "am", starts_at)
        bodies.append(
            json.dumps([{key: alert[key] for key in ("labels", "annotations", "startsAt")}]).encode()
        )
    with alertmanager() as (url, pid):
        headers = {"Content-Type": "application/json"}
        run_load(
            "POST", url + "/api/v2/alerts", bodies[-50:], concurrency=sizes.single_clients, headers=headers
        )
        say(f"alertmanager: {sizes.singles:,} single-alert requests from {sizes.single_clients} clients")
        watch = CpuWatch(pid)
        result = run_load(
            "POST",
            url + "/api/v2/alerts",
            bodies[: sizes.singles],
            concurrency=sizes.single_clients,
            headers=headers,
            deadline_s=sizes.phase_deadline_s,
        )
        cpu = watch.stop()
        memory = memory_mb(pid)
    return {**_single_figures(result, cpu), "rss_mb": memory["rss_mb"], "hwm_mb": memory["hwm_mb"]}


# -- report ------------------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _errors(errors: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in errors.items()) or "0"


def engine_rows(r: dict[str, Any]) -> list[list[str]]:
    """Result rows for one engine: measure, figure, goal, verdict."""
    b, s, q = r["batches"], r["singles"], r["reads"]
    if b["durable"]:
        durable = f"{b['alert_log_rows']:,} log rows = {b['accepted']:,} accepted"
    else:
        durable = f"{b['alert_log_rows']:,} log rows, {b['alert_rows']:,} alerts, {b['accepted']:,} accepted"
    pg_batch = f" + PostgreSQL {b['postgres_cpu_ms_per_batch']:.0f} ms" if r["engine"] == "postgresql" else ""
    pg_single = (
        f" + PostgreSQL {s['postgres_cpu_ms_per_request']:.1f} ms" if r["engine"] == "postgresql" else ""
    )
    reads = [
        ("GET /incidents?limit=50", q["list"]),
        ("GET /incidents?status=open&severity=SEV-1", q["list_filtered"]),
        (f"GET /incidents/{{id}}, random of {q['open_incidents']:,}", q["detail"]),
    ]
    rows = [
        [
            "1. batches of 100: alerts/s",
            f"{b['alerts_per_s']:,.0f}",
            "≥ 5,000",
            _verdict(b["alerts_per_s"] >= 5000),
        ],
        ["   batch latency p50 / p99", f"{b['batch_p50_ms']:.0f} / {b['batch_p99_ms']:.0f} ms", "", ""],
        ["   server CPU per batch", f"{b['server_cpu_ms_per_batch']:.0f} ms{pg_batch}", "", ""],
        ["   alert log after SIGKILL", durable, "= accepted", _verdict(b["durable"])],
        [
            "2. single alert: requests/s",
            f"{s['requests_per_s']:,.0f}",
            "≥ 1,000",
            _verdict(s["requests_per_s"] >= 1000),
        ],
        ["   latency p50", f"{s['p50_ms']:.1f} ms", "", ""],
        ["   latency p99", f"{s['p99_ms']:.1f} ms", "≤ 50 ms", _verdict(s["p99_ms"] <= 50)],
        ["   server CPU per request", f"{s['server_cpu_ms_per_request']:.1f} ms{pg_single}", "", ""],
        [
            f"3. bulk load, {q['active_alerts']:,} alerts / {q['open_incidents']:,} incidents",
            f"{q['load_alerts_per_s']:,.0f} alerts/s",
            "",
            "",
        ],
        *[
            [
                f"   {name}: p50 / p95",
                f"{f['p50_ms']:.1f} / {f['p95_ms']:.1f} ms",
                "p95 ≤ 200 ms",
                _verdict(f["p95_ms"] <= 200),
            ]
            for name, f in reads
        ],
        [
            f"4. RSS with {s['active_alerts']:,} active alerts (peak)",
            f"{s['rss_mb']:.0f} MB ({s['hwm_mb']:.0f} MB)",
            "≤ 150 MB",
            _verdict(s["rss_mb"] <= 150),
        ],
        ["   RSS idle, just started", f"{s['idle_rss_mb']:.0f} MB", "", ""],
        [
            f"   RSS with {q['active_alerts']:,} alerts (peak)",
            f"{q['loaded_rss_mb']:.0f} MB ({q['loaded_hwm_mb']:.0f} MB)",
            "",
            "",
        ],
        [
            f"5. readiness, median of {len(q['ready_s'])} (max)",
            f"{q['ready_median_s']:.2f} s ({max(q['ready_s']):.2f} s)",
            "≤ 2 s",
            _verdict(q["ready_median_s"] <= 2),
        ],
        ["   CPU used until ready, median", f"{q['ready_cpu_median_s']:.2f} s", "", ""],
    ]
    return rows


def report(results: dict[str, Any], sizes: Sizes) -> None:
    for engine in ENGINES:
        if engine not in results:
            continue
        r = results[engine]
        print(f"\n## Siaga on {engine}\n")
        print(table(["measure", "result", "goal", ""], engine_rows(r)))
        failed = (
            f"batches {_errors(r['batches']['errors'])}; singles {_errors(r['singles']['errors'])}; "
            f"bulk load {_errors(r['reads']['load_errors'])}"
        )
        busy = (
            f"batches {r['batches']['other_cores']:.2f}, singles {r['singles']['other_cores']:.2f}, "
            f"bulk load {r['reads']['load_other_cores']:.2f}, reads {r['reads']['read_other_cores']:.2f}"
        )
        capped = [
            name
            for name, hit in (
                ("batches", r["batches"]["stopped_early"]),
                ("singles", r["singles"]["stopped_early"]),
                ("bulk load", r["reads"]["load_stopped_early"]),
            )
            if hit
        ]
        print(f"\nfailed requests: {failed}")
        if capped:
            cap = f"{sizes.phase_deadline_s:.0f} s, bulk load 1.5 times that"
            print(f"STOPPED AT THE TIME CAP ({cap}), figures cover what was sent: {', '.join(capped)}")
        print(f"cores busy with other work on the machine meanwhile (of 2): {busy}")
    peer = results.get("alertmanager")
    if peer:
        print(f"\n## Single-alert requests: {sizes.singles:,} from {sizes.single_clients} clients\n")
        columns = [(f"Siaga ({e})", results[e]["singles"]) for e in ENGINES if e in results]
        columns.append(("Alertmanager 0.25 (memory only)", peer))
        rows = [
            ["requests/s", *[f"{c['requests_per_s']:,.0f}" for _, c in columns]],
            ["p50", *[f"{c['p50_ms']:.1f} ms" for _, c in columns]],
            ["p99", *[f"{c['p99_ms']:.1f} ms" for _, c in columns]],
            ["max", *[f"{c['max_ms']:.1f} ms" for _, c in columns]],
            ["server CPU per request", *[f"{c['server_cpu_ms_per_request']:.2f} ms" for _, c in columns]],
            ["failed requests", *[_errors(c["errors"]) for _, c in columns]],
            ["RSS after (peak)", *[f"{c['rss_mb']:.0f} MB ({c['hwm_mb']:.0f} MB)" for _, c in columns]],
            ["other work on the machine (cores)", *[f"{c['other_cores']:.2f}" for _, c in columns]],
        ]
        print(table(["", *[name for name, _ in columns]], rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=[*ENGINES, "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="~10x smaller sizes, for a smoke run")
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    args = parser.parse_args(argv)
    install_sigterm_cleanup()
    sizes = Sizes.quick() if args.quick else Sizes()
    engines = ENGINES if args.engine == "both" else (args.engine,)
    began = time.monotonic()
    results: dict[str, Any] = {}
    with channel_sink():  # incidents page into working local channels, as they would in production
        for engine in engines:
            results[engine] = {
                "engine": engine,
                "batches": bench_batches(engine, sizes),
                "singles": bench_singles(engine, sizes),
                "reads": bench_reads_and_starts(engine, sizes),
            }
    results["alertmanager"] = bench_alertmanager(sizes)
    say(f"done in {time.monotonic() - began:.0f} s")
    report(results, sizes)
    if args.json:
        args.json.write_text(json.dumps({"sizes": asdict(sizes), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
