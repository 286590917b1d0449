"""Who is signed in to the dashboard: the session cookie, role checks for pages, CSRF checks for forms.

Pages declare ``user: Viewer`` (or ``Responder``, ``Admin``); forms that change something also declare
``_: CsrfChecked`` and send the session's token as the field ``csrf_token`` (or, from fetch(), the header
``X-CSRF-Token``). The API does not read the cookie: it takes bearer tokens only.

Errors (both HTTPExceptions, so each works even where no handler renders it)::

    HTTPException
    ├── SignInRequired   303 to /login?next=<this page>
    └── NotAllowed       403, shown as the "not allowed" page by `not_allowed_page`
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, cast
from urllib.parse import parse_qsl, quote

from fastapi import Depends, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from siaga.services import users
from siaga.services.tokens import Role
from siaga.web.templating import render

COOKIE = "siaga_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_MAX_SECRET = 100  # token_urlsafe(32) is 43 characters; longer cookies are not ours
_MAX_FIELDS = 200
_UNSET = object()


@dataclass(frozen=True, slots=True)
class WebUser:
    name: str
    role: Role
    csrf_token: str  # this session's CSRF token

    @property
    def actor(self) -> str:
        return f"user:{self.name}"


class SignInRequired(HTTPException):
    """Not signed in: answered with a redirect to the sign-in page, which comes back to ``next_path``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(
            status.HTTP_303_SEE_OTHER, detail="sign in first", headers={"Location": login_url(next_path)}
        )


class NotAllowed(HTTPException):
    """Signed in, but this needs a higher role, or the form's CSRF token was missing or wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(status.HTTP_403_FORBIDDEN, detail=message)


def login_url(next_path: str = "/") -> str:
    return "/login" if next_path == "/" else f"/login?next={quote(next_path, safe='/')}"


def _coming_back_to(request: Request) -> str:
    """Where to return after signing in: this page for GET, the overview after a refused form post."""
    if request.method not in {"GET", "HEAD"}:
        return "/"
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def current_user(request: Request) -> WebUser | None:
    """The user signed in on this request (looked up once per request), or None."""
    cached = getattr(request.state, "web_user", _UNSET)
    if cached is not _UNSET:
        return cast(WebUser | None, cached)
    found: WebUser | None = None
    secret = request.cookies.get(COOKIE, "")
    if secret and len(secret) <= _MAX_SECRET:
        container = request.app.state.container
        session = await run_in_threadpool(
            lambda: users.session_user(uow=container.db, secret=secret, now=container.clock.now())
        )
        if session is not None:
            user, csrf = session
            found = WebUser(name=user.name, role=user.role, csrf_token=csrf)
    request.state.web_user = found
    return found


def signed_in(role: Role = Role.VIEWER) -> Callable[..., Awaitable[WebUser]]:
    """A dependency: the signed-in user if their role allows ``role`` (SignInRequired, NotAllowed)."""

    async def check(request: Request) -> WebUser:
        user = await current_user(request)
        if user is None:
            raise SignInRequired(_coming_back_to(request))
        if not user.role.allows(role):
            raise NotAllowed(
                f"This page needs the {role.value} role; "
                f"you are signed in as {user.name} ({user.role.value})."
            )
        return user

    return check


Viewer = Annotated[WebUser, Depends(signed_in(Role.VIEWER))]
Responder = Annotated[WebUser, Depends(signed_in(Role.RESPONDER))]
Admin = Annotated[WebUser, Depends(signed_in(Role.ADMIN))]


async def read_form(request: Request) -> dict[str, str]:
    """The text fields of a posted form (urlencoded or, when python-multipart is there, multipart).

    Urlencoded bodies are parsed here, so forms work without python-multipart; the body stays readable."""
    cached = getattr(request.state, "form_fields", None)
    if cached is not None:
        return cast(dict[str, str], cached)
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    fields: dict[str, str] = {}
    if content_type == "application/x-www-form-urlencoded":
        try:
            body = await request.body()
        except RuntimeError:  # the stream was already read as a form (a route with Form() parameters)
            fields = _text_fields(await request.form())
        else:
            try:
                pairs = parse_qsl(
                    body.decode(errors="replace"), keep_blank_values=True, max_num_fields=_MAX_FIELDS
                )
            except ValueError:  # more fields than any of our forms has
                pairs = []
            fields = dict(pairs)
    elif content_type == "multipart/form-data":
        fields = _text_fields(await request.form())
    request.state.form_fields = fields
    return fields


def _text_fields(form: Any) -> dict[str, str]:
    return {key: value for key, value in form.items() if isinstance(value, str)}


def tokens_match(sent: str | None, expected: str) -> bool:
    """Constant-time comparison of a sent token with the expected one (False when none was sent)."""
    return bool(sent) and hmac.compare_digest(str(sent).encode(), expected.encode())


async def verify_csrf(request: Request) -> None:
    """Refuse (403) a form post whose `csrf_token` field or X-CSRF-Token header is not this session's."""
    user = await current_user(request)
    if user is None:
        raise SignInRequired(_coming_back_to(request))
    sent = request.headers.get(CSRF_HEADER) or (await read_form(request)).get(CSRF_FIELD)
    if not tokens_match(sent, user.csrf_token):
        raise NotAllowed(
            "This form has expired or did not come from this site. Reload the page and try again."
        )


CsrfChecked = Annotated[None, Depends(verify_csrf)]


def cookie_secure(request: Request) -> bool:
    """Cookies are Secure when the request came over HTTPS (behind a proxy: as uvicorn reports it)."""
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, secret: str, lifetime: timedelta) -> None:
    response.set_cookie(
        COOKIE,
        secret,
        max_age=int(lifetime.total_seconds()),
        path="/",
        secure=cookie_secure(request),
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path="/", secure=cookie_secure(request), httponly=True, samesite="lax")


async def not_allowed_page(request: Request, error: Exception) -> HTMLResponse:
    """The exception handler for NotAllowed: a 403 page in the dashboard's layout."""
    user = getattr(request.state, "web_user", None)
    message = error.detail if isinstance(error, HTTPException) else "Not allowed."
    context = {
        "title": "Not allowed",
        "message": message,
        "user": user,
        "csrf_token": user.csrf_token if isinstance(user, WebUser) else "",
    }
    return render(request, "not_allowed.html", context, status_code=status.HTTP_403_FORBIDDEN)
