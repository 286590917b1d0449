"""API tokens: made once, shown once, stored as a SHA-256 hash (random tokens need no slow hash)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from siaga.services.ports import UnitOfWork

PREFIX = "siaga_"


class Role(StrEnum):
    VIEWER = "viewer"
    RESPONDER = "responder"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        order = (Role.VIEWER, Role.RESPONDER, Role.ADMIN)
        return order.index(self) >= order.index(needed)


class TokenError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role

    @property
    def actor(self) -> str:
        return f"token:{self.name}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(*, uow: UnitOfWork, name: str, role: Role, now: datetime) -> str:
    """Store a new token and return its only clear-text copy."""
    token = PREFIX + secrets.token_urlsafe(32)
    with uow.transaction() as store:
        if store.token_by_name(name) is not None:
            raise TokenError(f"a token named '{name}' already exists")
        store.insert_token(
            {"name": name, "role": role.value, "token_hash": hash_token(token), "created_at": now}
        )
    return token


def authenticate(*, uow: UnitOfWork, token: str) -> Principal | None:
    with uow.read() as store:
        row = store.token_by_hash(hash_token(token))
    if row is None or row["revoked_at"] is not None:
        return None
    return Principal(name=row["name"], role=Role(row["role"]))


def revoke(*, uow: UnitOfWork, name: str, now: datetime) -> None:
    with uow.transaction() as store:
        row = store.token_by_name(name)
        if row is None:
            raise TokenError(f"no token named '{name}'")
        if row["revoked_at"] is None:
            store.update_token(int(row["id"]), {"revoked_at": now})


def list_tokens(*, uow: UnitOfWork) -> list[dict[str, Any]]:
    with uow.read() as store:
        return [
            {
                "name": r["name"],
                "role": r["role"],
                "created_at": r["created_at"],
                "revoked_at": r["revoked_at"],
            }
            for r in store.tokens()
        ]
