"""PostgreSQL: a transaction in a few round trips instead of one per statement.

Each statement sent on its own waits for its answer, and on a busy two-core machine the wait is not the
server's work but the way back: the thread gives up the GIL and queues for it again. psycopg's pipeline
mode did not help here: it still sends command by command, polling the socket between them. So, as
SQLite's connections already do, PostgreSQL's run in the driver's autocommit mode with ``BEGIN`` issued
here, and what needs no answer waits in a queue on the connection: ``BEGIN`` itself and the writes nobody
reads back before commit (``Store`` queues its bulk inserts and updates). The queue goes out as one
multi-statement query (simple protocol, the parameters merged in as literals escaped by libpq)
together with the next statement that needs an answer, or with ``COMMIT``; ``read_together`` sends
several reads that way. Rolling back drops the queue. Reads outside a write transaction run without
``BEGIN`` (each statement sees committed data, as it would under READ COMMITTED).

Errors of queued statements surface where the queue is sent: at the next read or at commit; the
statements after the failing one do not run, and the transaction is rolled back whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import sqlalchemy as sa
from psycopg.pq.abc import Escaping
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine

from siaga.adapters.db.tables import UtcDateTime

__all__ = [
    "ON_THEIR_OWN",
    "Query",
    "append_events_statement",
    "configure",
    "defer",
    "insert_statement",
    "read_together",
    "select",
    "send",
    "update_statement",
]

ON_THEIR_OWN = "siaga_on_their_own"  # execution option: no BEGIN; each statement commits by itself
_QUEUE = "siaga.pg_queue"  # key in the pooled connection's info: statements not yet sent
_BEGIN = "BEGIN"

Statement = tuple[str, Sequence[Any] | None]
Row = Mapping[str, Any]


def configure(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _autocommit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.autocommit = True

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        on_their_own = conn.get_execution_options().get(ON_THEIR_OWN, False)
        conn.info[_QUEUE] = [] if on_their_own else [(_BEGIN, None)]

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Connection, *_args: Any) -> None:
        if conn.info.get(_QUEUE):
            send(conn)

    @event.listens_for(engine, "commit")
    def _commit(conn: Connection) -> None:
        # COMMIT rides with the queued writes; the driver's own commit then finds no transaction open.
        try:
            send(conn, commit=True)
        except psycopg.Error as error:  # raised as SQLAlchemy raises the driver's own commit errors
            conn._handle_dbapi_exception(error, None, None, None, None)

    @event.listens_for(engine, "rollback")
    def _rollback(conn: Connection) -> None:
        if not conn.invalidated:  # an invalidated connection's queue went with it
            conn.info.pop(_QUEUE, None)


def _queue(conn: Connection) -> list[Statement]:
    queue: list[Statement] = conn.info.setdefault(_QUEUE, [])
    return queue


def defer(conn: Connection, statement: Statement) -> None:
    """Send ``statement`` with the next one that needs an answer (or with COMMIT)."""
    _queue(conn).append(statement)


def send(conn: Connection, *, commit: bool = False) -> None:
    """Send what is queued (and COMMIT) in one message: one round trip."""
    queue = conn.info.pop(_QUEUE, None) or []
    if commit and queue == [(_BEGIN, None)]:
        return  # nothing was ever sent in this transaction
    if not queue and not commit:
        return
    driver: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]
    if commit and not queue and driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        return
    statements = [*queue, ("COMMIT", None)] if commit else queue
    with driver.cursor() as cursor:
        cursor.execute(_one_message(driver, statements))


def _one_message(driver: psycopg.Connection[Any], statements: Sequence[Statement]) -> bytes:
    """The statements as one simple-protocol query, the parameters merged in as literals escaped by libpq
    (``PQescapeLiteral``): the few types these statements take, without psycopg's general machinery."""
    escaping = psycopg.pq.Escaping(driver.pgconn)
    parts = []
    for text, params in statements:
        query = text.encode()
        parts.append(query if params is None else query % tuple(_literal(escaping, p) for p in params))
    return b";\n".join(parts)


def _literal(escaping: Escaping, value: Any) -> bytes:
    if value is None:
        return b"NULL"
    if isinstance(value, str):
        return escaping.escape_literal(value.encode())
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return escaping.escape_literal(value.isoformat().encode())
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, list | tuple):  # the SQL casts it: ARRAY[] alone has no type
        return b"ARRAY[" + b",".join(_literal(escaping, item) for item in value) + b"]"
    raise TypeError(f"no literal for {type(value).__name__}")


# -- bulk statements: one statement and one parameter for any number of rows ------------------------
#
# The rows go as one JSON document (orjson writes it in microseconds) that PostgreSQL turns back into rows
# of the table's own type: no per-value work in Python, where binding arrays of values cost more than the
# statement itself.

_quote = postgresql.dialect().identifier_preparer.quote  # type: ignore[no-untyped-call]


def _json_rows(rows: Sequence[Any]) -> str:
    for row in rows:
        for value in row.values():
            if isinstance(value, datetime) and value.tzinfo is None:
                raise ValueError("naive datetime given to the database")
    return orjson.dumps(list(rows), option=orjson.OPT_NON_STR_KEYS).decode()


_insert_sql: dict[tuple[str, tuple[str, ...], str], str] = {}


