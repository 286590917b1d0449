"""Siaga's own metrics, read from the database at scrape time (no gauges scattered through the code)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from siaga.bootstrap import Container
from siaga.runtime.scheduler import LAG_BOUNDS, SchedulerStats


class StateCollector(Collector):
    def __init__(self, container: Container) -> None:
        self._container = container

    def collect(self) -> Iterator[Metric]:
        with self._container.db.read() as store:
            open_counts = store.open_counts_by_severity()
            ingested = store.alert_event_count()
            breaches = store.breach_counts()
            pending = len(store.pending_postmortems())
        open_incidents = GaugeMetricFamily(
            "siaga_incidents_open", "Incidents not yet resolved, by severity.", labels=["severity"]
        )
        for level in self._container.policy.ladder.levels:
            open_incidents.add_metric([level.name], open_counts.get(level.name, 0))
        yield open_incidents
        yield CounterMetricFamily(
            "siaga_alerts_ingested", "Alert events received and stored.", value=ingested
        )
        breach = CounterMetricFamily(
            "siaga_incident_breaches", "Response targets missed, by target.", labels=["target"]
        )
        for target, count in sorted(breaches.items()):
            breach.add_metric([target], count)
        yield breach
        yield GaugeMetricFamily(
            "siaga_postmortems_pending",
            "Incidents that need a post-mortem and have none attached.",
            value=pending,
        )


class SchedulerCollector(Collector):
    """The probe scheduler's own counters (held in memory by the scheduler, read at scrape time)."""

    def __init__(self, stats: SchedulerStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats
        runs = CounterMetricFamily("siaga_probe_runs", "Check runs started, by kind.", labels=["kind"])
        for kind, count in sorted(stats.runs.items()):
            runs.add_metric([kind], count)
        yield runs
        cumulative, buckets = 0, []
        for bound, count in zip((*LAG_BOUNDS, float("inf")), stats.lag_buckets, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        yield HistogramMetricFamily(
            "siaga_probe_start_lag_seconds",
            "Seconds between a run's scheduled start and its actual start.",
            buckets=buckets,
            sum_value=stats.lag_sum,
        )
        yield CounterMetricFamily(
            "siaga_probe_late_runs", "Runs started more than 1 s late.", value=stats.late
        )
        yield CounterMetricFamily(
            "siaga_probe_skipped_runs",
            "Runs not started because the check's previous run was still going.",
            value=stats.skipped,
        )
        yield CounterMetricFamily(
            "siaga_check_write_errors",
            "Batches of check results that could not be written.",
            value=stats.write_errors,
        )
        yield GaugeMetricFamily("siaga_checks_scheduled", "Checks the scheduler runs.", value=stats.scheduled)
        yield GaugeMetricFamily("siaga_probes_in_flight", "Check runs in progress.", value=stats.in_flight)


class StackCollector(Collector):
    """The Prometheus stack `siaga stack` supervises beside this Siaga (its status file), if any."""

    def __init__(self, stack_dir: Path) -> None:
        self._stack_dir = stack_dir

    def collect(self) -> Iterator[Metric]:
        from siaga.runtime import stack

        healthy = GaugeMetricFamily(
            "siaga_stack_component_healthy",
            "1 when a component of the supervised Prometheus stack runs and answers its health check.",
            labels=["component"],
        )
        restarts = CounterMetricFamily(
            "siaga_stack_component_restarts", "Restarts of each stack component.", labels=["component"]
        )
        if (self._stack_dir / stack.STACK_FILE).is_file():
            found = stack.status(self._stack_dir)
            for component in found.components:
                healthy.add_metric([component.name], 1 if found.running and component.healthy else 0)
                restarts.add_metric([component.name], component.restarts)
        yield healthy
        yield restarts


class BackupCollector(Collector):
    """Each backup job's last outcomes, for dashboards and for Prometheus' own alerting."""

    def __init__(self, container: Container) -> None:
        self._container = container

    def collect(self) -> Iterator[Metric]:
        jobs = sorted(self._container.spec.backups.jobs)
        with self._container.db.read() as store:
            latest = store.latest_backup_runs() if jobs else {}
        families = {
            "last_success": GaugeMetricFamily(
                "siaga_backup_last_success_timestamp_seconds",
                "When the job's newest successful backup finished (Unix time).",
                labels=["job"],
            ),
            "result": GaugeMetricFamily(
                "siaga_backup_last_result",
                "1 when the job's newest backup succeeded, 0 when it failed.",
                labels=["job"],
            ),
            "size": GaugeMetricFamily(
                "siaga_backup_last_size_bytes", "Bytes of the newest successful backup.", labels=["job"]
            ),
            "duration": GaugeMetricFamily(
                "siaga_backup_last_duration_seconds",
                "How long the newest successful backup took.",
                labels=["job"],
            ),
            "verify": GaugeMetricFamily(
                "siaga_backup_verify_ok", "1 when the newest verify passed, 0 when it failed.", labels=["job"]
            ),
            "drill": GaugeMetricFamily(
                "siaga_backup_drill_ok",
                "1 when the newest drill met its RTO and RPO, 0 when not.",
                labels=["job"],
            ),
            "rto": GaugeMetricFamily(
                "siaga_backup_drill_rto_seconds", "RTO the newest drill achieved.", labels=["job"]
            ),
            "rpo": GaugeMetricFamily(
                "siaga_backup_drill_rpo_seconds", "RPO the newest drill achieved.", labels=["job"]
            ),
        }
        for job in jobs:
            ok, failed = latest.get((job, "backup", True)), latest.get((job, "backup", False))
            if ok is not None:
                families["last_success"].add_metric([job], ok["finished_at"].timestamp())
                families["size"].add_metric([job], float(ok["bytes"] or 0))
                families["duration"].add_metric([job], (ok["finished_at"] - ok["started_at"]).total_seconds())
            newest = max((r for r in (ok, failed) if r is not None), key=lambda r: r["id"], default=None)
            if newest is not None:
                families["result"].add_metric([job], 1.0 if newest["ok"] else 0.0)
            for kind, key in (("verify", "verify"), ("drill", "drill")):
                runs = [r for r in (latest.get((job, kind, True)), latest.get((job, kind, False))) if r]
                if runs:
                    last = max(runs, key=lambda r: r["id"])
                    families[key].add_metric([job], 1.0 if last["ok"] else 0.0)
                    if kind == "drill":
                        for name in ("rto", "rpo"):
                            value = (last["detail"] or {}).get(f"{name}_seconds")
                            if value is not None:
                                families[name].add_metric([job], float(value))
        yield from families.values()
