"""Probe benchmark: N HTTP checks every 60 s against local targets, Siaga's scheduler against a real
Prometheus + blackbox_exporter probing the same targets at the same interval, at the same time, same machine.

    .venv/bin/python bench/probes.py                         # 1,000 then 10,000 checks, 10 minutes each
    .venv/bin/python bench/probes.py --minutes 2 --checks 1000   # a quick run
    .venv/bin/python bench/probes.py --sides peer            # only Prometheus + blackbox (or --sides siaga)

Each phase starts, fresh: one target server (bench/_targets.py, its own process) answering `/{side}/t/{i}` at
once and holding `/{side}/hang/{i}` for 15 s; 10 % of the checks (every tenth) point at /hang, so they run
into the 10 s timeout every time. Then both probers, on the same N targets, every 60 s, timeout 10 s:

- Siaga: `siaga run` on a temporary data dir (SQLite, or `--engine postgresql`), a spec of N/100 services of
  100 http checks each (severity SEV-2), SIAGA_METRICS=open; it probes, stores the results and opens incidents
  for the failing checks.
- The peer: `/usr/bin/prometheus-blackbox-exporter` (module http_2xx, timeout 10s) and `/usr/bin/prometheus`
  scraping it with the standard multi-target pattern (one job, the N URLs as static targets relabelled into
  `?target=`, scrape_interval 60s, scrape_timeout 10s) into a temporary TSDB, with one alert rule
  (`probe_success == 0` for 1m, evaluated every 15 s): it probes, stores and alerts too.

After every process is ready, one interval of warm-up, then the measured window of `--minutes`: per
process CPU seconds (from /proc) and memory (VmRSS at the end, VmHWM = peak RSS) at both ends; the probes
each side made are the requests the target server received from it (the same ruler for both). Siaga's start
lag (scheduled to actual start of a run) comes from its `siaga_probe_start_lag_seconds` histogram (quantiles
interpolated as PromQL's histogram_quantile does) and `siaga_probe_late_runs_total` (runs started > 1 s
late), as deltas over the window. For the peer, Prometheus' own `prometheus_target_interval_length_seconds`
(the actual time between two scrapes of a target, a summary over its last 10 minutes) shows its scheduling
jitter.

Goals (the issue): < 0.1 % of runs start > 1 s late and p99 start lag < 100 ms, with the 10 % hanging targets;
CPU per probe ≤ 0.5x the peer's; peak RSS ≤ 0.25x the peer's (Prometheus + blackbox).

Traffic goes to 127.0.0.1 only; every process and temporary directory is removed, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    ROOT,
    _machine_busy_seconds,
    _postgres_pids,
    cpu_seconds,
    free_port,
    http_status,
    install_sigterm_cleanup,
    memory_mb,
    start_siaga,
    stop_process,
    table,
    temp_database,
)

PROMETHEUS = "/usr/bin/prometheus"
BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
TICKS = os.sysconf("SC_CLK_TCK")
TARGETS = Path(__file__).resolve().parent / "_targets.py"
HANG_S = 15.0  # how long a /hang/ request is held: longer than both probers' 10 s timeout
CHECKS_PER_SERVICE = 100
SIDES = ("siaga", "peer")
# Goals from the issue.
LATE_GOAL = 0.001  # fraction of runs started > 1 s late
P99_GOAL_S = 0.100
CPU_RATIO_GOAL = 0.5
RSS_RATIO_GOAL = 0.25

BLACKBOX_CONFIG = """\
modules:
  http_2xx:
    prober: http
    timeout: {timeout}s
    http:
      preferred_ip_protocol: ip4
"""
RULES = """\
groups:
  - name: probes
    rules:
      - alert: ProbeFailed
        expr: probe_success == 0
        for: 1m
        labels: {severity: SEV-2}