def insert_statement(table: sa.Table, rows: Sequence[Any], then: str = "") -> tuple[str, list[Any]]:
    """``INSERT`` of ``rows`` (the columns of the first row; the others take their defaults) in one
    statement; ``then`` may be an ``ON CONFLICT`` clause."""
    names = tuple(column.name for column in table.columns if column.name in rows[0])
    sql = _insert_sql.get((table.name, names, then))
    if sql is None:
        columns = ", ".join(_quote(name) for name in names)
        source = f"jsonb_populate_recordset(NULL::{_quote(table.name)}, %s::jsonb)"
        into = f"INSERT INTO {_quote(table.name)} ({columns})"
        sql = f"{into} SELECT {columns} FROM {source} {then}".strip()  # noqa: S608 - names from tables.py
        _insert_sql[(table.name, names, then)] = sql
    return sql, [_json_rows(rows)]


_update_sql: dict[tuple[str, str, tuple[str, ...]], str] = {}


def update_statement(key: sa.Column[Any], marker: str, rows: Sequence[Any]) -> Statement:
    """``UPDATE`` of several rows in one statement: each row carries ``marker`` (the key's value) and the
    same columns to set."""
    table = key.table
    names = tuple(name for name in rows[0] if name != marker)
    cache_key = (table.name, key.name, names)
    sql = _update_sql.get(cache_key)
    if sql is None:
        sets = ", ".join(f"{_quote(name)} = v.{_quote(name)}" for name in names)
        source = f"jsonb_populate_recordset(NULL::{_quote(table.name)}, %s::jsonb) AS v"
        where = f"t.{_quote(key.name)} = v.{_quote(key.name)}"
        sql = f"UPDATE {_quote(table.name)} AS t SET {sets} FROM {source} WHERE {where}"  # noqa: S608
        _update_sql[cache_key] = sql
    # The last values given for a key win, as they did when each row was its own UPDATE.
    latest = {row[marker]: row for row in rows}
    return sql, [_json_rows([{**row, key.name: value} for value, row in latest.items()])]


_append_sql: dict[tuple[str, ...], str] = {}


def append_events_statement(
    incidents: sa.Table, events: sa.Table, rows: Sequence[Any]
) -> tuple[str, list[Any]]:
    """Timeline entries numbered after each incident's ``last_seq``, which goes up by as many, in one
    statement: each row carries its ``incident_id`` and, as ``seq``, its place (1, 2, …) among that
    incident's new entries."""
    names = tuple(column.name for column in events.columns if column.name in rows[0])
    sql = _append_sql.get(names)
    if sql is None:
        source = f"jsonb_populate_recordset(NULL::{_quote(events.name)}, %s::jsonb)"
        picked = ", ".join(
            "b.last_seq - e.n + e.seq" if name == "seq" else f"e.{_quote(name)}" for name in names
        )
        # Names come from tables.py, never from input.
        numbered = f"SELECT *, count(*) OVER (PARTITION BY incident_id) AS n FROM {source}"  # noqa: S608
        counts = "SELECT incident_id, max(n) AS n FROM e GROUP BY incident_id"
        table = _quote(incidents.name)
        bump = f"UPDATE {table} AS t SET last_seq = t.last_seq + c.n FROM ({counts}) AS c"  # noqa: S608
        bumped = f"{bump} WHERE t.id = c.incident_id RETURNING t.id, t.last_seq"
        into = f"INSERT INTO {_quote(events.name)} ({', '.join(_quote(name) for name in names)})"
        joined = "FROM e JOIN b ON b.id = e.incident_id"
        sql = f"WITH e AS ({numbered}), b AS ({bumped}) {into} SELECT {picked} {joined}"
        _append_sql[names] = sql
    return sql, [_json_rows(rows)]


# -- reads sent together ----------------------------------------------------------------------------


def _loader(column: sa.Column[Any]) -> Any:
    return _utc if isinstance(column.type, UtcDateTime) else None


def _utc(value: Any) -> Any:
    return None if value is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Query:
    """A read for ``read_together``: SQL text (``%s`` parameters) and the columns it returns, in order."""

    sql: str
    params: Sequence[Any]
    columns: Sequence[sa.Column[Any]]


def select(table: sa.Table, where: str, params: Sequence[Any]) -> Query:
    """``SELECT`` every column of ``table`` ``WHERE where`` (which may go on with ORDER BY, FOR UPDATE…)."""
    names = ", ".join(column.name for column in table.columns)
    sql = f"SELECT {names} FROM {table.name} WHERE {where}"  # noqa: S608 - names from tables.py, where from code
    return Query(sql, params, list(table.columns))


def read_together(conn: Connection, queries: Sequence[Query]) -> list[list[Row]]:
    """Run ``queries`` (after what is queued) in one message: one round trip. Rows come back as
    SQLAlchemy would give them (aware UTC datetimes, parsed JSON)."""
    queue = conn.info.pop(_QUEUE, None) or []
    driver: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]
    cursor = driver.cursor()
    try:
        cursor.execute(_one_message(driver, [*queue, *((query.sql, query.params) for query in queries)]))
    except psycopg.Error as error:  # as SQLAlchemy raises its own statements' errors (a lost connection
        conn._handle_dbapi_exception(error, None, None, None, None)  # is invalidated, not pooled again)
    for _ in queue:
        cursor.nextset()
    results: list[list[Row]] = []
    for n, query in enumerate(queries):
        if n:
            cursor.nextset()
        names = [column.name for column in query.columns]
        loaders = [(i, load) for i, column in enumerate(query.columns) if (load := _loader(column))]
        rows: list[Row] = []
        for record in cursor.fetchall():
            values = list(record)
            for i, load in loaders:
                values[i] = load(values[i])
            rows.append(dict(zip(names, values, strict=True)))
        results.append(rows)
    cursor.close()
    return results
