"""Alembic migrations build exactly the schema the code describes, on both engines, and rerun as no-ops."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from siaga.adapters.db import migrate
from siaga.adapters.db.engine import Database
from siaga.adapters.db.tables import metadata


def test_migrated_schema_matches_tables(db: Database) -> None:
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_upgrade_is_idempotent(db: Database) -> None:
    head = migrate.current_revision(db.engine)
    assert head is not None
    assert migrate.upgrade(db.engine) == head
    assert migrate.current_revision(db.engine) == head
