"""PostgreSQL: a transaction in a few round trips instead of one per statement.

Each statement sent on its own waits for its answer; on a busy two-core machine the wait is not the server's
work but the way back: the writer thread gives up the GIL and queues for it again. Intake's transaction
made about sixteen such trips. So, as SQLite's connections already do, PostgreSQL's run in the driver's
autocommit mode with ``BEGIN`` issued here, and what needs no answer waits in a queue on the connection:
``BEGIN`` itself and the writes nobody reads back before commit (``Store`` queues its bulk inserts and
updates). The queue goes out in one pipeline just before the next statement that needs an answer, or
together with ``COMMIT``. Rolling back drops it. Reads outside a write transaction run without ``BEGIN``
(each statement sees committed data, as it would under READ COMMITTED).

Errors of queued statements surface where the queue is sent: at the next read or at commit, raised by
psycopg itself (``Database.transaction`` turns conflicts into ``ConflictError`` as before).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine

from siaga.adapters.db.tables import UtcDateTime

__all__ = [
    "ON_THEIR_OWN",
    "Query",
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
    """Send what is queued (and COMMIT) in one pipeline: one round trip."""
    queue = conn.info.pop(_QUEUE, None) or []
    if commit and queue == [(_BEGIN, None)]:
        return  # nothing was ever sent in this transaction
    if not queue and not commit:
        return
    driver: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]
    if commit and not queue and driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        return
    with driver.pipeline(), driver.cursor() as cursor:
        _execute(cursor, queue)
        if commit:
            cursor.execute(b"COMMIT")


def _execute(cursor: psycopg.Cursor[Any], statements: Sequence[Statement]) -> None:
    for text, params in statements:
        cursor.execute(text.encode() if params is None else text, params)


# -- bulk statements: one statement for any number of rows, its columns passed as arrays ------------

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def _array_type(column: sa.Column[Any]) -> str:
    return f"{column.type.compile(dialect=_PG)}[]"


def _bind(column: sa.Column[Any]) -> Any:
    """A function turning a Python value into what psycopg sends for ``column`` (as SQLAlchemy would)."""
    if isinstance(column.type, sa.JSON):
        return lambda value: None if value is None else psycopg.types.json.Jsonb(value)
    if isinstance(column.type, UtcDateTime):
        return _aware
    return None


def _aware(value: Any) -> Any:
    if value is not None and value.tzinfo is None:
        raise ValueError("naive datetime given to the database")
    return value


def _arrays(columns: Sequence[sa.Column[Any]], rows: Sequence[Any]) -> list[list[Any]]:
    arrays = []
    for column in columns:
        name, bind = column.name, _bind(column)
        arrays.append([row[name] for row in rows] if bind is None else [bind(row[name]) for row in rows])
    return arrays


_insert_sql: dict[tuple[str, tuple[str, ...], str], str] = {}


def insert_statement(table: sa.Table, rows: Sequence[Any], then: str = "") -> Statement:
    """``INSERT … SELECT * FROM unnest(…) {then}``: the rows go as one array per column (the columns of
    the first row); ``then`` may be an ``ON CONFLICT`` clause."""
    names = tuple(column.name for column in table.columns if column.name in rows[0])
    sql = _insert_sql.get((table.name, names, then))
    if sql is None:
        columns = [table.c[name] for name in names]
        arrays = ", ".join(f"%b::{_array_type(column)}" for column in columns)
        into = f"INSERT INTO {table.name} ({', '.join(names)})"
        sql = f"{into} SELECT * FROM unnest({arrays}) {then}".strip()  # noqa: S608 - names from tables.py
        _insert_sql[(table.name, names, then)] = sql
    return sql, _arrays([table.c[name] for name in names], rows)


_update_sql: dict[tuple[str, str, tuple[str, ...]], str] = {}


def update_statement(key: sa.Column[Any], marker: str, rows: Sequence[Any]) -> Statement:
    """``UPDATE … FROM unnest(…)``: each row carries ``marker`` (the key's value) and the same columns."""
    table = key.table
    names = tuple(name for name in rows[0] if name != marker)
    cache_key = (table.name, key.name, names)
    sql = _update_sql.get(cache_key)
    if sql is None:
        columns = [key, *(table.c[name] for name in names)]
        arrays = ", ".join(f"%b::{_array_type(column)}" for column in columns)
        aliases = ", ".join(["k", *(f"v{i}" for i in range(len(names)))])
        sets = ", ".join(f"{name} = v.v{i}" for i, name in enumerate(names))
        unnest = f"unnest({arrays}) AS v({aliases})"
        sql = f"UPDATE {table.name} SET {sets} FROM {unnest} WHERE {key.name} = v.k"  # noqa: S608 - as above
        _update_sql[cache_key] = sql
    # The last values given for a key win, as they did when each row was its own UPDATE.
    latest = list({row[marker]: row for row in rows}.values())
    keys = [row[marker] for row in latest]
    return sql, [keys, *_arrays([table.c[name] for name in names], latest)]


# -- reads sent together ----------------------------------------------------------------------------


def _loader(column: sa.Column[Any]) -> Any:
    return _utc if isinstance(column.type, UtcDateTime) else None


def _utc(value: Any) -> Any:
    return None if value is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Query:
    """A read for ``read_together``: SQL text (``%b`` parameters) and the columns it returns, in order."""

    sql: str
    params: Sequence[Any]
    columns: Sequence[sa.Column[Any]]


def select(table: sa.Table, where: str, params: Sequence[Any]) -> Query:
    """``SELECT`` every column of ``table`` ``WHERE where`` (which may go on with ORDER BY, FOR UPDATE…)."""
    names = ", ".join(column.name for column in table.columns)
    sql = f"SELECT {names} FROM {table.name} WHERE {where}"  # noqa: S608 - names from tables.py, where from code
    return Query(sql, params, list(table.columns))


def read_together(conn: Connection, queries: Sequence[Query]) -> list[list[Row]]:
    """Run ``queries`` (after what is queued) in one pipeline: one round trip. Rows come back as
    SQLAlchemy would give them (aware UTC datetimes, parsed JSON)."""
    queue = conn.info.pop(_QUEUE, None) or []
    driver: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]
    cursors = []
    try:
        with driver.pipeline():
            with driver.cursor() as writes:
                _execute(writes, queue)
            for query in queries:
                cursor = driver.cursor()
                cursor.execute(query.sql, query.params)
                cursors.append(cursor)
    except psycopg.Error as error:  # as SQLAlchemy raises its own statements' errors (a lost connection
        conn._handle_dbapi_exception(error, None, None, None, None)  # is invalidated, not pooled again)
    results: list[list[Row]] = []
    for query, cursor in zip(queries, cursors, strict=True):
        names = [column.name for column in query.columns]
        loaders = [(i, load) for i, column in enumerate(query.columns) if (load := _loader(column))]
        rows: list[Row] = []
        for record in cursor.fetchall():
            values = list(record)
            for i, load in loaders:
                values[i] = load(values[i])
            rows.append(dict(zip(names, values, strict=True)))
        cursor.close()
        results.append(rows)
    return results