"""


def say(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


# -- the checks --------------------------------------------------------------------------------------


def target_path(side: str, i: int, hang_every: int) -> str:
    kind = "hang" if hang_every and i % hang_every == hang_every - 1 else "t"
    return f"/{side}/{kind}/{i}"


def siaga_spec(checks: int, port: int, hang_every: int, interval: int, timeout: int) -> str:
    lines = [
        "version: 1",
        "project: {name: bench}",
        "severities: [{name: SEV-1}, {name: SEV-2}]",
        "services:",
    ]
    for service in range(math.ceil(checks / CHECKS_PER_SERVICE)):
        lines += [f"  target-{service:05d}:", "    checks:"]
        for n in range(CHECKS_PER_SERVICE):
            i = service * CHECKS_PER_SERVICE + n
            if i >= checks:
                break
            url = f"http://127.0.0.1:{port}{target_path('siaga', i, hang_every)}"
            lines.append(
                f'      - {{name: http-{n:02d}, http: {{url: "{url}"}}, every: {interval}s, '
                f"timeout: {timeout}s, severity: SEV-2}}"
            )
    return "\n".join(lines) + "\n"


def prometheus_config(
    checks: int, port: int, blackbox_port: int, hang_every: int, interval: int, timeout: int
) -> str:
    targets = "\n".join(
        f"          - http://127.0.0.1:{port}{target_path('peer', i, hang_every)}" for i in range(checks)
    )
    return f"""\
global:
  scrape_interval: {interval}s
  scrape_timeout: {timeout}s
  evaluation_interval: 15s
rule_files: [rules.yml]
scrape_configs:
  - job_name: blackbox
    metrics_path: /probe
    params: {{module: [http_2xx]}}
    static_configs:
      - targets:
{targets}
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:{blackbox_port}
"""


# -- processes ---------------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[Any]
    log: Path
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}"
            )


@contextlib.contextmanager
def started(
    name: str, command: list[str], log: Path, port: int, ready_path: str, timeout: float = 60.0
) -> Iterator[Proc]:
    """Start ``command`` in its own session, wait for a 200 on ``ready_path``, stop it afterwards."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=out, stdin=subprocess.DEVNULL, cwd=ROOT, start_new_session=True
        )
    proc = Proc(name, process, log, port)
    try:
        deadline = time.monotonic() + timeout
        while http_status(port, ready_path) != 200:
            proc.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} not ready after {timeout:.0f}s:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)
        yield proc
    finally:
        stop_process(process)


def http_get(port: int, path: str, timeout: float = 30.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tree_cpu_seconds(pid: int) -> float:
    """CPU of ``pid``, of its live descendants, and of the children it has reaped (cutime + cstime)."""
    tree = _children()
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += cpu_seconds(current)
        todo += tree.get(current, [])
    with contextlib.suppress(OSError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[13]) + int(fields[14])) / TICKS
    return total


def descendants(pid: int) -> list[int]:
    tree = _children()
    found, todo = [], list(tree.get(pid, []))
    while todo:
        current = todo.pop()
        found.append(current)
        todo += tree.get(current, [])
    return found


# -- metrics -----------------------------------------------------------------------------------------


def scrape(port: int, path: str = "/metrics") -> list[tuple[str, dict[str, str], float]]:
    status, body = http_get(port, path)
    if status != 200:
        raise RuntimeError(f"GET {path} on :{port} answered {status}: {body[:300]!r}")
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    ]


def total(samples: list[tuple[str, dict[str, str], float]], name: str) -> float | None:
    values = [value for sample, _, value in samples if sample == name]
    return sum(values) if values else None


def buckets(samples: list[tuple[str, dict[str, str], float]], name: str) -> dict[float, float]:
    """Cumulative bucket counts of histogram ``name`` summed over its other labels, by upper bound."""
    out: dict[float, float] = {}
    for sample, labels, value in samples:
        if sample == f"{name}_bucket":
            le = float(labels["le"])
            out[le] = out.get(le, 0.0) + value
    return out


def histogram_quantile(q: float, cumulative: dict[float, float]) -> float:
    """PromQL's histogram_quantile over cumulative bucket counts (linear inside the bucket; the highest
    finite bound if the rank falls in +Inf)."""
    bounds = sorted(cumulative)
    if not bounds or cumulative[bounds[-1]] <= 0:
        return float("nan")
    rank = q * cumulative[bounds[-1]]
    lower, below = 0.0, 0.0
    for i, bound in enumerate(bounds):
        count = cumulative[bound]
        if count >= rank:
            if math.isinf(bound):
                return bounds[i - 1] if i > 0 else float("nan")
            if i == 0 and bound <= 0:
                return bound
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return bounds[-2] if len(bounds) > 1 else float("nan")


SIAGA_REQUIRED = ("siaga_probe_runs_total", "siaga_probe_start_lag_seconds_bucket")


