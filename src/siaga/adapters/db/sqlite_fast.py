"""SQLite: intake's hot statements straight on the sqlite3 connection.

Through SQLAlchemy Core each statement costs more Python than SQLite needs to run it (building the
statement, its cache key, the execution context, the result's metadata): measured under the
single-alert load, that was a third of the writer thread's time. Here the statement texts are made once
per table and column set, values pass through SQLAlchemy's own bind and result processors for each column
(so what is stored and read back is exactly what SQLAlchemy would store and read), and sqlite3's
``executemany`` does the rest. They run on the connection of the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["bind", "insert_many", "select", "update_many"]

Row = Mapping[str, Any]
_Convert = Callable[[Any], Any] | None


def _driver(conn: Connection) -> Any:
    return conn.connection.driver_connection


def _impl(column: sa.Column[Any], dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
    return column.type.dialect_impl(dialect)


@cache
def _binders(dialect: sa.Dialect, table: sa.Table) -> dict[str, _Convert]:
    return {column.name: _impl(column, dialect).bind_processor(dialect) for column in table.columns}


@cache
def _loaders(dialect: sa.Dialect, table: sa.Table) -> list[_Convert]:
    return [_impl(column, dialect).result_processor(dialect, None) for column in table.columns]


def _values(binders: Mapping[str, _Convert], names: Sequence[str], row: Row) -> tuple[Any, ...]:
    return tuple(row[name] if (bind := binders[name]) is None else bind(row[name]) for name in names)


@cache
def _insert_sql(table: sa.Table, names: tuple[str, ...]) -> str:
    marks = ", ".join("?" for _ in names)
    return f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})"  # noqa: S608 - names from tables.py


def insert_many(conn: Connection, table: sa.Table, rows: Sequence[Row]) -> None:
    """Insert ``rows`` (the columns of the first row; the others take their defaults)."""
    names = tuple(column.name for column in table.columns if column.name in rows[0])
    binders = _binders(conn.dialect, table)
    _driver(conn).executemany(_insert_sql(table, names), [_values(binders, names, row) for row in rows])


@cache
def _update_sql(table: sa.Table, key: str, names: tuple[str, ...]) -> str:
    sets = ", ".join(f"{name} = ?" for name in names)
    return f"UPDATE {table.name} SET {sets} WHERE {key} = ?"  # noqa: S608 - names from tables.py


def update_many(conn: Connection, key: sa.Column[Any], marker: str, rows: Sequence[Row]) -> None:
    """Update rows by ``key``; each row carries ``marker`` (the key's value) and the same columns."""
    table = key.table
    names = tuple(name for name in rows[0] if name != marker)
    binders = _binders(conn.dialect, table)
    bind_key = binders[key.name]
    params = [
        (*_values(binders, names, row), row[marker] if bind_key is None else bind_key(row[marker]))
        for row in rows
    ]
    _driver(conn).executemany(_update_sql(table, key.name, names), params)


def bind(conn: Connection, column: sa.Column[Any], value: Any) -> Any:
    """``value`` as SQLAlchemy would send it for ``column`` (for a parameter of ``select``)."""
    convert = _binders(conn.dialect, column.table)[column.name]
    return value if convert is None else convert(value)


def select(conn: Connection, table: sa.Table, where: str, params: Sequence[Any]) -> list[Row]:
    """Every column of ``table`` for the rows ``WHERE where`` (``?`` parameters), as SQLAlchemy reads them."""
    names = [column.name for column in table.columns]
    loaders = list(enumerate(_loaders(conn.dialect, table)))
    sql = f"SELECT {', '.join(names)} FROM {table.name} WHERE {where}"  # noqa: S608 - names from tables.py
    rows: list[Row] = []
    for record in _driver(conn).execute(sql, tuple(params)):
        values = list(record)
        for i, load in loaders:
            if load is not None:
                values[i] = load(values[i])
        rows.append(dict(zip(names, values, strict=True)))
    return rows
