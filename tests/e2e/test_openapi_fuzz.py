"""Schemathesis over Siaga's own OpenAPI document: no request, however odd, may make the server fail (5xx).

The fuzzed app is the real one (``create_app`` over a migrated SQLite database from the shared ``container``
fixture), called in-process through ASGI with an admin token so every operation is exercised past its
auth check. Two incidents are opened first so that small incident ids hit real rows.

Only "not a server error" is checked: the OpenAPI document FastAPI generates does not declare 401/403/404/409
responses, the text bodies of /metrics and the post-mortem, or the Allow header of a 405, so schemathesis's
conformance checks would report those instead of bugs.

``test_edge_inputs_get_no_server_error`` pins, as plain examples on both engines, the inputs that gave a 500
while this was written: one the fuzzer found on PostgreSQL (a NUL in a query parameter) and the ones found by
following it through the request schemas and the column definitions. They run deterministically every time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from siaga.adapters.clock import ManualClock
from siaga.adapters.db import engine as db_engine
from siaga.adapters.db.engine import Database
from siaga.api.app import create_app
from siaga.bootstrap import Container
from siaga.services.policy import Policy
from siaga.settings import Settings
from siaga.spec import load_spec
from tests.conftest import FRAGMENT, SPEC_ENV, T0, bearer

MAX_EXAMPLES = 30
# The schema allows 10,000 alerts per webhook; schemathesis sends that many, which takes seconds. Slowness is
# not what this test is about, so the request timeout is well above it.
CONFIG = schemathesis.Config.from_dict({"request-timeout": 60})


def openapi_document() -> dict[str, Any]:
    """GET /api/openapi.json from an app that is never started (the document does not touch the database)."""
    spec = load_spec(FRAGMENT, env=SPEC_ENV)
    container = Container(
        settings=Settings(data_dir=Path("."), database_url="sqlite://", config_path=FRAGMENT),
        db=Database(db_engine.create("sqlite://")),
        clock=ManualClock(T0),
        spec=spec,
        policy=Policy.from_spec(spec),
    )
    response = TestClient(create_app(container, run_sweeper=False)).get("/api/openapi.json")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


# Loaded at import, since `schema.parametrize()` needs the operations at collection time; the app each case
# is sent to is built per test from the fixtures below. (`schemathesis.pytest.from_fixture` would avoid the
# throwaway app, but its lazy loader sets `Node._nodeid`, which pytest 9.2 no longer has.)
schema = schemathesis.openapi.from_dict(openapi_document(), config=CONFIG)


def seed_alert(service: str, alertname: str, severity: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": alertname, "service": service, "severity": severity},
        "annotations": {"summary": f"{alertname} on {service}"},
    }


@pytest.fixture
def fuzz_app(container: Container, tokens_by_role: dict[str, str]) -> FastAPI:
    app = create_app(container, run_sweeper=False)
    with TestClient(app) as client:
        seeded = client.post(
            "/api/v1/alerts",
            json=[
                seed_alert("database", "DatabaseDown", "critical"),
                seed_alert("auth-api", "HighLatency", "P3"),
            ],
            headers=bearer(tokens_by_role["responder"]),
        )
        assert seeded.status_code == 200, seeded.text
    return app


@schema.parametrize()
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the time budget; PostgreSQL: below
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    # The app and its database deliberately live across all examples of an operation: state built up by
    # earlier examples (tokens, notes, resolved incidents) is what later ones should run into.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_generated_request_gets_a_server_error(
    case: schemathesis.Case, fuzz_app: FastAPI, tokens_by_role: dict[str, str]
) -> None:
    response = case.call_and_validate(
        app=fuzz_app, headers=bearer(tokens_by_role["admin"]), checks=[not_a_server_error]
    )
    assert response.status_code < 500, response.text


def am_webhook(**alert: Any) -> dict[str, Any]:
    labels = {"alertname": "DatabaseDown", "service": "database", "severity": "critical"}
    one = {"status": "firing", "labels": labels, "startsAt": "2026-01-05T07:58:00Z", **alert}
    return {"version": "4", "groupKey": "{}", "status": "firing", "receiver": "siaga", "alerts": [one]}


LONG = "x" * 300  # within the API's 4096-character label values, beyond the 200-character columns
EDGE_CASES: list[tuple[str, str, str, Any]] = [
    # Date-times without a zone: the API takes them, the storage layer refuses naive datetimes.
    ("since-naive-alert-log", "GET", "/api/v1/alerts?since=2026-01-05T08:00:00", None),
    ("since-naive-stats", "GET", "/api/v1/incidents/stats?since=2026-01-05T08:00:00", None),
    # Valid RFC 3339 instants whose UTC value lies past year 9999.
    (
        "ends-at-past-9999-utc",
        "POST",
        "/api/v1/alerts",
        [{"labels": {"alertname": "A"}, "ends_at": "9999-12-31T23:59:59-23:59"}],
    ),
    (
        "am-starts-at-past-9999-utc",
        "POST",
        "/api/v1/integrations/alertmanager",
        am_webhook(startsAt="9999-12-31T23:59:59-23:59"),
    ),
    # NUL characters: valid JSON and URL text; PostgreSQL refuses them in text and jsonb.
    ("nul-service-filter", "GET", "/api/v1/incidents?service=%00", None),
    ("nul-fingerprint-filter", "GET", "/api/v1/alerts?fingerprint=%00", None),
    ("nul-label-value", "POST", "/api/v1/alerts", [{"labels": {"alertname": "A", "pod": "a\u0000b"}}]),
    ("nul-note", "POST", "/api/v1/incidents/1/notes", {"text": "a\u0000b"}),
    ("nul-token-name", "DELETE", "/api/v1/tokens/%00", None),
    # Lengths the request schema accepts but the PostgreSQL columns do not.
    ("long-alertname", "POST", "/api/v1/alerts", [{"labels": {"alertname": LONG}}]),
    ("long-service", "POST", "/api/v1/alerts", [{"labels": {"alertname": "A", "service": LONG}}]),
    ("long-am-fingerprint", "POST", "/api/v1/integrations/alertmanager", am_webhook(fingerprint="f" * 129)),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), [c[1:] for c in EDGE_CASES], ids=[c[0] for c in EDGE_CASES]
)
def test_edge_inputs_get_no_server_error(
    client: TestClient, tokens_by_role: dict[str, str], method: str, path: str, body: Any
) -> None:
    admin = bearer(tokens_by_role["admin"])
    opened = client.post(
        "/api/v1/alerts", json=[seed_alert("database", "DatabaseDown", "critical")], headers=admin
    )
    assert opened.json()["opened"] == [1]
    response = client.request(method, path, json=body, headers=admin)
    assert response.status_code < 500, response.text