def siaga_metrics(port: int) -> list[tuple[str, dict[str, str], float]]:
    samples = scrape(port)
    names = {name for name, _, _ in samples}
    missing = [name for name in SIAGA_REQUIRED if name not in names]
    if missing:
        have = sorted(n for n in names if n.startswith("siaga_"))
        raise MetricsMissing(
            f"Siaga's /metrics has no {', '.join(missing)} (is the probe scheduler in this build? "
            f"src/siaga/runtime/scheduler.py {'exists' if SCHEDULER.exists() else 'does not exist'}); "
            f"it has: {', '.join(have) or 'no siaga_ metrics'}"
        )
    return samples


class MetricsMissing(RuntimeError):
    pass


SCHEDULER = ROOT / "src" / "siaga" / "runtime" / "scheduler.py"


# -- one phase ---------------------------------------------------------------------------------------


@dataclass
class Snapshot:
    at: float
    cpu: dict[str, float]
    memory: dict[str, dict[str, float]]
    hits: dict[str, dict[str, int]]
    abandoned: dict[str, Any]
    busy: float
    siaga: list[tuple[str, dict[str, str], float]] | None = None
    prometheus: list[tuple[str, dict[str, str], float]] | None = None


@dataclass
class Phase:
    checks: int
    sides: tuple[str, ...]
    procs: dict[str, Proc] = field(default_factory=dict)
    siaga_error: str | None = None
    postgres: bool = False
    peak_rss: dict[str, float] = field(default_factory=dict)  # highest VmRSS sampled during the window

    def snapshot(self, *, metrics: bool = False) -> Snapshot:
        """CPU, memory and target hits now; with ``metrics`` also both sides' /metrics."""
        cpu = {name: cpu_seconds(proc.pid) for name, proc in self.procs.items()}
        if "siaga" in self.procs:
            cpu["siaga"] = tree_cpu_seconds(self.procs["siaga"].pid)
        if self.postgres:
            cpu["postgres"] = sum(cpu_seconds(pid) for pid in _postgres_pids())
        cpu["bench"] = cpu_seconds("self")
        memory = {name: self._memory(name, proc) for name, proc in self.procs.items()}
        for name, mem in memory.items():
            self.peak_rss[name] = max(self.peak_rss.get(name, 0.0), mem["rss_mb"])
        stats = json.loads(http_get(self.procs["targets"].port, "/stats")[1])
        snap = Snapshot(
            at=time.monotonic(),
            cpu=cpu,
            memory=memory,
            hits=stats["hits"],
            abandoned=stats["abandoned"],
            busy=_machine_busy_seconds(),
        )
        if metrics and "siaga" in self.procs and self.siaga_error is None:
            try:
                snap.siaga = siaga_metrics(self.procs["siaga"].port)
            except MetricsMissing as error:
                self.siaga_error = str(error)
                say(f"ERROR: {error}; measuring the peer only")
        if metrics and "prometheus" in self.procs:
            snap.prometheus = scrape(self.procs["prometheus"].port)
        return snap

    def _memory(self, name: str, proc: Proc) -> dict[str, float]:
        mem = memory_mb(proc.pid)
        if name == "siaga":  # worker processes, if the scheduler has any
            for child in descendants(proc.pid):
                with contextlib.suppress(OSError, KeyError):
                    extra = memory_mb(child)
                    mem = {key: mem[key] + extra[key] for key in mem}
        return mem

    def check_alive(self) -> None:
        for proc in self.procs.values():
            proc.check_alive()


def probes_of(snap: Snapshot, side: str) -> int:
    return sum(snap.hits.get(side, {}).values())


