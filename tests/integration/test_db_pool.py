"""The PostgreSQL pool: a connection that died while idle is replaced before use, not handed out."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from siaga.adapters.db import engine as db_engine


def test_a_connection_killed_while_idle_is_replaced(
    pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db_engine.create(pg_database)
    try:
        with engine.connect() as conn:
            first = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with psycopg.connect(pg_database, autocommit=True) as admin:  # as a server restart would
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        monkeypatch.setattr(db_engine, "_PING_AFTER_IDLE", 0.0)  # it has been idle long enough

        with engine.connect() as conn:
            second = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()

        assert second != first
    finally:
        engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged(pg_database: str) -> None:
    # The round trip saved per transaction: a connection back in the pool for under a second is
    # handed out as it is (a server that died within that second fails one transaction, not more).
    engine = db_engine.create(pg_database)
    try:
        with engine.connect() as conn:
            first = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with psycopg.connect(pg_database, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))

        with pytest.raises(sa.exc.OperationalError), engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        with engine.connect() as conn:  # the pool dropped the dead connection
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() != first
    finally:
        engine.dispose()
