"""The public status page from real stored data, on both engines: only public services (a private one, even
one a public service depends on, is never named), states in public wording, 90 daily uptime bars from the
hour rollups, incidents with their public updates only, announced maintenance, the JSON, badges, the Atom
feed; all without signing in, with the security headers, and without a secret in sight."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from fastapi.testclient import TestClient

from siaga.adapters.clock import ManualClock
from siaga.adapters.db.engine import Database
from siaga.api.app import create_app
from siaga.api.headers import SECURITY_HEADERS
from siaga.bootstrap import Container
from siaga.integrations.probes.base import ProbeResult
from siaga.services import checks, tokens
from siaga.services.checks import Run
from siaga.services.policy import Policy
from siaga.settings import Settings
from siaga.spec import Spec
from tests.conftest import SPEC_ENV, T0, bearer
from tests.e2e.cli_helpers import cli_env, siaga
from tests.integration.checks.conftest import HEAD, make_spec

SERVICES = """
services:
  shop:
    description: The web shop & checkout
    public: true
    labels: {team: checkout-crew}
    checks:
      - name: health
        http: {url: "http://127.0.0.1:1/health", bearer_token: "${PAGERDUTY_ROUTING_KEY}"}
        severity: SEV-2
  api:
    description: Public API
    public: true
    depends_on: [ledger-vault]
    checks:
      - {name: port, tcp: {host: 127.0.0.1, port: 2}, severity: SEV-3}
  ledger-vault:
    description: Internal ledger secrets
    checks:
      - {name: port, tcp: {host: 127.0.0.1, port: 3}, severity: SEV-1}
"""
EXTRA = """
people:
  andi: {email: andi@shop.example}
channels:
  alerts: {type: slack, webhook_url: "${SLACK_ALERTS_URL}"}
routes:
  - notify: [alerts, andi]
maintenance:
  - name: monthly-patching
    every: "first sunday of month 02:00-04:00"
    services: ["*"]
    announce_before: 7d
