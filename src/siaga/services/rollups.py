"""Raw results → per-minute → per-hour rollups, and the retention of each.

Rolling up runs behind a cursor per resolution (job_cursors), moved in the same transaction as the rows it
writes, so every minute is rolled up exactly once, also across crashes. A minute is rolled up only once all
runs that started in it can have finished (`settle`: the longest timeout plus a margin).

Retention (`project.retention`): by default raw results 7 days, minutes 35 days (the longest SLO window we
expect, 30 days, plus margin; burn-rate windows need at most 3 days), hours 400 days (uptime history,
monthly reports a year back). Minutes cost about 200 KiB per check per day (docs/benchmarks.md), which is why
they are not kept as long as hours by default.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from siaga.domain.slo import LATENCY_BOUNDS, MinuteSample, histogram_index
from siaga.services.ports import Row, UnitOfWork
from siaga.spec.models import Retention

KEEP_RESULTS = Retention().results  # how far back a first roll-up looks
_MINUTE = timedelta(minutes=1)
_HOUR = timedelta(hours=1)
_MAX_SPAN = timedelta(hours=6)  # most raw time rolled up per transaction (catch-up after downtime)
_DOWN = 2
_DEGRADED = 1


def _floor(at: datetime, step: timedelta) -> datetime:
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    return epoch + ((at - epoch) // step) * step


def _empty() -> dict[str, Any]:
    return {
        "count": 0,
        "failures": 0,
        "degraded": 0,
        "latency_sum": 0.0,
        "histogram": [0] * (len(LATENCY_BOUNDS) + 1),
    }


def minute_rows(results: Iterable[Row]) -> list[dict[str, Any]]:
    """Given raw results (check_id, at, status, latency), return one rollup row per check and minute."""
    buckets: dict[tuple[int, datetime], dict[str, Any]] = {}
    for row in results:
        key = (int(row["check_id"]), _floor(row["at"], _MINUTE))
        bucket = buckets.setdefault(key, _empty())
        bucket["count"] += 1
        if row["status"] == _DOWN:
            bucket["failures"] += 1
        elif row["status"] == _DEGRADED:
            bucket["degraded"] += 1
        latency = row["latency"]
        if latency is not None:
            bucket["latency_sum"] += latency
            bucket["histogram"][histogram_index(latency)] += 1
    return [{"check_id": c, "start": s, **b} for (c, s), b in sorted(buckets.items(), key=lambda kv: kv[0])]


def merge_rows(rows: Iterable[Row], step: timedelta) -> list[dict[str, Any]]:
    """Given rollup rows, return them merged into buckets of ``step`` (minutes → hours)."""
    buckets: dict[tuple[int, datetime], dict[str, Any]] = {}
    for row in rows:
        bucket = buckets.setdefault((int(row["check_id"]), _floor(row["start"], step)), _empty())
        for name in ("count", "failures", "degraded", "latency_sum"):
            bucket[name] += row[name]
        histogram = list(row["histogram"])
        bucket["histogram"] = [a + b for a, b in zip(bucket["histogram"], histogram, strict=False)]
    return [{"check_id": c, "start": s, **b} for (c, s), b in sorted(buckets.items(), key=lambda kv: kv[0])]


def roll_up(*, uow: UnitOfWork, now: datetime, settle: timedelta) -> int:
    """Roll up every finished minute (and hour) since the last call; return the minute rows written."""
    written = 0
    with uow.transaction() as store:
        limit = _floor(now - settle, _MINUTE)
        start = store.job_cursor("rollup.minutes")
        if start is None:
            start = limit - KEEP_RESULTS
        end = min(limit, start + _MAX_SPAN)
        if end > start:
            rows = minute_rows(store.results_between(start, end))
            store.insert_rollups("minute", rows)
            store.set_job_cursor("rollup.minutes", end)
            written = len(rows)
        hour_limit = _floor(end, _HOUR)
        hour_start = store.job_cursor("rollup.hours") or hour_limit - KEEP_RESULTS
        if hour_limit > hour_start:
            minutes = store.rollups("minute", _all_ids(store), hour_start, hour_limit)
            store.insert_rollups("hour", merge_rows(minutes, _HOUR))
            store.set_job_cursor("rollup.hours", hour_limit)
    return written


def _all_ids(store: Any) -> list[int]:
    return [int(row["id"]) for row in store.check_rows()]


def prune(*, uow: UnitOfWork, now: datetime, retention: Retention) -> int:
    """Delete results, minutes and hours past their retention; return how many rows went."""
    with uow.transaction() as store:
        return store.prune_check_data(
            results_before=now - retention.results,
            minutes_before=now - retention.minutes,
            hours_before=now - retention.hours,
        )


def samples(rows: Sequence[Row], every: dict[int, timedelta]) -> dict[int, list[MinuteSample]]:
    """Given rollup rows and each check's interval, return MinuteSamples by check id, in time order."""
    found: dict[int, list[MinuteSample]] = {}
    for row in rows:
        check_id = int(row["check_id"])
        found.setdefault(check_id, []).append(
            MinuteSample(
                start=row["start"],
                count=int(row["count"]),
                failures=int(row["failures"]),
                degraded=int(row["degraded"]),
                latency_sum=float(row["latency_sum"]),
                histogram=tuple(row["histogram"]),
                every=every.get(check_id, _MINUTE),
            )
        )
    return found
