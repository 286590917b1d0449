"""Siaga's own metrics, read from the database at scrape time (no gauges scattered through the code)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from siaga.bootstrap import Container


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
