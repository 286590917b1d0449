"""Bearer-token authentication and role checks."""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from siaga.services import tokens
from siaga.services.ports import UnitOfWork
from siaga.services.tokens import Principal, Role

_CACHE_SECONDS = 5.0  # a revoked token stops working within this long


class TokenCache:
    """Recently checked tokens, so a burst of webhook posts does not cost a query each."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def lookup(self, token: str, load: Callable[[], Principal | None]) -> Principal | None:
        key = tokens.hash_token(token)
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        principal = load()
        with self._lock:
            if len(self._entries) > 10000:
                self._entries.clear()
            self._entries[key] = (now + _CACHE_SECONDS, principal)
        return principal


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def bearer_token(header: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def check_token(uow: UnitOfWork, cache: TokenCache, token: str) -> Principal | None:
    """Who holds ``token`` (None: unknown or revoked), through the cache."""
    return cache.lookup(token, lambda: tokens.authenticate(uow=uow, token=token))


async def principal(request: Request) -> Principal:
    token = bearer_token(request.headers.get("authorization", ""))
    if token is None:
        raise unauthorized("missing bearer token")
    found = check_token(request.app.state.container.db, request.app.state.token_cache, token)
    if found is None:
        raise unauthorized("invalid or revoked token")
    return found


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.role.allows(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"needs the {role.value} role")
        return who

    return check


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Responder = Annotated[Principal, Depends(require(Role.RESPONDER))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
