"""Sign-in and sign-out: GET/POST /login open a session, POST /logout ends it.

The sign-in form has no session to take a CSRF token from, so it carries its own: GET /login sets the
cookie `siaga_login_csrf` to a random value with its HMAC (keyed per process), and the form repeats the
value; POST /login accepts only when both agree and the HMAC holds. A form older than the process that
answers it (a restart, another replica) is shown again with a fresh token.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
from collections import deque
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from siaga.bootstrap import Container
from siaga.services import users
from siaga.web.session import (
    COOKIE,
    CsrfChecked,
    clear_session_cookie,
    cookie_secure,
    read_form,
    set_session_cookie,
    tokens_match,
)
from siaga.web.templating import render

router = APIRouter(include_in_schema=False)

LOGIN_CSRF_COOKIE = "siaga_login_csrf"
WRONG = "Wrong name or password."
STALE = "The sign-in form had expired; please sign in again."
WINDOW = timedelta(minutes=5)
PER_NAME = 5  # failed attempts per (client, name) per WINDOW
PER_CLIENT = 20  # failed attempts per client per WINDOW
_KEY = secrets.token_bytes(32)  # signs login CSRF cookies; per process (see the module docstring)


class AttemptLimiter:
    """Failed sign-ins in a sliding window, per (client address, name) and per client address.

    In memory, per process: each replica (and each restart) counts on its own, so behind N replicas a
    client gets up to N times the limits. At most `max_keys` keys are kept; past that, the oldest go."""

    def __init__(
        self,
        *,
        window: timedelta = WINDOW,
        per_name: int = PER_NAME,
        per_client: int = PER_CLIENT,
        max_keys: int = 10000,
    ) -> None:
        self.window = window
        self.per_name = per_name
        self.per_client = per_client
        self.max_keys = max_keys
        self._failures: dict[tuple[str, str | None], deque[datetime]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str | None], now: datetime) -> deque[datetime]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, client: str, name: str, now: datetime) -> timedelta | None:
        """How long until ``client`` may try ``name`` again; None when it may now."""
        with self._lock:
            waits = [
                times[-limit] + self.window - now
                for key, limit in (((client, name), self.per_name), ((client, None), self.per_client))
                if len(times := self._recent(key, now)) >= limit
            ]
        return max(waits) if waits else None

    def failed(self, client: str, name: str, now: datetime) -> None:
        with self._lock:
            for key in ((client, name), (client, None)):
                self._failures.setdefault(key, deque()).append(now)
            if len(self._failures) > self.max_keys:
                self._shrink(now)

    def succeeded(self, client: str, name: str) -> None:
        """A right password clears that name's failures from that client (not the client's total)."""
        with self._lock:
            self._failures.pop((client, name), None)

    def _shrink(self, now: datetime) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        excess = len(self._failures) - self.max_keys // 2
        for key in list(self._failures)[: max(excess, 0)]:  # dicts keep insertion order: oldest first
            del self._failures[key]


def safe_next(value: str | None) -> str:
    """``value`` when it is a path on this site ("/..." but not "//..." or "/\\..."), else "/"."""
    if (
        not value
        or len(value) > 2000
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)
        or value == "/login"
        or value.startswith(("/login?", "/logout"))
    ):
        return "/"
    return value


def _sign(value: str) -> str:
    return hmac.new(_KEY, value.encode(), hashlib.sha256).hexdigest()


def _login_token(request: Request) -> str | None:
    """The value of a well-signed login CSRF cookie on this request, or None."""
    value, _, signature = request.cookies.get(LOGIN_CSRF_COOKIE, "").rpartition(".")
    return value if value and tokens_match(signature, _sign(value)) else None


def _limiter(request: Request) -> AttemptLimiter:
    limiter: AttemptLimiter | None = getattr(request.app.state, "login_attempts", None)
    if limiter is None:
        limiter = request.app.state.login_attempts = AttemptLimiter()
    return limiter


def _form(
    request: Request, *, next_path: str, name: str = "", error: str = "", code: int = 200
) -> HTMLResponse:
    """The sign-in page, keeping the browser's login CSRF cookie or setting a new one."""
    token = _login_token(request)
    fresh = token is None
    if token is None:
        token = secrets.token_urlsafe(32)
    context = {
        "title": "Sign in",
        "user": None,
        "csrf_token": "",
        "login_csrf": token,
        "next": next_path,
        "name": name[:64],
        "error": error,
    }
    response = render(request, "login.html", context, status_code=code)
    if fresh:
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            f"{token}.{_sign(token)}",
            path="/login",
            secure=cookie_secure(request),
            httponly=True,
            samesite="lax",
        )
    return response


@router.get("/login")
async def login_page(
    request: Request, next_path: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    """The sign-in form (also for someone signed in: signing in again switches users)."""
    return _form(request, next_path=safe_next(next_path))


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the name and password; on success open a session and go on to ``next``."""
    container: Container = request.app.state.container
    fields = await read_form(request)
    name = fields.get("name", "").strip().lower()
    password = fields.get("password", "")
    target = safe_next(fields.get("next"))
    token = _login_token(request)
    if token is None or not tokens_match(fields.get("csrf_token"), token):
        return _form(request, next_path=target, name=name, error=STALE, code=status.HTTP_403_FORBIDDEN)

    client = request.client.host if request.client else "unknown"
    limiter = _limiter(request)
    now = container.clock.now()
    wait = limiter.retry_after(client, name, now)
    if wait is not None:
        minutes = max(1, math.ceil(wait.total_seconds() / 60))
        message = f"Too many attempts; try again in {minutes} minute{'' if minutes == 1 else 's'}."
        page = _form(
            request, next_path=target, name=name, error=message, code=status.HTTP_429_TOO_MANY_REQUESTS
        )
        page.headers["Retry-After"] = str(max(1, math.ceil(wait.total_seconds())))
        return page

    user = await run_in_threadpool(
        lambda: users.authenticate(uow=container.db, name=name, password=password, now=now)
    )
    if user is None:
        limiter.failed(client, name, now)
        return _form(request, next_path=target, name=name, error=WRONG, code=status.HTTP_401_UNAUTHORIZED)
    limiter.succeeded(client, name)

    def start_session() -> str:
        old = request.cookies.get(COOKIE)
        if old:  # a new session, never a reused one (session fixation)
            users.close_session(uow=container.db, secret=old)
        secret, _csrf = users.open_session(uow=container.db, user=user, now=now)
        return secret

    secret = await run_in_threadpool(start_session)
    response = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    set_session_cookie(response, request, secret, users.SESSION_LIFETIME)
    response.delete_cookie(
        LOGIN_CSRF_COOKIE, path="/login", secure=cookie_secure(request), httponly=True, samesite="lax"
    )
    return response


@router.post("/logout")
async def logout(request: Request, _csrf: CsrfChecked) -> Response:
    """End this session (its row and its cookie) and go to the sign-in page."""
    container: Container = request.app.state.container
    secret = request.cookies.get(COOKIE)
    if secret:
        await run_in_threadpool(lambda: users.close_session(uow=container.db, secret=secret))
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    clear_session_cookie(response, request)
    return response