def run_phase(args: argparse.Namespace, checks: int) -> dict[str, Any]:
    interval, timeout = args.interval, args.timeout
    hang_every = round(100 / args.hang_percent) if args.hang_percent else 0
    phase = Phase(checks, tuple(args.sides), postgres=args.engine == "postgresql")
    workdir = Path(tempfile.mkdtemp(prefix="siaga-bench-probes-"))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        port = free_port()
        phase.procs["targets"] = stack.enter_context(
            started(
                "targets",
                [sys.executable, str(TARGETS), "--port", str(port), "--hang", str(HANG_S)],
                workdir / "targets.log",
                port,
                "/stats",
            )
        )
        if "peer" in phase.sides:
            for binary in (PROMETHEUS, BLACKBOX):
                if not Path(binary).exists():
                    raise RuntimeError(f"{binary} is missing: run scripts/ensure-bench-tools.sh as root")
            bb_port, prom_port = free_port(), free_port()
            (workdir / "blackbox.yml").write_text(BLACKBOX_CONFIG.format(timeout=timeout))
            (workdir / "rules.yml").write_text(RULES)
            (workdir / "prometheus.yml").write_text(
                prometheus_config(checks, port, bb_port, hang_every, interval, timeout)
            )
            phase.procs["blackbox"] = stack.enter_context(
                started(
                    "blackbox_exporter",
                    [
                        BLACKBOX,
                        f"--config.file={workdir / 'blackbox.yml'}",
                        f"--web.listen-address=127.0.0.1:{bb_port}",
                        "--log.level=warn",
                    ],
                    workdir / "blackbox.log",
                    bb_port,
                    "/-/healthy",
                )
            )
            phase.procs["prometheus"] = stack.enter_context(
                started(
                    "prometheus",
                    [
                        PROMETHEUS,
                        f"--config.file={workdir / 'prometheus.yml'}",
                        f"--storage.tsdb.path={workdir / 'tsdb'}",
                        f"--web.listen-address=127.0.0.1:{prom_port}",
                        "--log.level=warn",
                    ],
                    workdir / "prometheus.log",
                    prom_port,
                    "/-/ready",
                    timeout=120,
                )
            )
            say(f"{checks:,} checks: Prometheus and blackbox_exporter ready")
        if "siaga" in phase.sides:
            db = stack.enter_context(temp_database(args.engine, "probes"))
            spec = db.data_dir / "probes.yaml"
            spec.write_text(siaga_spec(checks, port, hang_every, interval, timeout))
            server = start_siaga(
                db, "", db.data_dir / "siaga.log", timeout=300, config=spec, env={"SIAGA_METRICS": "open"}
            )
            stack.callback(stop_process, server.process)
            phase.procs["siaga"] = Proc("siaga run", server.process, db.data_dir / "siaga.log", server.port)
            say(f"{checks:,} checks: siaga run ready in {server.ready_seconds:.1f} s")
        phase.check_alive()

        warm_up = interval if args.warm_up is None else args.warm_up
        say(f"warm-up {warm_up} s, then {args.minutes:g} min measured")
        wait(phase, warm_up)
        phase.peak_rss.clear()
        start = phase.snapshot(metrics=True)
        wait(phase, args.minutes * 60, report=True)
        end = phase.snapshot(metrics=True)
        return figures(phase, start, end, peer_alerts(phase), checks, interval)


def wait(phase: Phase, seconds: float, *, report: bool = False) -> None:
    deadline = time.monotonic() + seconds
    last_report = time.monotonic()
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 10.0))
        phase.check_alive()
        snap = phase.snapshot()
        if report and time.monotonic() - last_report >= 60:
            last_report = time.monotonic()
            rss = ", ".join(f"{name} {mem['rss_mb']:.0f} MB" for name, mem in snap.memory.items())
            hits = ", ".join(f"{side} {probes_of(snap, side):,}" for side in SIDES if side in snap.hits)
            say(f"  {left / 60:.1f} min left; target hits {hits}; RSS {rss}")