"""
PRIVATE = ("ledger-vault", "ledger", "Internal ledger secrets")
INTERNAL = ("checkout-crew", "andi", "t-responder", "127.0.0.1", "root cause", "SLACK", "bearer")
# 2026-01-02 10:00-12:00 WIB (03:00-05:00 UTC): two failed hours on shop's health check.
DOWN_HOURS = (datetime(2026, 1, 2, 3, tzinfo=UTC), datetime(2026, 1, 2, 4, tzinfo=UTC))
FIRST_MIDNIGHT = datetime(2025, 10, 7, 17, tzinfo=UTC)  # 2025-10-08 00:00 WIB, 89 days before T0's day


@dataclass
class Page:
    wired: Container
    client: TestClient
    db_url: str
    spec_path: Path
    incident_id: int
    private_incident_id: int


def _container(db: Database, clock: ManualClock, tmp_path: Path, spec: Spec) -> Container:
    settings = Settings(
        data_dir=tmp_path, database_url=str(db.engine.url), config_path=tmp_path / "siaga.yaml"
    )
    return Container(settings=settings, db=db, clock=clock, spec=spec, policy=Policy.from_spec(spec))


def _hour_rows(
    check_id: int, start: datetime, end: datetime, down: tuple[datetime, ...]
) -> list[dict[str, Any]]:
    rows = []
    at = start
    while at < end:
        histogram = [0] * 12
        histogram[4] = 60
        rows.append(
            {
                "check_id": check_id,
                "start": at,
                "count": 60,
                "failures": 60 if at in down else 0,
                "degraded": 0,
                "latency_sum": 3.0,
                "histogram": histogram,
            }
        )
        at += timedelta(hours=1)
    return rows


@pytest.fixture
def page(db: Database, db_url: str, clock: ManualClock, tmp_path: Path) -> Iterator[Page]:
    spec = make_spec(SERVICES, EXTRA, env=SPEC_ENV)
    spec_path = tmp_path / "siaga.yaml"
    spec_path.write_text(HEAD + SERVICES + EXTRA)
    wired = _container(db, clock, tmp_path, spec)
    plan = wired.check_plan()
    ids = {check.key: check.id for check in plan.checks}
    with wired.db.transaction() as store:
        store.insert_rollups("hour", _hour_rows(ids["shop/health"], FIRST_MIDNIGHT, T0, DOWN_HOURS))
    failed = ProbeResult(ok=False, latency=0.01, error="connection refused")
    runs = [
        Run(ids["shop/health"], T0, failed),
        Run(ids["api/port"], T0, ProbeResult(ok=True, latency=0.002)),
        Run(ids["ledger-vault/port"], T0, failed),
    ]
    recorded = checks.record(uow=wired.db, policy=wired.policy, plan=plan, runs=runs, now=T0)
    assert sorted(recorded.fired) == ["ledger-vault/port", "shop/health"]
    with wired.db.read() as store:
        [incident] = store.incidents(service="shop")
        [private] = store.incidents(service="ledger-vault")
    app = create_app(wired, run_sweeper=False, watch_spec=False, dispatch=False)
    with TestClient(app) as client:
        responder = bearer(
            tokens.create(uow=wired.db, name="t-responder", role=tokens.Role("responder"), now=T0)
        )
        for incident_id, text, public in [
            (incident["id"], "We are investigating failed checkouts.", True),
            (incident["id"], "root cause: andi rotated the payment key", False),
            (private["id"], "ledger-vault public note", True),  # public, but of a private service
        ]:
            clock.advance(timedelta(minutes=1))
            body: dict[str, Any] = {"text": text, "public": True} if public else {"text": text}
            answer = client.post(f"/api/v1/incidents/{incident_id}/notes", json=body, headers=responder)
            assert answer.status_code == 200, answer.text
        yield Page(wired, client, db_url, spec_path, int(incident["id"]), int(private["id"]))


def _no_leaks(text: str) -> None:
    for secret in SPEC_ENV.values():
        assert secret not in text
    for word in (*PRIVATE, *INTERNAL):
        assert word not in text, word


def test_status_json_shows_public_components_states_and_uptime(page: Page) -> None:
    answer = page.client.get("/status.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    data = answer.json()
    assert set(data) == {
        "project",
        "timezone",
        "generated_at",
        "status",
        "components",
        "incidents",
        "maintenance",
    }
    assert (data["project"], data["timezone"]) == ("checks-test", "Asia/Jakarta")
    assert data["status"] == {"state": "major_outage", "text": "Major outage"}
    shop, api = data["components"]
    assert {k: shop[k] for k in ("name", "description", "state", "state_text")} == {
        "name": "shop",
        "description": "The web shop & checkout",
        "state": "major_outage",
        "state_text": "major outage",
    }
    # api is healthy itself, but the private service it depends on is down: a partial outage, unnamed.
    assert (api["name"], api["state"], api["state_text"]) == ("api", "partial_outage", "partial outage")
    assert set(api) == set(shop) == {"name", "description", "state", "state_text", "uptime_percent", "days"}

    assert len(shop["days"]) == 90
    assert (shop["days"][0]["date"], shop["days"][-1]["date"]) == ("2025-10-08", "2026-01-05")
    days = {day["date"]: day for day in shop["days"]}
    assert days["2026-01-02"] == {
        "date": "2026-01-02",
        "uptime_percent": round(22 / 24 * 100, 3),
        "down_minutes": 120.0,
        "maintenance_minutes": 0.0,
    }
    # The E1 window (first Sunday, 02:00-04:00 WIB) counts neither way.
    assert days["2026-01-04"]["maintenance_minutes"] == 120.0
    assert days["2026-01-04"]["uptime_percent"] == 100.0
    assert days["2025-12-25"]["uptime_percent"] == 100.0
    hours = 89 * 24 + 15 - 2 * 3  # three first Sundays of 2 hours in maintenance: Nov 2, Dec 7, Jan 4
    assert shop["uptime_percent"] == round((hours - 2) / hours * 100, 3)
    assert all(day["uptime_percent"] is None for day in api["days"])  # no rollups yet
    assert api["uptime_percent"] is None
    _no_leaks(answer.text)


def test_incidents_carry_only_public_updates_of_public_services(page: Page) -> None:
    data = page.client.get("/status.json").json()
    [incident] = data["incidents"]
    assert incident == {
        "id": page.incident_id,
        "title": "shop: check health failing: connection refused",
        "service": "shop",
        "status": "triggered",
        "status_text": "investigating",
        "severity": "SEV-2",
        "opened_at": "2026-01-05T08:00:00+00:00",
        "resolved_at": None,
        "updated_at": "2026-01-05T08:01:00+00:00",
        "updates": [{"at": "2026-01-05T08:01:00+00:00", "text": "We are investigating failed checkouts."}],
    }
    # The internal API still shows every note, the public one marked.
    token = tokens.create(uow=page.wired.db, name="viewer", role=tokens.Role("viewer"), now=T0)
    shown = page.client.get(f"/api/v1/incidents/{page.incident_id}", headers=bearer(token)).json()
    notes = [(e["message"], e["data"]) for e in shown["timeline"] if e["kind"] == "note"]
    assert notes == [
        ("We are investigating failed checkouts.", {"public": True}),
        ("root cause: andi rotated the payment key", None),
    ]


def test_resolved_incidents_stay_for_seven_days(page: Page, clock: ManualClock) -> None:
    token = tokens.create(uow=page.wired.db, name="r2", role=tokens.Role("responder"), now=T0)
    page.client.post(f"/api/v1/incidents/{page.incident_id}/resolve", headers=bearer(token))
    [incident] = page.client.get("/status.json").json()["incidents"]
    assert (incident["status"], incident["status_text"]) == ("resolved", "resolved")
    assert incident["resolved_at"] == incident["updated_at"] == "2026-01-05T08:03:00+00:00"
    clock.advance(timedelta(days=7))  # 7 days to the minute: still shown
    assert len(page.client.get("/status.json").json()["incidents"]) == 1
    clock.advance(timedelta(minutes=1))
    assert page.client.get("/status.json").json()["incidents"] == []


def test_html_page_shows_components_bars_and_public_updates(page: Page) -> None:
    answer = page.client.get("/status")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    text = answer.text
    assert "checks-test status" in text
    assert "Major outage" in text
    assert 'id="component-shop"' in text
    assert 'id="component-api"' in text
    assert '<span class="state state-major_outage">major outage</span>' in text
    assert '<span class="state state-partial_outage">partial outage</span>' in text
    assert "The web shop &amp; checkout" in text  # escaped
    assert text.count("<rect ") == 180  # 90 days for each of the two components
    # The down day: red, with its tooltip; a day without data is grey.
    assert '<rect x="445"' in text  # 90 bars, 5 apart: the last one at 445
    assert '<rect x="450"' not in text
    assert 'fill="#cf222e"><title>2026-01-02: 91.667% uptime, 120 min down</title>' in text
    assert 'fill="#1a7f37"><title>2026-01-03: 100% uptime</title>' in text
    assert 'fill="#d0d7de"><title>2026-01-02: no data</title>' in text
    assert "shop: check health failing: connection refused" in text
    assert "We are investigating failed checkouts." in text
    assert "2026-01-05 15:01" in text  # the update's time in the project time zone
    assert 'href="/status/feed.atom"' in text
    assert "<script" not in text
    assert "style=" not in text  # the CSP forbids inline styles
    _no_leaks(text)


def test_badges_for_public_services_only(page: Page) -> None:
    answer = page.client.get("/status/badge/shop.svg")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/svg+xml"
    svg = ET.fromstring(answer.text)  # noqa: S314 - our own output
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert texts == ["shop", "major outage"]
    assert 'fill="#cf222e"' in answer.text
    api = page.client.get("/status/badge/api.svg").text
    assert "partial outage" in api
    assert "ledger" not in api
    for unknown in ("ledger-vault", "nothing", "shop.svg"):
        missing = page.client.get(f"/status/badge/{unknown}.svg")
        assert missing.status_code == 404
        assert missing.json() == {"detail": "no such public service"}


def test_atom_feed_parses_and_has_the_incident(page: Page) -> None:
    answer = page.client.get("/status/feed.atom")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/atom+xml; charset=utf-8"
    atom = "{http://www.w3.org/2005/Atom}"
    feed = ET.fromstring(answer.content)  # noqa: S314 - our own output
    assert feed.tag == f"{atom}feed"
    assert feed.findtext(f"{atom}id") == "tag:testserver,2026:siaga/checks-test/status"
    assert feed.findtext(f"{atom}updated") == "2026-01-05T08:01:00Z"
    assert feed.findtext(f"{atom}author/{atom}name") == "checks-test"
    [entry] = feed.findall(f"{atom}entry")
    assert (
        entry.findtext(f"{atom}id")
        == f"tag:testserver,2026-01-05:siaga/checks-test/incident/{page.incident_id}"
    )
    assert entry.findtext(f"{atom}title") == "[investigating] shop: check health failing: connection refused"
    assert entry.findtext(f"{atom}published") == "2026-01-05T08:00:00Z"
    assert entry.findtext(f"{atom}updated") == "2026-01-05T08:01:00Z"
    link = entry.find(f"{atom}link")
    assert link is not None
    assert link.get("href") == f"http://testserver/status#incident-{page.incident_id}"
    content = entry.find(f"{atom}content")
    assert content is not None
    assert content.get("type") == "html"
    assert "We are investigating failed checkouts." in (content.text or "")
    _no_leaks(answer.text)


def test_announced_and_running_maintenance(page: Page, clock: ManualClock) -> None:
    # At T0 (Monday 5 January) the January window is over and February's is not announced yet.
    assert page.client.get("/status.json").json()["maintenance"] == []
    clock.advance(datetime(2026, 1, 25, 19, tzinfo=UTC) - clock.now())  # 6 days ahead of it
    data = page.client.get("/status.json").json()
    assert data["maintenance"] == [
        {
            "name": "monthly-patching",
            "starts_at": "2026-01-31T19:00:00+00:00",  # Sunday 1 February 02:00 WIB
            "ends_at": "2026-01-31T21:00:00+00:00",
            "services": ["shop", "api"],  # '*', but only the public ones
            "in_progress": False,
        }
    ]
    text = page.client.get("/status").text
    assert "monthly-patching" in text
    assert "2026-02-01 02:00 \u2013 04:00 (Asia/Jakarta)" in text
    assert "scheduled" in text
    clock.advance(datetime(2026, 1, 31, 19, 30, tzinfo=UTC) - clock.now())
    data = page.client.get("/status.json").json()
    assert [w["in_progress"] for w in data["maintenance"]] == [True]
    assert [c["state"] for c in data["components"]] == ["under_maintenance", "under_maintenance"]
    assert "in progress" in page.client.get("/status").text


def test_open_to_all_with_security_headers(page: Page) -> None:
    for path in ("/status", "/status.json", "/status/badge/shop.svg", "/status/feed.atom"):
        answer = page.client.get(path)  # no Authorization header, no session
        assert answer.status_code == 200, path
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers[name] == value, (path, name)
        _no_leaks(answer.text)


def test_a_page_without_public_services(db: Database, clock: ManualClock, tmp_path: Path) -> None:
    spec = make_spec("services:\n  hidden: {description: secret thing}\n")
    app = create_app(
        _container(db, clock, tmp_path, spec), run_sweeper=False, watch_spec=False, dispatch=False
    )
    with TestClient(app) as client:
        data = client.get("/status.json").json()
        assert (data["status"], data["components"], data["incidents"]) == (
            {"state": "no_data", "text": "No data yet"},
            [],
            [],
        )
        assert "hidden" not in client.get("/status").text
        assert client.get("/status/badge/hidden.svg").status_code == 404
        assert (
            ET.fromstring(client.get("/status/feed.atom").content).findall(  # noqa: S314 - our own output
                "{http://www.w3.org/2005/Atom}entry"
            )
            == []
        )


def test_cli_note_public_reaches_the_page(page: Page, tmp_path: Path) -> None:
    env = cli_env(tmp_path / "cli", SIAGA_DATABASE_URL=page.db_url)
    for extra in (["--public"], []):
        text = "Fix deployed, watching." if extra else "internal: rolled back by hand"
        done = siaga(
            "incidents",
            "note",
            str(page.incident_id),
            text,
            *extra,
            "-c",
            page.spec_path,
            env=env,
            cwd=tmp_path,
        )
        assert done.code == 0, done
    data = page.client.get("/status.json").json()
    [incident] = data["incidents"]
    assert sorted(u["text"] for u in incident["updates"]) == [
        "Fix deployed, watching.",
        "We are investigating failed checkouts.",
    ]
    assert "rolled back" not in json.dumps(data)


def test_uptime_is_recomputed_at_most_every_five_minutes(page: Page, clock: ManualClock) -> None:
    def christmas() -> Any:
        [_shop, api] = page.client.get("/status.json").json()["components"]
        return next(day["uptime_percent"] for day in api["days"] if day["date"] == "2025-12-25")

    clock.advance(timedelta(minutes=10))  # a fresh 5-minute slot
    assert christmas() is None
    [check] = [c for c in page.wired.check_plan().checks if c.key == "api/port"]
    hour = datetime(2025, 12, 25, 5, tzinfo=UTC)  # 12:00 WIB
    with page.wired.db.transaction() as store:
        store.insert_rollups("hour", _hour_rows(check.id, hour, hour + timedelta(hours=1), (hour,)))
    assert christmas() is None  # the bars of this slot are kept
    clock.advance(timedelta(minutes=5))
    assert christmas() == 0.0
