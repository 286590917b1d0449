"""Engines for SQLite (embedded default) and PostgreSQL, and the write transaction both share."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine

from siaga.adapters.db import pg_batch
from siaga.adapters.db.store import Store
from siaga.services.ports import ConflictError
from siaga.settings import sqlite_url

__all__ = ["Database", "create", "sqlite_url"]


_PING_AFTER_IDLE = 1.0  # seconds
_WRITE = "siaga_write"  # execution option: this SQLite connection is for a write transaction


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create(url: str) -> Engine:
    """Return an engine for ``url``; SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE`` writes."""
    # Labels and annotations are JSON on every alert: orjson is several times faster than the json module.
    json_options: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **json_options
        )
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # No server-side prepared statements: a generic plan made while a table was small (seq scan) would be kept
    # as it grows; planning afresh each time costs far less than that.
    engine = sa.create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        connect_args={"prepare_threshold": None},
        **json_options,
    )
    _ping_when_idle(engine)
    pg_batch.configure(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only if it sat idle: a server restart is still caught (the
    pool swaps the dead connection for a new one), but busy intake skips a round trip per transaction."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < _PING_AFTER_IDLE:
            return
        try:
            dbapi_connection.execute("SELECT 1")
            dbapi_connection.rollback()
        except psycopg.Error:
            raise exc.DisconnectionError("the connection was closed while idle") from None


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling defers BEGIN and cannot do BEGIN IMMEDIATE; take it over.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash (kill -9); only an OS crash can lose the last commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Writes take the write lock up front (no deadlock-prone upgrade later); reads begin deferred so
        # that they never hold up a writer (WAL: readers and the writer run side by side).
        write = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Database:
    """The storage handle services use: ``with db.transaction() as conn`` is one unit of work."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # SQLite allows one writer; queueing here is cheaper than spinning on SQLITE_BUSY.
        self._write_lock: threading.Lock | None = threading.Lock() if self.dialect == "sqlite" else None

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        with _as_conflicts():
            if self._write_lock is None:
                with self.engine.begin() as conn:
                    yield Store(conn)
            else:
                writer = self.engine.connect().execution_options(**{_WRITE: True})
                with self._write_lock, writer as conn, conn.begin():
                    yield Store(conn)

    @contextmanager
    def read(self) -> Iterator[Store]:
        # Without BEGIN on PostgreSQL: each statement sees what was committed when it started, as it
        # would in a READ COMMITTED transaction, and the BEGIN and ROLLBACK round trips are saved.
        with self._on_their_own() as conn:
            yield Store(conn)

    @contextmanager
    def statement(self) -> Iterator[Store]:
        """For one writing statement, atomic by itself: on PostgreSQL it runs without BEGIN and COMMIT
        (one round trip instead of three); on SQLite it is a write transaction like any other."""
        if self._write_lock is not None:
            with self.transaction() as store:
                yield store
            return
        with _as_conflicts(), self._on_their_own() as conn:
            yield Store(conn)

    def _on_their_own(self) -> Connection:
        """A connection whose statements run without BEGIN on PostgreSQL (pg_batch.ON_THEIR_OWN)."""
        return self.engine.connect().execution_options(**{pg_batch.ON_THEIR_OWN: True})

    def dispose(self) -> None:
        self.engine.dispose()


# Raised by statements sent on the driver directly (pg_batch, sqlite_fast), not wrapped by SQLAlchemy.
_DRIVER_CONFLICTS = (
    psycopg.IntegrityError,
    sqlite3.IntegrityError,
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
)


@contextmanager
def _as_conflicts() -> Iterator[None]:
    """A race another writer won (a key taken, a serialization failure, a deadlock): ConflictError, which
    callers retry."""
    try:
        yield
    except exc.IntegrityError as error:
        raise ConflictError(_reason(error)) from error
    except _DRIVER_CONFLICTS as error:
        raise ConflictError(str(error).splitlines()[0]) from error
    except exc.OperationalError as error:
        if not _is_serialization_failure(error):
            raise
        raise ConflictError(_reason(error)) from error


def _reason(error: exc.DBAPIError) -> str:
    return str(error.orig).splitlines()[0] if error.orig else type(error).__name__


def _is_serialization_failure(error: exc.OperationalError) -> bool:
    # PostgreSQL: 40001 serialization_failure, 40P01 deadlock_detected.
    return getattr(error.orig, "sqlstate", None) in {"40001", "40P01"}
