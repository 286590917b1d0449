"""Queries for dashboard sign-in: users and their browser sessions."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from siaga.adapters.db.tables import users, web_sessions
from siaga.services.ports import Row


def _rows(conn: Connection, query: sa.Executable) -> list[Row]:
    return cast(list[Row], list(conn.execute(query).mappings()))


def _first(conn: Connection, query: sa.Executable) -> Row | None:
    return cast(Row | None, conn.execute(query).mappings().first())


class UserQueries:
    """Mixed into the Store: same connection, same transaction."""

    conn: Connection

    def insert_user(self, values: Row) -> int:
        result = self.conn.execute(users.insert().values(**values).returning(users.c.id))
        return int(result.scalar_one())

    def user_by_name(self, name: str) -> Row | None:
        return _first(self.conn, sa.select(users).where(users.c.name == name))

    def users(self) -> list[Row]:
        return _rows(self.conn, sa.select(users).order_by(users.c.name))

    def update_user(self, user_id: int, values: Row) -> None:
        self.conn.execute(users.update().where(users.c.id == user_id).values(**values))

    def insert_web_session(self, values: Row) -> None:
        self.conn.execute(web_sessions.insert().values(**values))

    def web_session(self, session_id: str) -> Row | None:
        """The session with its user's `name`, `role`, `disabled_at` and `user_created_at` (None: none)."""
        query = (
            sa.select(
                web_sessions,
                users.c.name,
                users.c.role,
                users.c.disabled_at,
                users.c.created_at.label("user_created_at"),
            )
            .join(users, users.c.id == web_sessions.c.user_id)
            .where(web_sessions.c.id == session_id)
        )
        return _first(self.conn, query)

    def touch_web_session(self, session_id: str, at: datetime) -> None:
        self.conn.execute(
            web_sessions.update().where(web_sessions.c.id == session_id).values(last_seen_at=at)
        )

    def delete_web_session(self, session_id: str) -> None:
        self.conn.execute(web_sessions.delete().where(web_sessions.c.id == session_id))

    def delete_web_sessions_of(self, user_id: int) -> int:
        result = self.conn.execute(web_sessions.delete().where(web_sessions.c.user_id == user_id))
        return int(result.rowcount or 0)

    def prune_web_sessions(self, now: datetime) -> int:
        """Delete sessions that expired at or before ``now``; return how many."""
        result = self.conn.execute(web_sessions.delete().where(web_sessions.c.expires_at <= now))
        return int(result.rowcount or 0)
