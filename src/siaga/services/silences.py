"""Silences: matchers that stop paging for a while (alerts are still recorded)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from siaga.domain.incidents import IncidentError
from siaga.domain.routing import parse_matcher
from siaga.services.incidents import InvalidInput, NotFound
from siaga.services.ports import Row, UnitOfWork


class SilenceNotFound(NotFound):
    def __init__(self, silence_id: int) -> None:
        IncidentError.__init__(self, f"silence {silence_id} not found")
        self.incident_id = silence_id


def _view(row: Row, now: datetime) -> dict[str, Any]:
    ended = row["expired_at"] is not None or row["ends_at"] <= now
    state = "expired" if ended else ("active" if row["starts_at"] <= now else "pending")
    return {
        "id": int(row["id"]),
        "matchers": list(row["matchers"]),
        "starts_at": row["starts_at"],
        "ends_at": row["ends_at"],
        "created_by": row["created_by"],
        "comment": row["comment"],
        "created_at": row["created_at"],
        "until_resolved": row["until_resolved"],
        "state": state,
    }


def create(
    *,
    uow: UnitOfWork,
    matchers: Sequence[str],
    starts_at: datetime,
    ends_at: datetime,
    comment: str,
    actor: str,
    now: datetime,
    until_resolved: int | None = None,
) -> dict[str, Any]:
    """Add a silence; raise InvalidInput for a bad matcher or time range, NotFound for an unknown incident."""
    if not matchers:
        raise InvalidInput("a silence needs at least one matcher")
    for text in matchers:
        try:
            parse_matcher(text)
        except ValueError as error:
            raise InvalidInput(str(error)) from None
    if ends_at <= starts_at:
        raise InvalidInput("ends_at must be after starts_at")
    if ends_at <= now:
        raise InvalidInput("ends_at is in the past: the silence would never apply")
    if not comment.strip():
        raise InvalidInput("comment must not be empty: say why paging is silenced")
    with uow.transaction() as store:
        if until_resolved is not None and store.incident(until_resolved) is None:
            raise NotFound(until_resolved)
        values = {
            "matchers": list(matchers),
            "starts_at": starts_at,
            "ends_at": ends_at,
            "created_by": actor,
            "comment": comment.strip(),
            "created_at": now,
            "until_resolved": until_resolved,
            "notice_sent": False,
        }
        silence_id = store.insert_silence(values)
        row = store.silence(silence_id)
    assert row is not None  # noqa: S101 - just inserted in this transaction
    return _view(row, now)


def list_silences(*, uow: UnitOfWork, now: datetime, include_expired: bool = False) -> list[dict[str, Any]]:
    with uow.read() as store:
        rows = store.silences(include_expired=include_expired)
    views = [_view(row, now) for row in rows]
    return views if include_expired else [view for view in views if view["state"] != "expired"]


def expire(*, uow: UnitOfWork, silence_id: int, actor: str, now: datetime) -> dict[str, Any]:
    """End a silence now (no expiry notice: someone ended it on purpose)."""
    with uow.transaction() as store:
        row = store.silence(silence_id)
        if row is None:
            raise SilenceNotFound(silence_id)
        if row["expired_at"] is None:
            ends_at = min(row["ends_at"], now)
            values = {"ends_at": ends_at, "expired_at": ends_at, "notice_sent": True}
            if row["starts_at"] > ends_at:
                values["starts_at"] = ends_at  # never started: an empty silence, not a backwards one
            store.update_silence(silence_id, values)
            store.recheck_muted(now)  # incidents it muted page again at the next tick
        row = store.silence(silence_id)
    assert row is not None  # noqa: S101 - read in this transaction
    return {**_view(row, now), "expired_by": actor}
