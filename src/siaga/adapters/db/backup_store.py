"""Queries for backup runs and security audit runs: what was done, when, and how it went."""

from __future__ import annotations

from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from siaga.adapters.db.tables import audit_runs, backup_runs
from siaga.services.ports import Row


class BackupQueries:
    """Mixed into the Store: same connection, same transaction."""

    conn: Connection

    def insert_backup_run(self, values: Row) -> int:
        result = self.conn.execute(backup_runs.insert().values(**values).returning(backup_runs.c.id))
        return int(result.scalar_one())

    def backup_runs(self, job: str | None = None, kind: str | None = None, limit: int = 100) -> list[Row]:
        """Newest first."""
        query = sa.select(backup_runs).order_by(backup_runs.c.started_at.desc(), backup_runs.c.id.desc())
        if job is not None:
            query = query.where(backup_runs.c.job == job)
        if kind is not None:
            query = query.where(backup_runs.c.kind == kind)
        return cast(list[Row], list(self.conn.execute(query.limit(limit)).mappings()))

    def latest_backup_runs(self) -> dict[tuple[str, str, bool], Row]:
        """The newest run of each (job, kind, ok): the last success and the last failure of everything."""
        newest = (
            sa.select(
                backup_runs.c.job,
                backup_runs.c.kind,
                backup_runs.c.ok,
                sa.func.max(backup_runs.c.id).label("id"),
            )
            .group_by(backup_runs.c.job, backup_runs.c.kind, backup_runs.c.ok)
            .subquery()
        )
        query = sa.select(backup_runs).join(newest, backup_runs.c.id == newest.c.id)
        rows = cast(list[Row], list(self.conn.execute(query).mappings()))
        return {(r["job"], r["kind"], bool(r["ok"])): r for r in rows}

    def insert_audit_run(self, values: Row) -> int:
        result = self.conn.execute(audit_runs.insert().values(**values).returning(audit_runs.c.id))
        return int(result.scalar_one())

    def audit_runs(self, limit: int = 20) -> list[Row]:
        """Newest first."""
        query = sa.select(audit_runs).order_by(audit_runs.c.started_at.desc(), audit_runs.c.id.desc())
        return cast(list[Row], list(self.conn.execute(query.limit(limit)).mappings()))