def peer_alerts(phase: Phase) -> int | None:
    if "prometheus" not in phase.procs:
        return None
    query = urllib.parse.quote('count(ALERTS{alertstate="firing"})')
    status, body = http_get(phase.procs["prometheus"].port, f"/api/v1/query?query={query}")
    if status != 200:
        return None
    result = json.loads(body)["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def figures(
    phase: Phase, start: Snapshot, end: Snapshot, alerts: int | None, checks: int, interval: int
) -> dict[str, Any]:
    elapsed = end.at - start.at
    used = {name: end.cpu[name] - start.cpu.get(name, 0.0) for name in end.cpu}
    known = sum(used.values())  # every process of this benchmark, this script included
    out: dict[str, Any] = {
        "checks": checks,
        "window_s": elapsed,
        "expected_probes": checks * elapsed / interval,
        "cpu_s": used,
        "memory_end": end.memory,
        "peak_rss_sampled": dict(phase.peak_rss),
        "other_cores": max((end.busy - start.busy) - known, 0.0) / elapsed,
        "targets_cpu_per_k": None,
        "abandoned": end.abandoned,
    }
    all_probes = sum(probes_of(end, s) - probes_of(start, s) for s in SIDES)
    if all_probes:
        out["targets_cpu_per_k"] = used["targets"] / all_probes * 1000
    if "peer" in phase.sides:
        probes = probes_of(end, "peer") - probes_of(start, "peer")
        cpu = used["prometheus"] + used["blackbox"]
        out["peer"] = {
            "probes": probes,
            "hangs": end.hits.get("peer", {}).get("hang", 0) - start.hits.get("peer", {}).get("hang", 0),
            "cpu_s": cpu,
            "cpu_per_k": cpu / probes * 1000 if probes else float("nan"),
            "prometheus_cpu_per_k": used["prometheus"] / probes * 1000 if probes else float("nan"),
            "blackbox_cpu_per_k": used["blackbox"] / probes * 1000 if probes else float("nan"),
            "hwm_mb": end.memory["prometheus"]["hwm_mb"] + end.memory["blackbox"]["hwm_mb"],
            "rss_mb": end.memory["prometheus"]["rss_mb"] + end.memory["blackbox"]["rss_mb"],
            "prometheus_hwm_mb": end.memory["prometheus"]["hwm_mb"],
            "blackbox_hwm_mb": end.memory["blackbox"]["hwm_mb"],
            "alerts_firing": alerts,
            **peer_jitter(end.prometheus or []),
        }
    if "siaga" in phase.sides:
        probes = probes_of(end, "siaga") - probes_of(start, "siaga")
        cpu = used["siaga"] + used.get("postgres", 0.0)
        siaga_out: dict[str, Any] = {
            "probes": probes,
            "hangs": end.hits.get("siaga", {}).get("hang", 0) - start.hits.get("siaga", {}).get("hang", 0),
            "cpu_s": cpu,
            "postgres_cpu_s": used.get("postgres"),
            "cpu_per_k": cpu / probes * 1000 if probes else float("nan"),
            "hwm_mb": end.memory["siaga"]["hwm_mb"],
            "rss_mb": end.memory["siaga"]["rss_mb"],
            "error": phase.siaga_error,
        }
        if phase.siaga_error is None and start.siaga is not None and end.siaga is not None:
            siaga_out.update(siaga_lag(start.siaga, end.siaga))
        out["siaga"] = siaga_out
    return out


def siaga_lag(
    start: list[tuple[str, dict[str, str], float]], end: list[tuple[str, dict[str, str], float]]
) -> dict[str, Any]:
    name = "siaga_probe_start_lag_seconds"
    before, after = buckets(start, name), buckets(end, name)
    window = {le: after[le] - before.get(le, 0.0) for le in after}
    runs = (total(end, "siaga_probe_runs_total") or 0) - (total(start, "siaga_probe_runs_total") or 0)
    lagged = window.get(math.inf, 0.0)
    late_end, late_start = (
        total(end, "siaga_probe_late_runs_total"),
        total(start, "siaga_probe_late_runs_total"),
    )
    # Without the counter, from the histogram: runs above the 1 s bound.
    late = late_end - (late_start or 0.0) if late_end is not None else lagged - window.get(1.0, lagged)
    open_incidents = total(end, "siaga_incidents_open")
    return {
        "runs": runs,
        "lag_observed": lagged,
        "lag_p50_s": histogram_quantile(0.50, window),
        "lag_p99_s": histogram_quantile(0.99, window),
        "late": late,
        "late_fraction": late / lagged if lagged else float("nan"),
        "skipped": _delta(start, end, "siaga_probe_skipped_runs_total"),
        "checks_scheduled": total(end, "siaga_checks_scheduled"),
        "incidents_open": open_incidents,
    }


def _delta(
    start: list[tuple[str, dict[str, str], float]], end: list[tuple[str, dict[str, str], float]], name: str
) -> float | None:
    after = total(end, name)
    return None if after is None else after - (total(start, name) or 0.0)


def peer_jitter(samples: list[tuple[str, dict[str, str], float]]) -> dict[str, Any]:
    """Prometheus' time between two scrapes of a target (summary over its last 10 minutes) minus the
    interval: how far off schedule a scrape starts, the nearest the peer has to a start lag."""
    quantiles = {}
    configured = None
    for sample, labels, value in samples:
        if sample == "prometheus_target_interval_length_seconds" and "quantile" in labels:
            quantiles[float(labels["quantile"])] = value
            configured = labels.get("interval")
    seconds = _duration(configured) if configured else None
    if seconds is None:
        return {}
    return {
        f"interval_q{q:g}_minus_s": value - seconds for q, value in quantiles.items() if not math.isnan(value)
    }


