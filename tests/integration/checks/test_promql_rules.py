"""PromQL rules Siaga evaluates itself through a real Prometheus' query API (no Alertmanager in between).

The series come from a real Prometheus scraping a metrics endpoint whose values the test sets; `for:` runs
on the manual clock (evaluation time and query time are passed separately).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from siaga.adapters.clock import ManualClock
from siaga.bootstrap import Container
from siaga.integrations.prometheus_query import QueryError, Sample, instant_query, query_rules
from siaga.services import incidents, promql_rules
from siaga.spec import Spec
from siaga.spec.checks import Rule
from tests.integration.checks.conftest import make_spec
from tests.integration.servers import metrics_server, prometheus, wait_until

SCRAPE = """
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: app
    static_configs: [{{targets: ["{target}"], labels: {{service: shop}}}}]
"""
RULES = """
prometheus:
  url: {url}
  alertmanager: {{enabled: false}}
rules:
  - name: QueueBacklog
    expr: queue_depth > 5
    for: 1m
    severity: critical
    annotations:
      summary: "Backlog on {{{{ $labels.queue }}}}: {{{{ $value }}}} jobs"
"""


def _query(url: str, expr: str) -> list[Sample]:
    async def run() -> list[Sample]:
        async with aiohttp.ClientSession() as session:
            return await instant_query(session, url, expr, datetime.now(UTC))

    return asyncio.run(run())


def _evaluate(spec: Spec, url: str) -> list[tuple[Rule, list[Sample] | None]]:
    rules = [rule for rule in spec.rules if rule.expr]

    async def run() -> list[list[Sample] | None]:
        async with aiohttp.ClientSession() as session:
            return await query_rules(session, url, [str(r.expr) for r in rules], datetime.now(UTC))

    return list(zip(rules, asyncio.run(run()), strict=True))


def test_rule_goes_pending_fires_and_resolves_like_prometheus(
    wire: Callable[[Spec], Container], clock: ManualClock, tmp_path: Path
) -> None:
    exposition = ['queue_depth{queue="orders"} 12\nqueue_depth{queue="mail"} 1\n']
    with metrics_server(exposition) as target, prometheus(tmp_path, SCRAPE.format(target=target)) as url:
        spec = make_spec("services: {shop: {}}\n", RULES.format(url=url))
        container = wire(spec)
        wait_until(lambda: len(_query(url, "queue_depth")) == 2, what="the first scrape")

        def apply() -> promql_rules.Outcome:
            results = _evaluate(spec, url)
            return promql_rules.apply(
                uow=container.db, policy=container.policy, results=results, now=clock.now()
            )

        first = apply()
        assert first.fired == []
        assert incidents.list_incidents(uow=container.db) == []
        clock.advance(timedelta(seconds=59))
        assert apply().fired == []
        clock.advance(timedelta(seconds=1))
        fired = apply()
        assert len(fired.fired) == 1
        assert "orders" in fired.fired[0]
        [incident] = incidents.list_incidents(uow=container.db)
        assert incident["title"] == "Backlog on orders: 12 jobs"
        assert incident["severity"] == "SEV-1"
        detail = incidents.get_incident(uow=container.db, incident_id=int(str(incident["id"])))
        labels = detail["alerts"][0]["labels"]
        assert labels["queue"] == "orders"
        assert labels["service"] == "shop"
        assert labels["alertname"] == "QueueBacklog"

        # Still firing: no second alert; a failed query changes nothing.
        clock.advance(timedelta(seconds=15))
        assert apply().fired == []
        rule = spec.rules[0]
        kept = promql_rules.apply(
            uow=container.db, policy=container.policy, results=[(rule, None)], now=clock.now()
        )
        assert kept.resolved == []
        assert kept.fired == []

        exposition[0] = 'queue_depth{queue="orders"} 2\nqueue_depth{queue="mail"} 1\n'
        wait_until(lambda: not _query(url, "queue_depth > 5"), what="Prometheus to see the backlog drain")
        clock.advance(timedelta(seconds=15))
        resolved = apply()
        assert len(resolved.resolved) == 1
        detail = incidents.get_incident(uow=container.db, incident_id=int(str(incident["id"])))
        assert detail["alerts"][0]["status"] == "resolved"
        with container.db.transaction() as store:
            assert store.rule_states() == {}


def test_query_errors_are_one_line_reasons(tmp_path: Path) -> None:
    with (
        metrics_server(["queue_depth 1\n"]) as target,
        prometheus(tmp_path, SCRAPE.format(target=target)) as url,
    ):
        with pytest.raises(QueryError, match="needs an instant vector, and the query gave a matrix"):
            _query(url, "queue_depth[1m]")
        with pytest.raises(QueryError, match="Prometheus refused the query"):
            _query(url, "rate(queue_depth)")
    with pytest.raises(QueryError, match="did not answer"):
        _query(url, "up")
