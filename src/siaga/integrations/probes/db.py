"""Database checks: connect (PostgreSQL, MySQL / MariaDB, Redis) and optionally run one read-only query.

Each probe opens a fresh connection and closes it: a pooled one would hide exactly the failures the check
is for (a full ``max_connections``, a broken authentication). Queries cannot write:

- PostgreSQL: the session starts with ``default_transaction_read_only=on`` (so even a ``COMMIT`` inside
  the query text leaves the next transaction read-only), the query runs in ``BEGIN READ ONLY``, and
  ``statement_timeout`` makes the server stop it at the probe's timeout.
- MySQL / MariaDB: ``SET SESSION TRANSACTION READ ONLY`` before ``START TRANSACTION READ ONLY`` — without
  the session setting a DDL statement's implicit commit would end the read-only transaction and run
  (measured on MariaDB 10.11). PyMySQL runs in a worker thread, bounded by its own read timeout.
- Redis: only the read commands in ``REDIS_READ_COMMANDS``.

Conditions see ``rows`` (at most 100, each column → value) and ``row`` (the first, ``{}`` when none):
numbers as doubles, times as RFC 3339 text (naive ones taken as UTC), bytes decoded. Errors are one
line built from host, port and database, and scrubbed of the password whatever the driver said.
"""

from __future__ import annotations

import asyncio
import math
import shlex
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import psycopg
import psycopg.conninfo
import pymysql
import pymysql.cursors
import redis.asyncio
import redis.exceptions
from psycopg.rows import dict_row
from pydantic import BaseModel
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from siaga.integrations.probes.base import ProbeResult
from siaga.spec.checks import DbProbe

MAX_ROWS = 100
REDIS_READ_COMMANDS = frozenset(
    {"PING", "INFO", "DBSIZE", "GET", "MGET", "EXISTS", "TTL", "LLEN", "SCARD", "ZCARD", "HLEN", "HGET"}
    | {"STRLEN", "TYPE", "XLEN"}
)
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "redis": 6379}
_ENGINES = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "redis": "redis",
    "rediss": "redis",
}
Row = dict[str, Any]


class _Failure(Exception):
    """The target's fault, as one line without the target's address (added by the prober)."""


@dataclass(frozen=True)
class _Target:
    engine: str
    host: str
    port: int
    database: str
    user: str | None
    password: str | None

    def label(self) -> str:
        return f"{self.engine} {self.host}:{self.port}/{self.database}"

    def scrub(self, text: str) -> str:
        """``text`` on one line, at most 200 characters, without the password (plain or URL-encoded)."""
        if self.password:
            for form in {self.password, quote(self.password, safe=""), quote(self.password)}:
                text = text.replace(form, "***")
        text = " ".join(text.split())
        return text if len(text) <= 200 else text[:199] + "…"


class DbProber:
    """Probes ``db`` checks; holds no connections between probes."""

    async def probe(self, settings: BaseModel, timeout: float) -> ProbeResult:
        """Connect to ``settings.url`` and run its query; ok when connected and the query ran."""
        if not isinstance(settings, DbProbe):
            raise TypeError(f"DbProber cannot probe {type(settings).__name__}")
        started = time.perf_counter()
        url = settings.url.get_secret_value()
        try:
            target = _target(url)
        except ValueError as exc:
            return ProbeResult(False, time.perf_counter() - started, f"db: {exc}")
        run = _RUNNERS[target.engine]
        try:
            async with asyncio.timeout(timeout):
                rows = await run(url, target, settings.query, timeout)
        except TimeoutError:
            error = f"{target.label()}: timed out after {timeout:g}s"
            return ProbeResult(False, time.perf_counter() - started, error)
        except _Failure as exc:
            error = f"{target.label()}: {target.scrub(str(exc))}"
            return ProbeResult(False, time.perf_counter() - started, error)
        latency = time.perf_counter() - started
        plain_rows = [{str(name): plain(value) for name, value in row.items()} for row in rows[:MAX_ROWS]]
        return ProbeResult(
            True, latency, None, {"row": plain_rows[0] if plain_rows else {}, "rows": plain_rows}
        )

    async def close(self) -> None:
        return None