def _duration(text: str) -> float | None:
    total_s, number = 0.0, ""
    units = {"h": 3600, "m": 60, "s": 1}
    for char in text:
        if char.isdigit() or char == ".":
            number += char
        elif char in units and number:
            total_s += float(number) * units[char]
            number = ""
        else:
            return None
    return total_s


# -- reporting ---------------------------------------------------------------------------------------


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None or math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def _f(value: float | None, spec: str = ",.0f", unit: str = "") -> str:
    return "—" if value is None or math.isnan(value) else f"{value:{spec}}{unit}"


def _ratio(ours: float | None, theirs: float | None, goal: float | None = None) -> str:
    if ours is None or not theirs or math.isnan(ours) or math.isnan(theirs):
        return ""
    ratio = ours / theirs
    return f"{ratio:.2f}x" + (f" {_mark(ratio <= goal)}" if goal is not None else "")


def report(result: dict[str, Any]) -> str:
    """The phase's table: Siaga, the peer, Siaga / peer with the goals, then notes."""
    siaga: dict[str, Any] = result.get("siaga") or {}
    peer: dict[str, Any] = result.get("peer") or {}
    measured = bool(siaga) and not siaga.get("error")
    rows: list[list[object]] = [
        [
            "probes done (target hits)",
            f"≈ {result['expected_probes']:,.0f}",
            _f(siaga.get("probes")),
            _f(peer.get("probes")),
            "",
        ],
        ["of which hanging (time out)", "", _f(siaga.get("hangs")), _f(peer.get("hangs")), ""],
        [
            "CPU s / 1,000 probes",
            f"≤ {CPU_RATIO_GOAL}x peer",
            _f(siaga.get("cpu_per_k"), ".2f"),
            f"{_f(peer.get('cpu_per_k'), '.2f')} (Prometheus {_f(peer.get('prometheus_cpu_per_k'), '.2f')} + "
            f"blackbox {_f(peer.get('blackbox_cpu_per_k'), '.2f')})"
            if peer
            else "—",
            _ratio(siaga.get("cpu_per_k"), peer.get("cpu_per_k"), CPU_RATIO_GOAL),
        ],
        [
            "RSS peak (VmHWM)",
            f"≤ {RSS_RATIO_GOAL}x peer",
            _f(siaga.get("hwm_mb"), ".0f", " MB"),
            f"{_f(peer.get('hwm_mb'), '.0f', ' MB')} "
            f"(Prometheus {_f(peer.get('prometheus_hwm_mb'), '.0f')} + "
            f"blackbox {_f(peer.get('blackbox_hwm_mb'), '.0f')})"
            if peer
            else "—",
            _ratio(siaga.get("hwm_mb"), peer.get("hwm_mb"), RSS_RATIO_GOAL),
        ],
        [
            "RSS at the end",
            "",
            _f(siaga.get("rss_mb"), ".0f", " MB"),
            _f(peer.get("rss_mb"), ".0f", " MB"),
            _ratio(siaga.get("rss_mb"), peer.get("rss_mb")),
        ],
    ]
    if siaga.get("postgres_cpu_s") is not None:
        rows.append(["of Siaga's CPU: PostgreSQL", "", _f(siaga.get("postgres_cpu_s"), ".1f", " s"), "", ""])
    jitter = "—"
    if "interval_q0.5_minus_s" in peer:
        jitter = (
            f"scrape interval - {result['interval']} s: {_ms(peer['interval_q0.5_minus_s'])} / "
            f"{_ms(peer.get('interval_q0.99_minus_s'))}"
        )
    if measured:
        p99, late = siaga["lag_p99_s"], siaga["late_fraction"]
        rows += [
            ["Siaga runs (siaga_probe_runs_total)", "", _f(siaga.get("runs")), "", ""],
            [
                "start lag p50 / p99",
                f"p99 < {P99_GOAL_S * 1000:.0f} ms",
                f"{_ms(siaga['lag_p50_s'])} / {_ms(p99)} {_mark(not math.isnan(p99) and p99 < P99_GOAL_S)}",
                jitter,
                "",
            ],
            [
                "runs started > 1 s late",
                f"< {LATE_GOAL * 100:g} %",
                f"{_f(siaga['late'])} = {_f(late * 100, '.3f', ' %')} "
                f"{_mark(not math.isnan(late) and late < LATE_GOAL)}",
                "",
                "",
            ],
            ["runs skipped (previous one still running)", "", _f(siaga.get("skipped")), "", ""],
            ["checks scheduled", "", _f(siaga.get("checks_scheduled")), "", ""],
        ]
    else:
        rows.append(
            [
                "start lag p50 / p99",
                f"p99 < {P99_GOAL_S * 1000:.0f} ms",
                "not measured" if siaga else "—",
                jitter,
                "",
            ]
        )
    rows.append(
        [
            "incidents open / alerts firing",
            "",
            _f(siaga.get("incidents_open")),
            _f(peer.get("alerts_firing")),
            "",
        ]
    )
    cpu = result["cpu_s"]
    notes = [
        f"window {result['window_s'] / 60:.1f} min; target server {cpu['targets']:.1f} CPU s"
        + (f" ({result['targets_cpu_per_k']:.2f} per 1,000 requests)" if result["targets_cpu_per_k"] else "")
        + f"; this script {cpu['bench']:.1f} s; other work on the machine: {result['other_cores']:.2f} cores",
        "hanging requests given up (whole phase): "
        + (
            ", ".join(
                f"{side} {v['count']:,} after {v['mean_s']:.2f} s mean, {v['max_s']:.2f} s max"
                for side, v in result["abandoned"].items()
            )
            or "none"
        ),
    ]
    if siaga.get("error"):
        notes.append(f"Siaga's start lag NOT MEASURED: {siaga['error']}")
    headers = [
        f"{result['checks']:,} checks every {result['interval']} s",
        "goal",
        "Siaga",
        "Prometheus + blackbox",
        "Siaga / peer",
    ]
    return table(headers, rows) + "\n" + "\n".join(notes)


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="measured window per phase (default 10)")
    parser.add_argument(
        "--phases", default="1000,10000", help="check counts, one phase each (default 1000,10000)"
    )
    parser.add_argument("--checks", type=int, help="a single phase of this many checks (instead of --phases)")
    parser.add_argument("--sides", default="siaga,peer", help="siaga, peer or both (default)")
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--hang-percent", type=float, default=10.0, help="share of targets that hang (10)")
    parser.add_argument("--interval", type=int, default=60, help="seconds between runs of a check (60)")
    parser.add_argument("--timeout", type=int, default=10, help="probe timeout in seconds (10)")
    parser.add_argument("--warm-up", type=float, help="seconds before the window (default one interval)")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    args.sides = tuple(side.strip() for side in args.sides.split(",") if side.strip())
    if not set(args.sides) <= set(SIDES) or not args.sides:
        parser.error("--sides: siaga, peer or siaga,peer")
    phases = [args.checks] if args.checks else [int(n) for n in args.phases.split(",")]
    install_sigterm_cleanup()
    if "siaga" in args.sides and not SCHEDULER.exists():
        say(f"note: {SCHEDULER.relative_to(ROOT)} does not exist yet; Siaga's probe metrics will be missing")
    results = []
    for checks in phases:
        say(
            f"phase: {checks:,} checks every {args.interval} s, {args.hang_percent:g} % hanging, "
            f"sides: {', '.join(args.sides)}"
        )
        result = run_phase(args, checks)
        result["interval"] = args.interval
        results.append(result)
        print(report(result), flush=True)
    if len(results) > 1:
        print(summary(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    failed = any(r.get("siaga", {}).get("error") for r in results)
    return 1 if failed else 0


def summary(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        siaga, peer = r.get("siaga"), r.get("peer")
        rows.append(
            [
                f"{r['checks']:,}",
                f"{siaga['hwm_mb']:.0f} / {siaga['rss_mb']:.0f}" if siaga else "—",
                f"{peer['hwm_mb']:.0f} / {peer['rss_mb']:.0f}" if peer else "—",
                f"{siaga['cpu_per_k']:.2f}" if siaga else "—",
                f"{peer['cpu_per_k']:.2f}" if peer else "—",
            ]
        )
    return table(
        ["checks", "Siaga RSS peak / end MB", "peer RSS peak / end MB", "Siaga CPU s/1k", "peer CPU s/1k"],
        rows,
    )


if __name__ == "__main__":
    sys.exit(main())
