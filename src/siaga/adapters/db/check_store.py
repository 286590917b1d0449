"""Queries for checks: their rows and state, raw results, minute and hour rollups, rule instances."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from siaga.adapters.db.tables import check_hours, check_minutes, check_results, checks, rule_states
from siaga.domain.slo import LATENCY_BOUNDS
from siaga.services.ports import Row

_ROLLUPS = {"minute": check_minutes, "hour": check_hours}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE = timedelta(minutes=1)


def _to_minute(at: datetime) -> int:
    return (at - _EPOCH) // _MINUTE


def _from_minute(minute: int) -> datetime:
    return _EPOCH + minute * _MINUTE


def _packed(histogram: Sequence[int]) -> str:
    """The histogram as comma-separated counts without trailing zeros (most minutes hold one run)."""
    end = len(histogram)
    while end and not histogram[end - 1]:
        end -= 1
    return ",".join(str(count) for count in histogram[:end])


def _unpacked(text: str, width: int) -> list[int]:
    counts = [int(part) for part in text.split(",")] if text else []
    return counts + [0] * (width - len(counts))


def _rows(conn: Connection, query: sa.Executable) -> list[Row]:
    return cast(list[Row], list(conn.execute(query).mappings()))


class CheckQueries:
    """Mixed into the Store: same connection, same transaction."""

    conn: Connection

    def _insert_many(self, table: sa.Table, rows: Sequence[Row]) -> None:  # provided by Store
        raise NotImplementedError

    def _update_many(self, key: sa.Column[Any], rows: Sequence[Row]) -> None:  # provided by Store
        raise NotImplementedError

    def check_rows(self) -> list[Row]:
        return _rows(self.conn, sa.select(checks).order_by(checks.c.id))

    def check_rows_by_id(self, ids: Iterable[int]) -> dict[int, Row]:
        wanted = sorted(set(ids))
        found: dict[int, Row] = {}
        for start in range(0, len(wanted), 500):
            query = sa.select(checks).where(checks.c.id.in_(wanted[start : start + 500]))
            found.update({int(row["id"]): row for row in _rows(self.conn, query)})
        return found

    def insert_checks(self, rows: Sequence[Row]) -> None:
        self._insert_many(checks, rows)

    def update_checks(self, rows: Sequence[Row]) -> None:
        """Update check rows; each row carries ``b_id`` and the same columns to set."""
        self._update_many(checks.c.id, rows)

    def check_by_token(self, token: str) -> Row | None:
        query = sa.select(checks).where(checks.c.push_token == token, checks.c.removed_at.is_(None))
        return cast(Row | None, self.conn.execute(query).mappings().first())

    def insert_results(self, rows: Sequence[Row]) -> None:
        self._insert_many(check_results, rows)

    def results_between(self, start: datetime, end: datetime) -> list[Row]:
        query = sa.select(
            check_results.c.check_id, check_results.c.at, check_results.c.status, check_results.c.latency
        ).where(check_results.c.at >= start, check_results.c.at < end)
        return _rows(self.conn, query)

    def insert_rollups(self, resolution: str, rows: Sequence[Row]) -> None:
        """Insert rollup rows given with `start` (a datetime) and the full histogram."""
        stored = [
            {
                **{k: v for k, v in row.items() if k not in ("start", "histogram")},
                "minute": _to_minute(row["start"]),
                "histogram": _packed(row["histogram"]),
            }
            for row in rows
        ]
        self._insert_many(_ROLLUPS[resolution], stored)

    def rollups(self, resolution: str, check_ids: Iterable[int], start: datetime, end: datetime) -> list[Row]:
        """Rollup rows of these checks in [start, end), each with `start` and the full histogram."""
        table = _ROLLUPS[resolution]
        query = (
            sa.select(table)
            .where(
                table.c.check_id.in_(sorted(set(check_ids))),
                table.c.minute >= -((_EPOCH - start) // _MINUTE),  # buckets starting at or after `start`
                table.c.minute < -((_EPOCH - end) // _MINUTE),  # ... and before `end`
            )
            .order_by(table.c.check_id, table.c.minute)
        )
        width = len(LATENCY_BOUNDS) + 1
        found: list[Row] = []
        for row in self.conn.execute(query).mappings():
            found.append(
                {
                    **{k: v for k, v in row.items() if k not in ("minute", "histogram")},
                    "start": _from_minute(int(row["minute"])),
                    "histogram": _unpacked(row["histogram"], width),
                }
            )
        return found

    def rollup_sums(
        self, resolution: str, check_ids: Iterable[int], start: datetime, end: datetime, step: timedelta
    ) -> list[Row]:
        """Counts, failures and degraded runs of these checks together, summed in the database per `step`
        from `start` (buckets aligned to it) over [start, end); each row has `start`, `count`, `failures`."""
        table = _ROLLUPS[resolution]
        base = -((_EPOCH - start) // _MINUTE)
        width = max(step // _MINUTE, 1)
        bucket = ((table.c.minute - base) // width) * width + base
        query = (
            sa.select(
                bucket.label("bucket"),
                sa.func.sum(table.c.count).label("count"),
                sa.func.sum(table.c.failures).label("failures"),
                sa.func.sum(table.c.degraded).label("degraded"),
            )
            .where(
                table.c.check_id.in_(sorted(set(check_ids))),
                table.c.minute >= base,
                table.c.minute < -((_EPOCH - end) // _MINUTE),
            )
            .group_by(bucket)
            .order_by(bucket)
        )
        return [
            {
                "start": _from_minute(int(row["bucket"])),
                "count": int(row["count"] or 0),
                "failures": int(row["failures"] or 0),
                "degraded": int(row["degraded"] or 0),
            }
            for row in self.conn.execute(query).mappings()
        ]

    def prune_check_data(
        self, *, results_before: datetime, minutes_before: datetime, hours_before: datetime
    ) -> int:
        deleted = self.conn.execute(check_results.delete().where(check_results.c.at < results_before))
        removed = deleted.rowcount or 0
        # Rollups have no index on time alone: delete check by check along the primary key.
        ids = list(self.conn.execute(sa.select(checks.c.id)).scalars())
        for table, before in ((check_minutes, minutes_before), (check_hours, hours_before)):
            limit = _to_minute(before)
            for start in range(0, len(ids), 500):
                statement = table.delete().where(
                    table.c.check_id.in_(ids[start : start + 500]), table.c.minute < limit
                )
                removed += self.conn.execute(statement).rowcount or 0
        return removed

    def rule_states(self) -> dict[tuple[str, str], Row]:
        return {(row["rule"], row["instance"]): row for row in _rows(self.conn, sa.select(rule_states))}

    def save_rule_states(self, upserts: Sequence[Row], deletes: Sequence[tuple[str, str]]) -> None:
        """Write pending/firing rule instances and drop inactive ones (delete, then insert: no upsert
        dialects needed, and rows are few)."""
        keys = [*deletes, *((row["rule"], row["instance"]) for row in upserts)]
        for rule, instance in keys:
            self.conn.execute(
                rule_states.delete().where(rule_states.c.rule == rule, rule_states.c.instance == instance)
            )
        if upserts:
            self.conn.execute(rule_states.insert(), [dict(row) for row in upserts])
