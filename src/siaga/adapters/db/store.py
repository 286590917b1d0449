"""The repository: every query Siaga makes, on one connection inside one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from siaga.adapters.db import pg_batch, sqlite_fast
from siaga.adapters.db.backup_store import BackupQueries
from siaga.adapters.db.check_store import CheckQueries
from siaga.adapters.db.tables import (
    alert_events,
    alerts,
    api_tokens,
    escalations,
    incident_events,
    incidents,
    job_cursors,
    oncall_overrides,
    outbox,
    silences,
)
from siaga.adapters.db.user_store import UserQueries
from siaga.services.ports import PagingReads

Row = Mapping[str, Any]
_OPEN = incidents.c.status != "resolved"


def _all(conn: Connection, query: sa.Executable) -> list[Row]:
    return cast(list[Row], list(conn.execute(query).mappings()))


def _first(conn: Connection, query: sa.Executable) -> Row | None:
    return cast(Row | None, conn.execute(query).mappings().first())


# incidents_by_group, for PostgreSQL's batched read.
_GROUPS_WHERE = (
    "group_key = ANY(%s::text[]) AND (status <> 'resolved' OR resolved_at >= %s) ORDER BY id FOR UPDATE"
)

_SQLITE_OPEN_OR_SINCE = "(status <> 'resolved' OR resolved_at >= ?)"

# paging_reads, for PostgreSQL's batched read.
_ACTIVE_SILENCES = "starts_at <= %s AND ends_at > %s AND expired_at IS NULL ORDER BY id"
_OPEN_LABELS = (
    "SELECT e.incident_id, e.labels FROM escalations e JOIN incidents i ON i.id = e.incident_id"
    " WHERE i.status <> 'resolved'"
)
_OPEN_LABEL_COLUMNS = [escalations.c.incident_id, escalations.c.labels]
_SKIP_QUEUED = "ON CONFLICT (key) DO NOTHING"
_OVERRIDES_BETWEEN = "ends_at > %s AND starts_at < %s ORDER BY id"


PagingRows = tuple[list[Row], list[Row] | None, list[Row] | None]


def _paging_queries(what: PagingReads) -> list[pg_batch.Query]:
    queries = [pg_batch.select(silences, _ACTIVE_SILENCES, [what.active_at, what.active_at])]
    if what.inhibit:
        labels = _OPEN_LABELS if what.services is None else _OPEN_LABELS + " AND i.service = ANY(%s::text[])"
        params = [] if what.services is None else [list(what.services)]
        queries.append(pg_batch.Query(labels, params, _OPEN_LABEL_COLUMNS))
    if what.overrides is not None:
        queries.append(pg_batch.select(oncall_overrides, _OVERRIDES_BETWEEN, list(what.overrides)))
    return queries


def _paging_results(what: PagingReads, found: Iterator[list[Row]]) -> PagingRows:
    active = next(found)
    return active, next(found) if what.inhibit else None, next(found) if what.overrides is not None else None


def _open_and_recent(rows: Iterable[Row]) -> tuple[dict[str, Row], dict[str, Row]]:
    """Incidents by group key: the open one, and (where none is open) the last one resolved."""
    open_by_key: dict[str, Row] = {}
    recent: dict[str, Row] = {}
    for row in rows:
        key = row["group_key"]
        if row["status"] != "resolved":
            open_by_key[key] = row
        elif key not in recent or row["resolved_at"] >= recent[key]["resolved_at"]:
            recent[key] = row
    return open_by_key, {key: row for key, row in recent.items() if key not in open_by_key}


class Store(CheckQueries, UserQueries, BackupQueries):
    """Reads and writes on ``conn``; the caller owns the transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._prefetch: PagingReads | None = None
        self._prefetched: dict[PagingReads, PagingRows] = {}

    # -- alerts ---------------------------------------------------------------------------------
    def _insert_many(self, table: sa.Table, rows: Sequence[Row]) -> None:
        if not rows:
            return
        if self.conn.dialect.name == "postgresql":
            pg_batch.defer(self.conn, pg_batch.insert_statement(table, rows))
            return
        sqlite_fast.insert_many(self.conn, table, rows)

    def log_alert_events(self, rows: Sequence[Row]) -> None:
        self._insert_many(alert_events, rows)

    def alerts_by_fingerprint(self, fingerprints: Iterable[str]) -> dict[str, Row]:
        keys = list(set(fingerprints))
        found: dict[str, Row] = {}
        for start in range(0, len(keys), 500):
            query = sa.select(alerts).where(alerts.c.fingerprint.in_(keys[start : start + 500]))
            found.update({row["fingerprint"]: row for row in _all(self.conn, query)})
        return found

    def insert_alerts(self, rows: Sequence[Row]) -> None:
        self._insert_many(alerts, rows)

    def _update_many(self, key: sa.Column[Any], rows: Sequence[Row]) -> None:
        """Update rows by ``key``; each row carries ``b_<key>`` and the same set of columns to set."""
        if not rows:
            return
        marker = f"b_{key.name}"
        if self.conn.dialect.name == "postgresql":
            pg_batch.defer(self.conn, pg_batch.update_statement(key, marker, rows))
            return
        if self.conn.dialect.name == "sqlite":
            sqlite_fast.update_many(self.conn, key, marker, rows)
            return
        columns = [name for name in rows[0] if name != marker]
        statement = (
            key.table.update()
            .where(key == sa.bindparam(marker))
            .values({name: sa.bindparam(name) for name in columns})
        )
        self.conn.execute(statement, list(rows))

    def update_alerts(self, rows: Sequence[Row]) -> None:
        """Update alert rows; each row carries ``b_fingerprint`` and the columns to set."""
        self._update_many(alerts.c.fingerprint, rows)

    def alerts_of(self, incident_id: int) -> list[Row]:
        query = sa.select(alerts).where(alerts.c.incident_id == incident_id).order_by(alerts.c.starts_at)
        return _all(self.conn, query)

    def alert_log(
        self,
        *,
        fingerprint: str | None = None,
        alertname: str | None = None,
        incident_id: int | None = None,
        since: datetime | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[Row]:
        query = sa.select(alert_events).order_by(alert_events.c.id.desc()).limit(limit)
        if fingerprint:
            query = query.where(alert_events.c.fingerprint == fingerprint)
        if alertname:
            query = query.where(alert_events.c.alertname == alertname)
        if incident_id is not None:
            query = query.where(alert_events.c.incident_id == incident_id)
        if since is not None:
            query = query.where(alert_events.c.received_at >= since)
        if before_id is not None:
            query = query.where(alert_events.c.id < before_id)
        return _all(self.conn, query)

    def alert_event_count(self) -> int:
        return int(self.conn.execute(sa.select(sa.func.count()).select_from(alert_events)).scalar_one())

    # -- incidents ------------------------------------------------------------------------------
    def incidents_by_group(
        self, keys: Iterable[str], resolved_since: datetime
    ) -> tuple[dict[str, Row], dict[str, Row]]:
        """For each group key: its open incident, and (when none is open) the last one resolved since
        ``resolved_since``, which a new alert may reopen. One query, as intake runs it for every batch."""
        wanted = list(set(keys))
        if not wanted:
            return {}, {}
        query = (
            sa.select(incidents)
            .where(
                incidents.c.group_key.in_(wanted), sa.or_(_OPEN, incidents.c.resolved_at >= resolved_since)
            )
            .order_by(incidents.c.id)
            .with_for_update()
        )
        return _open_and_recent(_all(self.conn, query))

    def intake_state(
        self, fingerprints: Iterable[str], keys: Iterable[str], resolved_since: datetime
    ) -> tuple[dict[str, Row], dict[str, Row], dict[str, Row]]:
        """What intake reads first: ``alerts_by_fingerprint``, then ``incidents_by_group`` (the same rows:
        a test holds them to it). On PostgreSQL both queries (and BEGIN) go in one round trip."""
        if self.conn.dialect.name == "sqlite":
            return self._sqlite_intake_state(list(set(fingerprints)), list(set(keys)), resolved_since)
        found, groups = pg_batch.read_together(
            self.conn,
            [
                pg_batch.select(alerts, "fingerprint = ANY(%s::text[])", [list(set(fingerprints))]),
                pg_batch.select(incidents, _GROUPS_WHERE, [list(set(keys)), resolved_since]),
            ],
        )
        return {row["fingerprint"]: row for row in found}, *_open_and_recent(groups)

    def insert_incidents(self, rows: Sequence[Row]) -> list[int]:
        """Insert incidents in one round trip; return their ids in the order given."""
        if not rows:
            return []
        if self.conn.dialect.name != "postgresql":
            statement = incidents.insert().returning(incidents.c.id, sort_by_parameter_order=True)
            return [int(row[0]) for row in self.conn.execute(statement, list(rows))]
        # With the writes queued and the reads prefetched; new incidents have distinct group keys (at
        # most one open per key), which tell the returned ids apart.
        sql, params = pg_batch.insert_statement(incidents, rows, "RETURNING id, group_key")
        prefetch, self._prefetch = self._prefetch, None
        queries = _paging_queries(prefetch) if prefetch else []
        insert = pg_batch.Query(sql, params, [incidents.c.id, incidents.c.group_key])
        *read, inserted = pg_batch.read_together(self.conn, [*queries, insert])
        if prefetch:
            self._prefetched[prefetch] = _paging_results(prefetch, iter(read))
        ids = {row["group_key"]: int(row["id"]) for row in inserted}
        return [ids[row["group_key"]] for row in rows]

    def update_incidents(self, rows: Sequence[Row]) -> None:
        """Update several incidents; each row carries ``b_id`` and the same set of columns to set."""
        self._update_many(incidents.c.id, rows)

    def firing_counts(self, incident_ids: Iterable[int]) -> dict[int, int]:
        wanted = list(set(incident_ids))
        if not wanted:
            return {}
        query = (
            sa.select(alerts.c.incident_id, sa.func.count())
            .where(alerts.c.incident_id.in_(wanted), alerts.c.status == "firing")
            .group_by(alerts.c.incident_id)
        )
        return {int(incident_id): int(count) for incident_id, count in self.conn.execute(query)}

    def update_incident(self, incident_id: int, values: Row) -> None:
        self.conn.execute(incidents.update().where(incidents.c.id == incident_id).values(**values))

    def incident(self, incident_id: int, *, for_update: bool = False) -> Row | None:
        query = sa.select(incidents).where(incidents.c.id == incident_id)
        if for_update:
            query = query.with_for_update()
        return _first(self.conn, query)

    def incidents(
        self,
        *,
        statuses: Sequence[str] = (),
        severities: Sequence[str] = (),
        service: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Row]:
        query = sa.select(incidents).order_by(incidents.c.id.desc()).limit(limit).offset(offset)
        if statuses:
            query = query.where(incidents.c.status.in_(statuses))
        if severities:
            query = query.where(incidents.c.severity.in_(severities))
        if service:
            query = query.where(incidents.c.service == service)
        return _all(self.conn, query)

    def append_events(self, incident_id: int, events: Sequence[Row]) -> None:
        """Add timeline entries with the next sequence numbers; the UPDATE also locks the incident row."""
        if not events:
            return
        bump = (
            incidents.update()
            .where(incidents.c.id == incident_id)
            .values(last_seq=incidents.c.last_seq + len(events))
            .returning(incidents.c.last_seq)
        )
        last = int(self.conn.execute(bump).scalar_one())
        first = last - len(events) + 1
        rows = [{**event, "incident_id": incident_id, "seq": first + i} for i, event in enumerate(events)]
        self.conn.execute(incident_events.insert(), rows)

    def append_events_many(self, events: Mapping[int, Sequence[Row]]) -> None:
        """``append_events`` for many incidents in a few statements (one UPDATE per distinct count; on
        PostgreSQL one statement, queued with the transaction's other writes)."""
        if self.conn.dialect.name == "postgresql":
            numbered = [
                {**event, "incident_id": incident_id, "seq": n}  # from 1: the statement offsets them
                for incident_id, entries in events.items()
                for n, event in enumerate(entries, start=1)
            ]
            if numbered:
                statement = pg_batch.append_events_statement(incidents, incident_events, numbered)
                pg_batch.defer(self.conn, statement)
            return
        by_count: dict[int, list[int]] = {}
        for incident_id, rows in events.items():
            if rows:
                by_count.setdefault(len(rows), []).append(incident_id)
        inserts: list[Row] = []
        for count, ids in by_count.items():
            bump = (
                incidents.update()
                .where(incidents.c.id.in_(ids))
                .values(last_seq=incidents.c.last_seq + count)
                .returning(incidents.c.id, incidents.c.last_seq)
            )
            for incident_id, last in self.conn.execute(bump).all():
                first = int(last) - count + 1
                inserts += [
                    {**event, "incident_id": incident_id, "seq": first + i}
                    for i, event in enumerate(events[incident_id])
                ]
        self._insert_many(incident_events, inserts)

    def update_outbox_many(self, rows: Sequence[Row]) -> None:
        """Update outbox rows; each carries ``b_id`` and the same set of columns."""
        self._update_many(outbox.c.id, rows)

    def insert_events(self, rows: Sequence[Row]) -> None:
        """Insert timeline rows whose ``incident_id`` and ``seq`` the caller set (a clash is a conflict)."""
        self._insert_many(incident_events, rows)

    def timeline(self, incident_id: int) -> list[Row]:
        query = (
            sa.select(incident_events)
            .where(incident_events.c.incident_id == incident_id)
            .order_by(incident_events.c.seq)
        )
        return _all(self.conn, query)

    def incidents_with_resolved_alerts(self, before: datetime) -> list[Row]:
        query = sa.select(incidents).where(_OPEN, incidents.c.alerts_resolved_at <= before)
        return _all(self.conn, query.with_for_update(skip_locked=True))

    def incidents_past_targets(self, now: datetime) -> list[Row]:
        ack_late = sa.and_(
            incidents.c.status == "triggered",
            incidents.c.ack_breached_at.is_(None),
            incidents.c.ack_due_at <= now,
        )
        resolve_late = sa.and_(
            _OPEN, incidents.c.resolve_breached_at.is_(None), incidents.c.resolve_due_at <= now
        )
        # SKIP LOCKED: replicas sweeping at once each take different incidents, never the same twice.
        query = sa.select(incidents).where(sa.or_(ack_late, resolve_late)).with_for_update(skip_locked=True)
        return _all(self.conn, query)

    def open_counts_by_severity(self) -> dict[str, int]:
        query = sa.select(incidents.c.severity, sa.func.count()).where(_OPEN).group_by(incidents.c.severity)
        return {severity: int(count) for severity, count in self.conn.execute(query)}

    def breach_counts(self) -> dict[str, int]:
        ack = sa.select(sa.func.count()).where(incidents.c.ack_breached_at.is_not(None))
        resolve = sa.select(sa.func.count()).where(incidents.c.resolve_breached_at.is_not(None))
        return {
            "ack": int(self.conn.execute(ack).scalar_one()),
            "resolve": int(self.conn.execute(resolve).scalar_one()),
        }

    def response_times(self, since: datetime | None) -> list[Row]:
        query = sa.select(
            incidents.c.severity,
            incidents.c.opened_at,
            incidents.c.first_acknowledged_at,
            incidents.c.resolved_at,
        )
        if since is not None:
            query = query.where(incidents.c.opened_at >= since)
        return _all(self.conn, query)

    def pending_postmortems(self) -> list[Row]:
        query = sa.select(incidents).where(
            incidents.c.postmortem_required.is_(True), incidents.c.postmortem_attached_at.is_(None)
        )
        return _all(self.conn, query)

    # -- tokens ---------------------------------------------------------------------------------
    def insert_token(self, values: Row) -> int:
        result = self.conn.execute(api_tokens.insert().values(**values).returning(api_tokens.c.id))
        return int(result.scalar_one())

    def token_by_hash(self, token_hash: str) -> Row | None:
        query = sa.select(api_tokens).where(api_tokens.c.token_hash == token_hash)
        return _first(self.conn, query)

    def token_by_name(self, name: str) -> Row | None:
        return _first(self.conn, sa.select(api_tokens).where(api_tokens.c.name == name))

    def tokens(self) -> list[Row]:
        return _all(self.conn, sa.select(api_tokens).order_by(api_tokens.c.id))

    def update_token(self, token_id: int, values: Row) -> None:
        self.conn.execute(api_tokens.update().where(api_tokens.c.id == token_id).values(**values))

    # -- paging: escalations ----------------------------------------------------------------------
    def insert_escalations(self, rows: Sequence[Row]) -> None:
        self._insert_many(escalations, rows)

    def escalation(self, incident_id: int) -> Row | None:
        query = sa.select(escalations).where(escalations.c.incident_id == incident_id).with_for_update()
        return _first(self.conn, query)

    def update_escalation(self, incident_id: int, values: Row) -> None:
        self.conn.execute(
            escalations.update().where(escalations.c.incident_id == incident_id).values(**values)
        )

    def update_escalations_many(self, rows: Sequence[Row]) -> None:
        """Update escalation rows; each carries ``b_incident_id`` and the same set of columns."""
        self._update_many(escalations.c.incident_id, rows)

    def recheck_muted(self, now: datetime) -> None:
        """A silence ended early: muted escalations look again at the next tick, not when it was due."""
        self.conn.execute(escalations.update().where(escalations.c.state == "muted").values(next_at=now))

    def due_escalations(self, now: datetime, limit: int) -> list[Row]:
        """Escalations whose next fire (or mute re-check) is due, with their incident's status and severity;
        SKIP LOCKED lets replicas share the work."""
        query = (
            sa.select(
                escalations,
                incidents.c.status,
                incidents.c.severity,
                incidents.c.title,
                incidents.c.service,
                incidents.c.opened_at,
                incidents.c.ack_breached_at,
            )
            .join(incidents, incidents.c.id == escalations.c.incident_id)
            .where(sa.or_(escalations.c.next_at <= now, escalations.c.update_due_at <= now))
            .order_by(escalations.c.next_at)
            .limit(limit)
            .with_for_update(skip_locked=True, of=escalations)
        )
        return _all(self.conn, query)

    def open_incident_labels(self, services: Sequence[str] | None = None) -> list[Row]:
        """Labels (of the alert that opened it) of every open incident that pages, or of those of
        ``services`` only."""
        query = (
            sa.select(escalations.c.incident_id, escalations.c.labels)
            .join(incidents, incidents.c.id == escalations.c.incident_id)
            .where(_OPEN)
        )
        if services is not None:
            query = query.where(incidents.c.service.in_(list(services)))
        return _all(self.conn, query)

    # -- paging: outbox ---------------------------------------------------------------------------
    def insert_outbox(self, rows: Sequence[Row]) -> int:
        """Queue messages; a key already queued is skipped (re-running a step cannot double a message).
        One round trip: the unique key decides, and RETURNING counts what went in."""
        if not rows:
            return 0
        fresh = list({row["key"]: row for row in rows}.values())
        insert = pg_insert(outbox) if self.conn.dialect.name == "postgresql" else sqlite_insert(outbox)
        statement = insert.on_conflict_do_nothing(index_elements=["key"]).returning(outbox.c.key)
        return len(self.conn.execute(statement, fresh).all())

    def queue_outbox(self, rows: Sequence[Row]) -> int:
        """``insert_outbox`` for a caller that needs no exact count: on PostgreSQL the insert waits for
        the next round trip, and the number returned is of the keys offered (those already queued are
        still skipped)."""
        if self.conn.dialect.name != "postgresql":
            return self.insert_outbox(rows)
        fresh = list({row["key"]: row for row in rows}.values())
        if fresh:
            pg_batch.defer(self.conn, pg_batch.insert_statement(outbox, fresh, _SKIP_QUEUED))
        return len(fresh)

    def claim_outbox(self, now: datetime, lease_until: datetime | None, limit: int) -> list[Row]:
        """Take up to ``limit`` due messages for sending until ``lease_until``; an expired lease (a sender
        that died mid-send) makes a message claimable again, with the same key. Without ``lease_until`` the
        rows are only read (one process, one dispatcher: nobody to exclude). Rows come back with
        ``attempts`` counting the attempt about to be made."""
        due = sa.and_(
            outbox.c.status == "pending",
            outbox.c.next_attempt_at <= now,
            sa.or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until <= now),
        )
        query = (
            sa.select(outbox)
            .where(due)
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if lease_until is not None and self.conn.dialect.name == "postgresql":
            # One statement: atomic without a transaction around it (Database.statement).
            claimed = (
                outbox.update()
                .where(outbox.c.id.in_(query.with_only_columns(outbox.c.id).scalar_subquery()))
                .values(claimed_until=lease_until, attempts=outbox.c.attempts + 1)
                .returning(*outbox.c)
            )
            found = _all(self.conn, claimed)
            return sorted(found, key=lambda row: (row["next_attempt_at"], row["id"]))
        rows = _all(self.conn, query)
        if rows and lease_until is not None:
            ids = [row["id"] for row in rows]
            self.conn.execute(
                outbox.update()
                .where(outbox.c.id.in_(ids))
                .values(claimed_until=lease_until, attempts=outbox.c.attempts + 1)
            )
        return [{**row, "attempts": int(row["attempts"]) + 1} for row in rows]

    def update_outbox(self, outbox_id: int, values: Row) -> None:
        self.conn.execute(outbox.update().where(outbox.c.id == outbox_id).values(**values))

    def cancel_outbox(self, incident_id: int, kinds: Sequence[str], reason: str) -> int:
        """Cancel this incident's pending messages of ``kinds`` (alarms after an acknowledgement)."""
        result = self.conn.execute(
            outbox.update()
            .where(
                outbox.c.incident_id == incident_id,
                outbox.c.status == "pending",
                outbox.c.kind.in_(list(kinds)),
            )
            .values(status="cancelled", last_error=reason, claimed_until=None)
        )
        return int(result.rowcount or 0)

    def outbox_of(self, incident_id: int) -> list[Row]:
        query = sa.select(outbox).where(outbox.c.incident_id == incident_id).order_by(outbox.c.id)
        return _all(self.conn, query)

    def next_outbox_due(self) -> datetime | None:
        query = sa.select(sa.func.min(outbox.c.next_attempt_at)).where(outbox.c.status == "pending")
        value: datetime | None = self.conn.execute(query).scalar_one()
        return value

    # -- paging: silences, overrides, job cursors -------------------------------------------------
    def insert_silence(self, values: Row) -> int:
        result = self.conn.execute(silences.insert().values(**values).returning(silences.c.id))
        return int(result.scalar_one())

    def silence(self, silence_id: int) -> Row | None:
        return _first(self.conn, sa.select(silences).where(silences.c.id == silence_id))

    def silences(self, *, active_at: datetime | None = None, include_expired: bool = True) -> list[Row]:
        query = sa.select(silences).order_by(silences.c.id)
        if active_at is not None:
            query = query.where(
                silences.c.starts_at <= active_at,
                silences.c.ends_at > active_at,
                silences.c.expired_at.is_(None),
            )
        elif not include_expired:
            query = query.where(silences.c.expired_at.is_(None))
        return _all(self.conn, query)

    def update_silence(self, silence_id: int, values: Row) -> None:
        self.conn.execute(silences.update().where(silences.c.id == silence_id).values(**values))

    def insert_override(self, values: Row) -> int:
        result = self.conn.execute(
            oncall_overrides.insert().values(**values).returning(oncall_overrides.c.id)
        )
        return int(result.scalar_one())

    def overrides(self, schedule: str | None, start: datetime, end: datetime) -> list[Row]:
        query = (
            sa.select(oncall_overrides)
            .where(oncall_overrides.c.ends_at > start, oncall_overrides.c.starts_at < end)
            .order_by(oncall_overrides.c.id)
        )
        if schedule is not None:
            query = query.where(oncall_overrides.c.schedule == schedule)
        return _all(self.conn, query)

    def paging_reads(self, what: PagingReads) -> tuple[list[Row], list[Row] | None, list[Row] | None]:
        """Silences, open incidents' labels and overrides, as ``what`` asks. On PostgreSQL one round trip
        (with the writes queued so far), or none when ``prefetch_paging_reads`` sent them already."""
        if what in self._prefetched:
            return self._prefetched.pop(what)
        if self.conn.dialect.name != "postgresql":
            return (
                self.silences(active_at=what.active_at),
                self.open_incident_labels(what.services) if what.inhibit else None,
                None if what.overrides is None else self.overrides(None, *what.overrides),
            )
        return _paging_results(what, iter(pg_batch.read_together(self.conn, _paging_queries(what))))

    def _sqlite_intake_state(
        self, fingerprints: list[str], keys: list[str], resolved_since: datetime
    ) -> tuple[dict[str, Row], dict[str, Row], dict[str, Row]]:
        found: dict[str, Row] = {}
        for start in range(0, len(fingerprints), 500):
            chunk = fingerprints[start : start + 500]
            where = f"fingerprint IN ({', '.join('?' for _ in chunk)})"
            found.update(
                {row["fingerprint"]: row for row in sqlite_fast.select(self.conn, alerts, where, chunk)}
            )
        groups: list[Row] = []
        since = sqlite_fast.bind(self.conn, incidents.c.resolved_at, resolved_since)
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            where = f"group_key IN ({', '.join('?' for _ in chunk)}) AND {_SQLITE_OPEN_OR_SINCE}"
            groups += sqlite_fast.select(self.conn, incidents, where, [*chunk, since])
        groups.sort(key=lambda row: int(row["id"]))
        return found, *_open_and_recent(groups)

    def prefetch_paging_reads(self, what: PagingReads) -> None:
        """On PostgreSQL: send these reads along with the next ``insert_incidents`` (an incident opening
        is about to page); ``paging_reads(what)`` then answers from what came back. Elsewhere nothing."""
        if self.conn.dialect.name == "postgresql":
            self._prefetch = what

    def delete_override(self, override_id: int) -> bool:
        result = self.conn.execute(oncall_overrides.delete().where(oncall_overrides.c.id == override_id))
        return bool(result.rowcount)

    def job_cursor(self, name: str) -> datetime | None:
        query = sa.select(job_cursors.c.position).where(job_cursors.c.name == name).with_for_update()
        value: datetime | None = self.conn.execute(query).scalar_one_or_none()
        return value

    def set_job_cursor(self, name: str, position: datetime) -> None:
        updated = self.conn.execute(
            job_cursors.update().where(job_cursors.c.name == name).values(position=position)
        )
        if not updated.rowcount:
            self.conn.execute(job_cursors.insert().values(name=name, position=position))
