"""Fixtures for the dashboard's tests: one user per role, clients over the real app, signing in.

    def test_page(signed_in_client):
        client = signed_in_client(Role.RESPONDER)      # GET /login + POST /login done
        page = client.get("/incidents")
        client.post("/incidents/1/ack", data={"csrf_token": csrf_from(page.text)})

Password hashing uses argon2id with its cheapest parameters here (the same code, a fraction of the time);
tests/integration/web/test_auth.py checks the real parameters separately.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any
from urllib.parse import quote

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from siaga.api.app import create_app
from siaga.bootstrap import Container
from siaga.services import users
from siaga.services.tokens import Role
from tests.conftest import T0

ClientFactory = Callable[..., TestClient]
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def web_users(container: Container) -> dict[Role, tuple[str, str]]:
    """One user per role, as {role: (name, password)} (keys compare equal to "viewer", ...)."""
    made: dict[Role, tuple[str, str]] = {}
    for role in Role:
        name, password = f"web-{role.value}", f"correct horse {role.value} staple"
        users.create(uow=container.db, name=name, password=password, role=role, now=T0)
        made[role] = (name, password)
    return made


@pytest.fixture
def client_factory(container: Container) -> Iterator[ClientFactory]:
    """`make(app=None, base_url="http://testserver", **kwargs)`: a started TestClient over ``app`` (default:
    a new `create_app(container, run_sweeper=False, dispatch=False)`), closed at teardown."""
    with ExitStack() as stack:

        def make(
            *, app: FastAPI | None = None, base_url: str = "http://testserver", **kwargs: Any
        ) -> TestClient:
            served = app if app is not None else create_app(container, run_sweeper=False, dispatch=False)
            return stack.enter_context(TestClient(served, base_url=base_url, **kwargs))

        yield make


def csrf_from(html: str) -> str:
    """The first `csrf_token` hidden field of a page (a signed-in page's is the session's token)."""
    match = _CSRF_FIELD.search(html)
    assert match is not None, "no csrf_token field on the page"
    return match.group(1)


def sign_in(client: TestClient, name: str, password: str, *, next_path: str | None = None) -> TestClient:
    """GET /login (which sets the login CSRF cookie), then POST the form; asserts the 303 and returns
    ``client``, whose cookie jar now holds the session."""
    page = client.get("/login" + (f"?next={quote(next_path, safe='/')}" if next_path else ""))
    assert page.status_code == 200, page.text
    form = {"name": name, "password": password, "csrf_token": csrf_from(page.text)}
    if next_path is not None:
        form["next"] = next_path
    response = client.post("/login", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


@pytest.fixture
def signed_in_client(
    client_factory: ClientFactory, web_users: dict[Role, tuple[str, str]]
) -> Callable[..., TestClient]:
    """`make(role=Role.VIEWER, **client_factory_kwargs)`: a new client signed in as that role's user."""

    def make(role: Role | str = Role.VIEWER, **kwargs: Any) -> TestClient:
        name, password = web_users[Role(role)]
        return sign_in(client_factory(**kwargs), name, password)

    return make