def _target(url: str) -> _Target:
    """Host, port, database and credentials from ``url``; ValueError (never quoting it) when unusable."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    engine = _ENGINES.get(scheme)
    if engine is None:
        shown = f"'{scheme}://'" if scheme.isalpha() else "none"
        raise ValueError(f"unsupported URL scheme {shown} (postgresql, mysql, mariadb, redis, rediss)")
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS[engine]
    except ValueError:
        raise ValueError(f"invalid {scheme} URL") from None
    database = parts.path.lstrip("/") or ("0" if engine == "redis" else "")
    return _Target(
        engine=engine,
        host=parts.hostname or "localhost",
        port=port,
        database=unquote(database),
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


# -- PostgreSQL ---------------------------------------------------------------------------------------


async def _postgres(url: str, target: _Target, query: str | None, timeout: float) -> list[Row]:
    try:
        existing = psycopg.conninfo.conninfo_to_dict(url).get("options")
    except psycopg.Error:
        raise _Failure("invalid connection URL") from None
    millis = max(1, math.ceil(timeout * 1000))
    options = f"{existing or ''} -c default_transaction_read_only=on -c statement_timeout={millis}".strip()
    try:
        connection = await psycopg.AsyncConnection.connect(
            url, connect_timeout=max(1, math.ceil(timeout)), options=options
        )
    except psycopg.Error as exc:
        raise _Failure(_postgres_connect_failure(exc)) from None
    try:
        await connection.set_read_only(True)
        if query is None:
            return []
        async with connection.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(query)
            return await cursor.fetchmany(MAX_ROWS) if cursor.description is not None else []
    except psycopg.Error as exc:
        message = exc.diag.message_primary or str(exc).strip().split("\n")[0]
        raise _Failure(f"query failed: {message}") from None
    finally:
        await connection.close()  # unfinished, so the server rolls the transaction back


def _postgres_connect_failure(exc: psycopg.Error) -> str:
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    if "password authentication failed" in text:
        return "authentication failed"
    # libpq: 'connection failed: connection to server at "h", port 5432 failed: FATAL:  <reason>'
    reason = text.strip().split("\n")[0].rsplit(" failed: ", 1)[-1].removeprefix("FATAL:").strip()
    return f"cannot connect: {reason}"


# -- MySQL / MariaDB ----------------------------------------------------------------------------------

_MYSQL_REFUSED = 2003  # CR_CONN_HOST_ERROR
_MYSQL_ACCESS_DENIED = 1045


async def _mysql(url: str, target: _Target, query: str | None, timeout: float) -> list[Row]:
    return await asyncio.to_thread(_mysql_in_thread, target, query, timeout)


def _mysql_in_thread(target: _Target, query: str | None, timeout: float) -> list[Row]:
    try:
        connection = pymysql.connect(
            host=target.host,
            port=target.port,
            user=target.user,
            password=target.password or "",
            database=target.database or None,
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            charset="utf8mb4",
            cursorclass=pymysql.cursors.DictCursor,
        )
    except pymysql.err.MySQLError as exc:
        raise _Failure(_mysql_connect_failure(exc)) from None
    try:
        if query is None:
            return []
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
            cursor.execute("START TRANSACTION READ ONLY")
            cursor.execute(query)
            rows: list[Row] = list(cursor.fetchmany(MAX_ROWS))
            connection.rollback()
            return rows
    except pymysql.err.MySQLError as exc:
        raise _Failure(f"query failed: {_mysql_message(exc)}") from None
    finally:
        connection.close()


def _mysql_connect_failure(exc: pymysql.err.MySQLError) -> str:
    code = exc.args[0] if exc.args else None
    message = _mysql_message(exc)
    if code == _MYSQL_REFUSED and "refused" in message.lower():
        return "connection refused"
    if code == _MYSQL_ACCESS_DENIED:
        return "authentication failed"
    return f"cannot connect: {message}"


def _mysql_message(exc: pymysql.err.MySQLError) -> str:
    if len(exc.args) >= 2:
        return f"{exc.args[0]} {exc.args[1]}"
    return str(exc) or type(exc).__name__


# -- Redis --------------------------------------------------------------------------------------------


async def _redis(url: str, target: _Target, query: str | None, timeout: float) -> list[Row]:
    try:
        command = shlex.split(query) if query else ["PING"]
    except ValueError:
        raise _Failure("cannot parse the command (unbalanced quotes?)") from None
    if not command:
        command = ["PING"]
    name = command[0].upper()
    if name not in REDIS_READ_COMMANDS:
        raise _Failure(f"command {name} is not read-only")
    client = redis.asyncio.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        decode_responses=True,
        encoding_errors="replace",
        retry=Retry(NoBackoff(), 0),  # one attempt: the check's own schedule is the retry
    )
    try:
        result = await client.execute_command(name, *command[1:])  # type: ignore[no-untyped-call]
    except redis.exceptions.AuthenticationError:
        raise _Failure("authentication failed") from None
    except redis.exceptions.TimeoutError:
        raise _Failure(f"timed out after {timeout:g}s") from None
    except redis.exceptions.ConnectionError as exc:
        refused = isinstance(exc.__context__, ConnectionRefusedError) or "refused" in str(exc).lower()
        raise _Failure("connection refused" if refused else f"cannot connect: {exc}") from None
    except redis.exceptions.RedisError as exc:
        raise _Failure(f"{name} failed: {exc}") from None
    finally:
        await client.aclose()
    return [dict(result) if isinstance(result, Mapping) else {"value": result}]


_Runner = Callable[[str, _Target, str | None, float], Awaitable[list[Row]]]
_RUNNERS: dict[str, _Runner] = {"postgresql": _postgres, "mysql": _mysql, "redis": _redis}


def plain(value: Any) -> Any:
    """``value`` as CEL sees it: numbers as doubles, times as RFC 3339 text, bytes decoded."""
    match value:
        case None | bool() | str() | timedelta():
            return value
        case int() | float() | Decimal():
            return float(value)
        case datetime():
            return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()
        case date() | time_of_day():
            return value.isoformat()
        case bytes() | bytearray() | memoryview():
            return bytes(value).decode("utf-8", "replace")
        case Mapping():
            return {str(key): plain(item) for key, item in value.items()}
        case list() | tuple() | set() | frozenset():
            return [plain(item) for item in value]
    return str(value)  # UUID, IP addresses, ranges…
