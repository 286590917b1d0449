"""Shared fixtures: both storage engines, the Luxima fragment as the spec, a manual clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from siaga.adapters.clock import ManualClock
from siaga.adapters.db import engine as db_engine
from siaga.adapters.db import migrate
from siaga.adapters.db.engine import Database
from siaga.adapters.db.tables import metadata
from siaga.api.app import create_app
from siaga.bootstrap import Container
from siaga.services import tokens
from siaga.services.policy import Policy
from siaga.settings import Settings
from siaga.spec import Spec, load_spec

ROOT = Path(__file__).resolve().parent.parent
FRAGMENT = ROOT / "tests" / "unit" / "spec" / "fragment.yaml"
SPEC_ENV = {
    "SLACK_ALERTS_URL": "http://127.0.0.1:1/slack-alerts",
    "SLACK_SECURITY_URL": "http://127.0.0.1:1/slack-security",
    "PAGERDUTY_ROUTING_KEY": "R0UT1NGKEY0000000000000000000000",
    "SMTP_URL": "smtp://127.0.0.1:1",
    "OPS_WEBHOOK_URL": "http://127.0.0.1:1/hook",
    "PAGERDUTY_API_URL": "http://127.0.0.1:1",  # never the real PagerDuty from a test or a benchmark
}
PG_ADMIN_URL = os.environ.get("SIAGA_TEST_PG_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test worker; dropped at the end."""
    name = f"siaga_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield db_engine.sqlite_url(tmp_path)
        return
    url: str = request.getfixturevalue("pg_database")
    yield url
    engine = db_engine.create(url)
    with engine.begin() as conn:
        names = ", ".join(table.name for table in metadata.sorted_tables)
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    engine = db_engine.create(db_url)
    migrate.upgrade(engine)
    database = Database(engine)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def spec() -> Spec:
    return load_spec(FRAGMENT, env=SPEC_ENV)


@pytest.fixture(scope="session")
def policy(spec: Spec) -> Policy:
    return Policy.from_spec(spec)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def container(db: Database, spec: Spec, policy: Policy, clock: ManualClock, tmp_path: Path) -> Container:
    settings = Settings(
        data_dir=tmp_path, database_url=str(db.engine.url), config_path=FRAGMENT, sweep_interval=3600
    )
    return Container(settings=settings, db=db, clock=clock, spec=spec, policy=policy)


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container, run_sweeper=False, dispatch=False)) as test_client:
        yield test_client


@pytest.fixture
def tokens_by_role(container: Container) -> dict[str, str]:
    return {
        role: tokens.create(uow=container.db, name=f"t-{role}", role=tokens.Role(role), now=T0)
        for role in ("viewer", "responder", "admin")
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
