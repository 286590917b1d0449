"""Prometheus' HTTP query API (``/api/v1/query``): one instant query, its vector as samples.

Used when Siaga evaluates the spec's PromQL rules itself (``prometheus.url`` set, no Alertmanager). A
failed query raises ``QueryError`` with a one-line reason; the caller then leaves every rule instance as
it was, as Prometheus does when a rule's query fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import aiohttp
import orjson

log = logging.getLogger(__name__)


class QueryError(Exception):
    """The query could not be answered: Prometheus unreachable, a bad answer, or its own error."""


@dataclass(frozen=True, slots=True)
class Sample:
    labels: Mapping[str, str]
    value: float


async def instant_query(
    session: aiohttp.ClientSession, base_url: str, expr: str, at: datetime, timeout: float = 10.0
) -> list[Sample]:
    """Given a PromQL expression and an evaluation time, return the resulting samples (a scalar is one
    sample without labels)."""
    url = base_url.rstrip("/") + "/api/v1/query"
    form = {"query": expr, "time": f"{at.timestamp():.3f}", "timeout": f"{timeout:g}s"}
    try:
        async with session.post(url, data=form, timeout=aiohttp.ClientTimeout(total=timeout + 1)) as response:
            body = await response.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise QueryError(f"Prometheus at {base_url} did not answer: {type(exc).__name__}") from None
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise QueryError(f"Prometheus answered {response.status} with a body that is not JSON") from None
    if not isinstance(answer, dict) or answer.get("status") != "success":
        error = answer.get("error", "no error given") if isinstance(answer, dict) else "unexpected answer"
        raise QueryError(f"Prometheus refused the query: {error}")
    data = answer.get("data") or {}
    kind, result = data.get("resultType"), data.get("result")
    if kind == "vector" and isinstance(result, list):
        return [Sample(dict(item.get("metric", {})), float(item["value"][1])) for item in result]
    if kind == "scalar" and isinstance(result, list):
        return [Sample({}, float(result[1]))]
    raise QueryError(f"an alerting rule needs an instant vector, and the query gave a {kind}")


async def query_rules(
    session: aiohttp.ClientSession,
    base_url: str,
    exprs: Sequence[str],
    at: datetime,
    concurrency: int = 8,
) -> list[list[Sample] | None]:
    """Every expression at ``at``, a few at a time; a failed query gives None in its place (and is logged)."""
    slots = asyncio.Semaphore(concurrency)

    async def one(expr: str) -> list[Sample] | None:
        async with slots:
            try:
                return await instant_query(session, base_url, expr, at)
            except QueryError as error:
                log.warning("PromQL rule query failed (%s): %s", expr, error)
                return None

    return list(await asyncio.gather(*(one(expr) for expr in exprs)))
