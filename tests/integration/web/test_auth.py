"""Signing in to the dashboard, on both engines: cookies, wrong passwords, the rate limit, CSRF, sign-out,
expiry, disabled users, the `next` redirect, what is stored, and that the API still takes tokens only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from fastapi import APIRouter, FastAPI, Request
from fastapi.testclient import TestClient

from siaga.adapters.clock import ManualClock
from siaga.adapters.db.tables import users as users_table
from siaga.adapters.db.tables import web_sessions
from siaga.api.app import create_app
from siaga.bootstrap import Container
from siaga.services import users
from siaga.services.tokens import Role
from siaga.web.auth_routes import AttemptLimiter, safe_next
from siaga.web.session import COOKIE, Admin, CsrfChecked, Responder, Viewer
from tests.conftest import T0, bearer
from tests.integration.web.conftest import ClientFactory, csrf_from, sign_in

WebUsers = dict[Role, tuple[str, str]]
probes = APIRouter()


@probes.get("/_test/whoami")
async def whoami(user: Viewer) -> dict[str, Any]:
    return {"name": user.name, "role": user.role.value, "csrf": user.csrf_token}


@probes.get("/_test/admin")
async def admin_only(user: Admin) -> dict[str, Any]:
    return {"name": user.name}


@probes.post("/_test/bump")
async def bump(request: Request, _user: Responder, _csrf: CsrfChecked) -> dict[str, Any]:
    request.app.state.bumps += 1
    return {"bumps": request.app.state.bumps}


@pytest.fixture
def app(container: Container) -> FastAPI:
    """The real app plus a few probe routes that use the session dependencies."""
    made = create_app(container, run_sweeper=False, dispatch=False)
    made.include_router(probes)
    made.state.bumps = 0
    return made


@pytest.fixture
def web(app: FastAPI, client_factory: ClientFactory) -> TestClient:
    return client_factory(app=app, follow_redirects=False)


def session_cookie(response: Any) -> str:
    found = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}=")]
    assert len(found) == 1, response.headers
    return str(found[0])


def post_login(client: TestClient, name: str, password: str, **extra: str) -> Any:
    page = client.get("/login")
    form = {"name": name, "password": password, "csrf_token": csrf_from(page.text), **extra}
    return client.post("/login", data=form, follow_redirects=False)


def session_rows(container: Container) -> list[Any]:
    with container.db.engine.connect() as conn:
        return list(conn.execute(sa.select(web_sessions)).mappings())


# -- signing in ---------------------------------------------------------------------------------------------


def test_sign_in_sets_an_http_only_lax_session_cookie(web: TestClient, web_users: WebUsers) -> None:
    name, password = web_users[Role.RESPONDER]
    page = web.get("/login")
    assert page.status_code == 200
    assert 'autocomplete="username"' in page.text
    assert 'autocomplete="current-password"' in page.text
    assert '<label for="login-name">' in page.text
    assert "<script" not in page.text
    assert "style=" not in page.text
    login_cookie = next(h for h in page.headers.get_list("set-cookie") if h.startswith("siaga_login_csrf="))
    assert "httponly" in login_cookie.lower()

    response = web.post(
        "/login", data={"name": name, "password": password, "csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = session_cookie(response).lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/" in cookie
    assert "max-age=43200" in cookie
    assert "secure" not in cookie  # plain HTTP: a Secure cookie would never come back

    me = web.get("/_test/whoami")
    assert me.status_code == 200
    assert me.json()["name"] == name
    assert me.json()["role"] == "responder"


def test_over_https_the_cookie_is_secure(
    app: FastAPI, client_factory: ClientFactory, web_users: WebUsers
) -> None:
    client = client_factory(app=app, base_url="https://testserver", follow_redirects=False)
    name, password = web_users[Role.VIEWER]
    response = post_login(client, name, password)
    assert response.status_code == 303
    assert "; secure" in session_cookie(response).lower()
    assert client.get("/_test/whoami").status_code == 200


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(
    web: TestClient, web_users: WebUsers, container: Container
) -> None:
    name, _password = web_users[Role.ADMIN]
    wrong = post_login(web, name, "not the password at all")
    unknown = post_login(web, "nobody-here", "not the password at all")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "Wrong name or password." in response.text
        assert not [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}=")]
    assert wrong.text.replace(name, "X") == unknown.text.replace("nobody-here", "X")
    assert session_rows(container) == []
    assert web.get("/_test/whoami").status_code == 303


def test_the_sixth_failure_is_refused_without_checking_the_password(
    web: TestClient, web_users: WebUsers, clock: ManualClock
) -> None:
    name, password = web_users[Role.VIEWER]
    for _ in range(5):
        assert post_login(web, name, "wrong password!").status_code == 401
    limited = post_login(web, name, "wrong password!")
    assert limited.status_code == 429
    assert "Too many attempts; try again in 5 minutes." in limited.text
    assert limited.headers["retry-after"] == "300"
    right = post_login(web, name, password)
    assert right.status_code == 429  # even the right password, while limited
    assert web.get("/_test/whoami").status_code == 303

    clock.advance(timedelta(minutes=5, seconds=1))
    assert post_login(web, name, password).status_code == 303
    assert web.get("/_test/whoami").status_code == 200


def test_one_client_gets_twenty_failures_whatever_the_names(web: TestClient, web_users: WebUsers) -> None:
    for i in range(20):
        assert post_login(web, f"guess-{i}", "wrong password!").status_code == 401
    name, password = web_users[Role.VIEWER]
    assert post_login(web, name, password).status_code == 429


def test_the_attempt_limiter_slides() -> None:
    limiter = AttemptLimiter(window=timedelta(minutes=5), per_name=2, per_client=3)
    minute = timedelta(minutes=1)
    limiter.failed("10.0.0.1", "ana", T0)
    limiter.failed("10.0.0.1", "ana", T0 + 2 * minute)
    assert limiter.retry_after("10.0.0.1", "ana", T0 + 3 * minute) == 2 * minute
    assert limiter.retry_after("10.0.0.1", "budi", T0 + 3 * minute) is None
    assert limiter.retry_after("10.0.0.2", "ana", T0 + 3 * minute) is None  # another client
    limiter.failed("10.0.0.1", "budi", T0 + 3 * minute)
    assert limiter.retry_after("10.0.0.1", "citra", T0 + 4 * minute) == minute  # the client's three
    assert limiter.retry_after("10.0.0.1", "ana", T0 + 5 * minute) is None  # the first one slid out

    fresh = AttemptLimiter(window=timedelta(minutes=5), per_name=2, per_client=3)
    for _ in range(2):
        fresh.failed("10.0.0.1", "ana", T0)
    fresh.succeeded("10.0.0.1", "ana")  # clears the name's failures from that client ...
    assert fresh.retry_after("10.0.0.1", "ana", T0) is None
    fresh.failed("10.0.0.1", "budi", T0)
    assert fresh.retry_after("10.0.0.1", "ana", T0) == 5 * minute  # ... but not the client's total


def test_the_sign_in_form_needs_its_csrf_token(
    web: TestClient, web_users: WebUsers, container: Container
) -> None:
    name, password = web_users[Role.ADMIN]
    page = web.get("/login")
    token = csrf_from(page.text)
    missing = web.post("/login", data={"name": name, "password": password})
    wrong = web.post("/login", data={"name": name, "password": password, "csrf_token": token + "x"})
    for response in (missing, wrong):
        assert response.status_code == 403
        assert "expired" in response.text
    web.cookies.clear()  # the field alone, without the cookie it must match
    no_cookie = web.post("/login", data={"name": name, "password": password, "csrf_token": token})
    assert no_cookie.status_code == 403
    assert session_rows(container) == []


def test_signing_in_again_replaces_the_session(
    web: TestClient, web_users: WebUsers, container: Container
) -> None:
    sign_in(web, *web_users[Role.VIEWER])
    first = web.cookies[COOKIE]
    assert web.get("/login").status_code == 200  # signed in, the form is still there (to switch users)
    sign_in(web, *web_users[Role.ADMIN])
    assert web.cookies[COOKIE] != first
    assert [row["id"] for row in session_rows(container)] == [users.session_id(web.cookies[COOKIE])]
    assert web.get("/_test/whoami").json()["name"] == "web-admin"


# -- pages and roles ----------------------------------------------------------------------------------------


def test_a_page_without_a_session_redirects_to_sign_in(web: TestClient) -> None:
    response = web.get("/_test/whoami?x=1&y=2")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/_test/whoami%3Fx%3D1%26y%3D2"
    page = web.get(response.headers["location"])
    assert 'name="next" value="/_test/whoami?x=1&amp;y=2"' in page.text


def test_a_lower_role_gets_the_not_allowed_page(web: TestClient, web_users: WebUsers) -> None:
    sign_in(web, *web_users[Role.RESPONDER])
    response = web.get("/_test/admin")
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "Not allowed" in response.text
    assert "admin role" in response.text
    assert "web-responder (responder)" in response.text  # the layout shows who is signed in
    assert sign_in(web, *web_users[Role.ADMIN]).get("/_test/admin").status_code == 200


def test_next_is_followed_only_within_the_site(web: TestClient, web_users: WebUsers) -> None:
    name, password = web_users[Role.VIEWER]
    for target, expected in [
        ("//evil.example", "/"),
        ("//evil.example/path", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/incidents?status=open", "/incidents?status=open"),
    ]:
        web.cookies.clear()
        response = post_login(web, name, password, next=target)
        assert response.status_code == 303, target
        assert response.headers["location"] == expected, target
    assert safe_next("/login") == "/"
    assert safe_next("/ok\r\nSet-Cookie: x=1") == "/"


# -- CSRF on forms ------------------------------------------------------------------------------------------


def test_a_form_post_without_the_right_csrf_token_is_refused_and_changes_nothing(
    app: FastAPI, web: TestClient, web_users: WebUsers
) -> None:
    sign_in(web, *web_users[Role.RESPONDER])
    token = web.get("/_test/whoami").json()["csrf"]
    for refused in (
        web.post("/_test/bump", data={"note": "hi"}),
        web.post("/_test/bump", data={"csrf_token": "not-the-token"}),
        web.post("/_test/bump", headers={"X-CSRF-Token": token[:-1]}),
        web.post("/logout"),
        web.post("/logout", data={"csrf_token": ""}),
    ):
        assert refused.status_code == 403
        assert "did not come from this site" in refused.text
    assert app.state.bumps == 0
    assert web.get("/_test/whoami").status_code == 200  # the refused sign-out did not sign out

    assert web.post("/_test/bump", data={"csrf_token": token}).json() == {"bumps": 1}
    assert web.post("/_test/bump", headers={"X-CSRF-Token": token}).json() == {"bumps": 2}


def test_a_form_post_without_a_session_goes_to_sign_in(app: FastAPI, web: TestClient) -> None:
    response = web.post("/_test/bump", data={"csrf_token": "whatever"})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert app.state.bumps == 0


# -- sign-out, expiry, disabled users -----------------------------------------------------------------------


def test_sign_out_ends_the_session(
    app: FastAPI, web: TestClient, client_factory: ClientFactory, web_users: WebUsers, container: Container
) -> None:
    sign_in(web, *web_users[Role.VIEWER])
    secret = web.cookies[COOKIE]
    token = web.get("/_test/whoami").json()["csrf"]
    response = web.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert (
        session_cookie(response).startswith(f'{COOKIE}=""') or "max-age=0" in session_cookie(response).lower()
    )
    assert session_rows(container) == []

    replay = client_factory(app=app, follow_redirects=False)
    assert replay.get("/_test/whoami", headers={"Cookie": f"{COOKIE}={secret}"}).status_code == 303


def test_a_session_expires_after_twelve_hours(
    web: TestClient, web_users: WebUsers, clock: ManualClock
) -> None:
    sign_in(web, *web_users[Role.VIEWER])
    clock.advance(timedelta(hours=11, minutes=59))
    assert web.get("/_test/whoami").status_code == 200
    clock.advance(timedelta(hours=1, minutes=1))
    response = web.get("/_test/whoami")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_expired_sessions_are_dropped_when_new_ones_open(
    web: TestClient, web_users: WebUsers, clock: ManualClock, container: Container
) -> None:
    sign_in(web, *web_users[Role.VIEWER])
    clock.advance(timedelta(hours=13))
    web.cookies.clear()
    sign_in(web, *web_users[Role.ADMIN])
    assert [row["expires_at"] for row in session_rows(container)] == [clock.now() + timedelta(hours=12)]


def test_last_seen_is_written_at_most_once_a_minute(
    web: TestClient, web_users: WebUsers, clock: ManualClock, container: Container
) -> None:
    sign_in(web, *web_users[Role.VIEWER])
    start = clock.now()
    clock.advance(timedelta(seconds=30))
    web.get("/_test/whoami")
    assert session_rows(container)[0]["last_seen_at"] == start
    clock.advance(timedelta(seconds=31))
    web.get("/_test/whoami")
    assert session_rows(container)[0]["last_seen_at"] == clock.now()


def test_a_disabled_users_session_stops_working(
    web: TestClient, web_users: WebUsers, container: Container, clock: ManualClock
) -> None:
    name, password = web_users[Role.ADMIN]
    sign_in(web, name, password)
    secret = web.cookies[COOKIE]
    users.disable(uow=container.db, name=name, now=clock.now())
    assert web.get("/_test/whoami").status_code == 303
    assert users.session_user(uow=container.db, secret=secret, now=clock.now()) is None
    web.cookies.clear()
    assert post_login(web, name, password).status_code == 401
    assert [u["disabled_at"] for u in users.list_users(uow=container.db) if u["name"] == name] == [
        clock.now()
    ]


def test_a_disabled_users_session_row_alone_does_not_sign_in(
    container: Container, web_users: WebUsers, clock: ManualClock
) -> None:
    name, password = web_users[Role.VIEWER]
    user = users.authenticate(uow=container.db, name=name, password=password, now=clock.now())
    assert user is not None
    secret, _csrf = users.open_session(uow=container.db, user=user, now=clock.now())
    with container.db.transaction() as store:  # disabled behind the service's back: sessions still there
        store.update_user(user.id, {"disabled_at": clock.now()})
    assert users.session_user(uow=container.db, secret=secret, now=clock.now()) is None


# -- what is stored -----------------------------------------------------------------------------------------


def test_only_argon2id_hashes_and_session_digests_are_stored(
    web: TestClient, web_users: WebUsers, container: Container
) -> None:
    sign_in(web, *web_users[Role.RESPONDER])
    secret = web.cookies[COOKIE]
    with container.db.engine.connect() as conn:
        stored = list(conn.execute(sa.select(users_table)).mappings())
        sessions = list(conn.execute(sa.select(web_sessions)).mappings())
    assert len(stored) == 3
    dump = repr(stored) + repr(sessions)
    for _name, password in web_users.values():
        assert password not in dump
    assert all(row["password_hash"].startswith("$argon2id$") for row in stored)
    assert secret not in dump
    assert [row["id"] for row in sessions] == [users.session_id(secret)]


def test_the_default_parameters_are_argon2id_and_old_hashes_are_upgraded(
    container: Container, monkeypatch: pytest.MonkeyPatch, clock: ManualClock
) -> None:
    users.create(uow=container.db, name="ana", password="an old password", role=Role.VIEWER, now=clock.now())
    monkeypatch.setattr(users, "HASHER", PasswordHasher())  # the production defaults
    assert users.authenticate(uow=container.db, name="ana", password="an old password", now=clock.now())
    with container.db.read() as store:
        row = store.user_by_name("ana")
    assert row is not None
    assert row["password_hash"].startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert users.authenticate(uow=container.db, name="ana", password="an old password", now=clock.now())
    assert (
        users.authenticate(uow=container.db, name="ana", password="An old password", now=clock.now()) is None
    )


@pytest.mark.parametrize(
    ("name", "password", "fragment"),
    [
        ("Ana", "long enough pw", "must be 1-64"),
        ("", "long enough pw", "must be 1-64"),
        ("a" * 65, "long enough pw", "must be 1-64"),
        ("ana\n", "long enough pw", "must be 1-64"),
        ("ana smith", "long enough pw", "must be 1-64"),
        ("ana", "short", "at least 10"),
    ],
)
def test_bad_names_and_short_passwords_are_refused(
    container: Container, name: str, password: str, fragment: str
) -> None:
    with pytest.raises(users.UserError, match=fragment):
        users.create(uow=container.db, name=name, password=password, role=Role.VIEWER, now=T0)


def test_a_name_is_taken_once(container: Container, web_users: WebUsers) -> None:
    name, _password = web_users[Role.VIEWER]
    with pytest.raises(users.UserError, match="already exists"):
        users.create(uow=container.db, name=name, password="another password", role=Role.ADMIN, now=T0)
    with pytest.raises(users.UserError, match="no user named"):
        users.disable(uow=container.db, name="nobody", now=T0)


# -- the API ------------------------------------------------------------------------------------------------


def test_the_api_takes_bearer_tokens_and_not_the_session_cookie(
    web: TestClient, web_users: WebUsers, tokens_by_role: dict[str, str]
) -> None:
    sign_in(web, *web_users[Role.ADMIN])
    assert web.get("/_test/whoami").status_code == 200
    assert web.get("/api/v1/incidents").status_code == 401
    response = web.get("/api/v1/incidents", headers=bearer(tokens_by_role["viewer"]))
    assert response.status_code == 200
