"""Dashboard users and their browser sessions.

Passwords are stored as argon2id hashes (argon2-cffi's `PasswordHasher` defaults, rehashed on sign-in when
those change). A session is a random secret in a cookie; only its SHA-256 is stored, with the session's
CSRF token.

Errors::

    UserError   a bad name or password, a duplicate or unknown user
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from siaga.services.ports import ConflictError, Row, UnitOfWork
from siaga.services.tokens import Role

NAME = re.compile(r"[a-z0-9._-]{1,64}")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 takes any length; a cap keeps a huge form field from costing much
SESSION_LIFETIME = timedelta(hours=12)
_TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is a hint, not worth a write per page view

HASHER = PasswordHasher()  # argon2id; module-level so tests may swap in cheaper parameters


class UserError(Exception):
    """A mistake in what was asked (bad name, short password, duplicate or unknown user)."""


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: Role
    created_at: datetime
    disabled_at: datetime | None

    @property
    def actor(self) -> str:
        return f"user:{self.name}"


def _user(row: Row) -> User:
    return User(
        id=int(row["id"]),
        name=row["name"],
        role=Role(row["role"]),
        created_at=row["created_at"],
        disabled_at=row["disabled_at"],
    )


def _disabled(disabled_at: datetime | None, now: datetime) -> bool:
    return disabled_at is not None and disabled_at <= now


def session_id(secret: str) -> str:
    """The stored key of a session: the SHA-256 (hex) of the cookie's secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash with `hasher`'s parameters, verified when the name is unknown so that costs the same time."""
    return hasher.hash(secrets.token_urlsafe(16))


def _verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_name(name: str) -> None:
    """Raise UserError unless ``name`` is 1-64 of a-z, 0-9, '.', '_' and '-'."""
    if not NAME.fullmatch(name):
        raise UserError(f"user name '{name}' must be 1-64 characters of a-z, 0-9, '.', '_' and '-'")


def create(*, uow: UnitOfWork, name: str, password: str, role: Role, now: datetime) -> User:
    """Store a new user with an argon2id hash of ``password``; raise UserError on a bad or taken name."""
    check_name(name)
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must be at least {MIN_PASSWORD} characters long")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"the password must be at most {MAX_PASSWORD} characters long")
    password_hash = HASHER.hash(password)  # before the transaction: it is slow, and holds no lock
    values = {"name": name, "password_hash": password_hash, "role": role.value, "created_at": now}
    try:
        with uow.transaction() as store:
            if store.user_by_name(name) is not None:
                raise UserError(f"a user named '{name}' already exists")
            user_id = store.insert_user(values)
    except ConflictError:  # created at the same moment by someone else
        raise UserError(f"a user named '{name}' already exists") from None
    return User(id=user_id, name=name, role=role, created_at=now, disabled_at=None)


def authenticate(*, uow: UnitOfWork, name: str, password: str, now: datetime) -> User | None:
    """The user whose name and password these are, or None (unknown, wrong or disabled: never which).

    An unknown name costs one verification too, against a dummy hash; a hash made with older parameters
    is replaced by one with the current ones."""
    hasher = HASHER
    row = None
    if NAME.fullmatch(name) and len(password) <= MAX_PASSWORD:
        with uow.read() as store:
            row = store.user_by_name(name)
    if row is None:
        _verify(hasher, _dummy_hash(hasher), password[:MAX_PASSWORD])
        return None
    if not _verify(hasher, row["password_hash"], password) or _disabled(row["disabled_at"], now):
        return None
    if hasher.check_needs_rehash(row["password_hash"]):
        new_hash = hasher.hash(password)
        with uow.transaction() as store:
            store.update_user(int(row["id"]), {"password_hash": new_hash})
    return _user(row)


def disable(*, uow: UnitOfWork, name: str, now: datetime) -> None:
    """Stop ``name`` signing in and end their sessions; raise UserError when there is no such user."""
    with uow.transaction() as store:
        row = store.user_by_name(name)
        if row is None:
            raise UserError(f"no user named '{name}'")
        if row["disabled_at"] is None:
            store.update_user(int(row["id"]), {"disabled_at": now})
        store.delete_web_sessions_of(int(row["id"]))


def list_users(*, uow: UnitOfWork) -> list[dict[str, Any]]:
    """Every user by name: name, role, created_at, disabled_at (never hashes)."""
    with uow.read() as store:
        return [
            {
                "name": r["name"],
                "role": r["role"],
                "created_at": r["created_at"],
                "disabled_at": r["disabled_at"],
            }
            for r in store.users()
        ]


# -- sessions ---------------------------------------------------------------------------------------------


def open_session(
    *, uow: UnitOfWork, user: User, now: datetime, lifetime: timedelta = SESSION_LIFETIME
) -> tuple[str, str]:
    """Start a session for ``user``; return (secret for the cookie, CSRF token). Drops expired sessions."""
    secret = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    with uow.transaction() as store:
        store.prune_web_sessions(now)
        store.insert_web_session(
            {
                "id": session_id(secret),
                "user_id": user.id,
                "csrf_token": csrf,
                "created_at": now,
                "expires_at": now + lifetime,
                "last_seen_at": now,
            }
        )
    return secret, csrf


def session_user(*, uow: UnitOfWork, secret: str, now: datetime) -> tuple[User, str] | None:
    """Who holds the session ``secret`` and its CSRF token; None when unknown, expired or disabled."""
    key = session_id(secret)
    with uow.read() as store:
        row = store.web_session(key)
    if row is None or row["expires_at"] <= now or _disabled(row["disabled_at"], now):
        return None
    if now - row["last_seen_at"] >= _TOUCH_EVERY:
        with uow.transaction() as store:
            store.touch_web_session(key, now)
    user = User(
        id=int(row["user_id"]),
        name=row["name"],
        role=Role(row["role"]),
        created_at=row["user_created_at"],
        disabled_at=row["disabled_at"],
    )
    return user, str(row["csrf_token"])


def close_session(*, uow: UnitOfWork, secret: str) -> None:
    """End the session ``secret`` (nothing happens when there is none)."""
    with uow.transaction() as store:
        store.delete_web_session(session_id(secret))
