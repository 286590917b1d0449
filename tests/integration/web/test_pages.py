"""The signed-in dashboard over real stored data, on both engines: every page for a viewer (and a redirect to
sign in without a session), a failing check's service shown down with its incident, a responder working an
incident through the forms, viewers and forms without the CSRF token refused, silences made and expired,
the post-mortem draft attached, charts as valid SVG, and no inline script or style anywhere."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from siaga.adapters.clock import ManualClock
from siaga.adapters.db.engine import Database
from siaga.api.app import create_app
from siaga.bootstrap import Container
from siaga.domain.slo import LATENCY_BOUNDS, histogram_index
from siaga.services import incidents
from siaga.services.policy import Policy
from siaga.services.tokens import Role
from siaga.settings import Settings
from siaga.web import charts
from tests.conftest import SPEC_ENV
from tests.integration.checks.conftest import make_spec, open_incidents, probe_and_record
from tests.integration.checks.targets import Behaviour, http_target
from tests.integration.web.conftest import ClientFactory, csrf_from, sign_in

SVG = "{http://www.w3.org/2000/svg}"
EXTRA = """
people:
  andi: {email: andi@shop.example}
  budi: {email: budi@shop.example}
schedules:
  devops: {rotation: weekly, handoff: "monday 09:00", members: [andi, budi]}
channels:
  ops-hook: {type: webhook, url: "${OPS_WEBHOOK_URL}"}
routes:
  - notify: [ops-hook]
maintenance:
  - name: monthly-patching
    every: "first sunday of month 02:00-04:00"
    services: [reports]
"""
PAGES = (
    "/",
    "/live/overview",
    "/services/shop",
    "/services/shop?range=30d",
    "/incidents",
    "/incidents?status=all&severity=SEV-1&service=shop",
    "/oncall",
    "/silences",
    "/silences?all=1",
    "/slos",
)


def _services(base: str) -> str:
    return f"""
services:
  shop:
    environment: production
    description: The web shop
    checks:
      - {{name: health, http: {{url: "{base}/health"}}, timeout: 2s, severity: SEV-1}}
    slos:
      - {{name: availability, objective: 99.5, window: 30d}}
      - {{name: fast, objective: 99.0, latency: {{percentile: 95, below: 1s}}, window: 30d}}
  storefront:
    environment: production
    depends_on: [shop]
    checks:
      - {{name: home, http: {{url: "{base}/home"}}, timeout: 2s}}
  reports:
    checks:
      - {{name: beat, heartbeat: {{period: 1d}}}}
"""


@dataclass
class Site:
    wired: Container
    target: Behaviour
    app: FastAPI
    clients: ClientFactory
    users: dict[Role, tuple[str, str]]

    def client(self, role: Role | None = None) -> TestClient:
        """A client that follows no redirects, signed in as `role`'s user (None: not signed in)."""
        made = self.clients(app=self.app, follow_redirects=False)
        if role is not None:
            sign_in(made, *self.users[role])
        return made

    def incident_id(self) -> int:
        [found] = [row for row in open_incidents(self.wired) if row["service"] == "shop"]
        return int(found["id"])


def _rollups(wired: Container, clock: ManualClock) -> None:
    """A day of minute rollups and 60 days of hour rollups for shop/health: 40 ms runs, a slow and failing
    hour yesterday."""
    [check] = [c for c in wired.check_plan().checks if c.key == "shop/health"]
    now = clock.now().replace(minute=0, second=0, microsecond=0)

    def row(start: Any, count: int, failures: int, latency: float) -> dict[str, Any]:
        histogram = [0] * (len(LATENCY_BOUNDS) + 1)
        histogram[histogram_index(latency)] = count
        return {
            "check_id": check.id,
            "start": start,
            "count": count,
            "failures": failures,
            "degraded": 0,
            "latency_sum": latency * count,
            "histogram": histogram,
        }

    minutes = [row(now - timedelta(minutes=m), 1, 0, 0.04) for m in range(1, 24 * 60, 7)]
    hours = [
        row(now - timedelta(hours=h), 60, 30 if h == 21 else 0, 3.0 if h == 21 else 0.04)
        for h in range(1, 60 * 24, 5)
    ]
    with wired.db.transaction() as store:
        store.insert_rollups("minute", minutes)
        store.insert_rollups("hour", hours)


@pytest.fixture
def site(
    db: Database,
    tmp_path: Path,
    clock: ManualClock,
    client_factory: ClientFactory,
    web_users: dict[Role, tuple[str, str]],
) -> Iterator[Site]:
    """shop's health check failing (an open SEV-1 incident), storefront depending on it, a heartbeat
    without an environment; rollups for the charts; the real app over it."""
    with http_target() as (base, target):
        spec = make_spec(_services(base), EXTRA, env=SPEC_ENV)
        settings = Settings(
            data_dir=tmp_path, database_url=str(db.engine.url), config_path=tmp_path / "x.yaml"
        )
        wired = Container(settings=settings, db=db, clock=clock, spec=spec, policy=Policy.from_spec(spec))
        probe_and_record(wired)
        _rollups(wired, clock)
        target.paths["/health"] = "error"
        clock.advance(timedelta(minutes=1))
        probe_and_record(wired)
        app = create_app(wired, run_sweeper=False, dispatch=False, watch_spec=False)
        yield Site(wired, target, app, client_factory, web_users)


def _timeline(site: Site, incident_id: int) -> list[tuple[str, str]]:
    found = incidents.get_incident(uow=site.wired.db, incident_id=incident_id)
    return [(event["kind"], event["message"]) for event in found["timeline"]]


def _assert_clean_html(html: str) -> None:
    """No inline script, no style attribute or element, every script served by Siaga."""
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert re.search(r'\ssrc="/static/[^"]+"', tag), tag
    assert all(not body.strip() for body in re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S)), (
        "inline"
    )
    assert not re.search(r"\sstyle\s*=", html, re.IGNORECASE), "style attribute"
    assert "<style" not in html
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html
    assert "Traceback" not in html


def _svgs(html: str) -> list[ET.Element]:
    found = re.findall(r"<svg\b.*?</svg>", html, re.DOTALL)
    return [ET.fromstring(text) for text in found]  # noqa: S314 - our own output


def test_every_page_renders_for_a_viewer_and_asks_others_to_sign_in(site: Site) -> None:
    incident_id = site.incident_id()
    pages = (
        *PAGES,
        f"/incidents/{incident_id}",
        f"/live/incidents/{incident_id}",
        f"/incidents/{incident_id}/postmortem",
    )
    viewer, stranger = site.client(Role.VIEWER), site.client()
    for path in pages:
        response = viewer.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert response.headers["content-type"].startswith("text/html")
        csp = response.headers["content-security-policy"]
        assert "unsafe-inline" not in csp
        assert "script-src 'self'" in csp
        _assert_clean_html(response.text)
        refused = stranger.get(path)
        assert refused.status_code == 303, path
        assert refused.headers["location"].startswith("/login"), path
    assert viewer.get("/settings").status_code == 403
    assert stranger.get("/settings").status_code == 303
    admin = site.client(Role.ADMIN)
    settings = admin.get("/settings")
    assert settings.status_code == 200
    _assert_clean_html(settings.text)
    assert "web-viewer" in settings.text  # the users table
    assert "active" in settings.text
    assert "$argon2" not in settings.text
    assert viewer.get("/services/nope").status_code == 404
    assert viewer.get("/incidents/999999").status_code == 404
    script = viewer.get("/static/siaga.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]


def test_a_failing_check_shows_its_service_down_and_its_incident(site: Site) -> None:
    incident_id = site.incident_id()
    viewer = site.client(Role.VIEWER)
    page = viewer.get("/").text
    shop = re.search(
        r'<li class="card service-card">\s*<a href="/services/shop">shop</a>\s*(.*?)</li>', page, re.S
    )
    assert shop is not None
    assert "state-down" in shop.group(1)
    storefront = re.search(r'href="/services/storefront">storefront</a>\s*(.*?)</li>', page, re.S)
    assert storefront is not None
    assert "state-impacted" in storefront.group(1)
    assert "impacted by shop" in storefront.group(1)
    assert "No environment" in page  # reports has none
    assert f'href="/incidents/{incident_id}"' in page  # under open incidents
    assert "SEV-1" in page
    assert "andi" in page  # on call
    live = viewer.get("/live/overview").text
    assert live.lstrip().startswith('<div id="overview-live"')
    assert 'data-live="/live/overview"' in live
    assert "state-down" in live
    listed = viewer.get("/incidents").text
    assert f"#{incident_id} " in listed
    assert "expected" in listed or "status" in listed
    assert f"#{incident_id} " not in viewer.get("/incidents?status=resolved").text
    service = viewer.get("/services/shop").text
    assert "state-down" in service
    assert f'href="/incidents/{incident_id}"' in service


def test_a_responder_works_an_incident_through_the_forms(site: Site) -> None:
    incident_id = site.incident_id()
    url = f"/incidents/{incident_id}"
    responder = site.client(Role.RESPONDER)
    page = responder.get(url).text
    assert ">Acknowledge</button>" in page
    token = csrf_from(page)

    def post(action: str, **fields: str) -> Any:
        return responder.post(f"{url}/{action}", data={"csrf_token": token, **fields})

    done = post("ack")
    assert (done.status_code, done.headers["location"]) == (303, url)
    done = post("note", text="rolled back the deploy <b>now</b>", public="1")
    assert (done.status_code, done.headers["location"]) == (303, url)
    assert post("assign", assignee="andi").status_code == 303
    assert post("resolve", reason="fixed by rollback").status_code == 303
    kinds = _timeline(site, incident_id)
    assert ("status", "acknowledged") in kinds
    assert ("note", "rolled back the deploy <b>now</b>") in kinds
    assert ("assign", "assigned to andi") in kinds
    assert ("status", "resolved: fixed by rollback") in kinds
    page = responder.get(url).text
    for shown in ("acknowledged", "assigned to andi", "resolved: fixed by rollback", "user:web-responder"):
        assert shown in page
    assert "rolled back the deploy &lt;b&gt;now&lt;/b&gt;" in page  # escaped, never markup
    assert "<b>now</b>" not in page
    assert "ops-hook" in page  # the notifications queued for it
    _assert_clean_html(page)

    # A refusal is shown on the page, with the status the API would give, and changes nothing.
    again = post("ack")
    assert again.status_code == 409
    assert 'role="alert"' in again.text
    assert "resolved" in again.text
    assert "Traceback" not in again.text
    empty = post("note", text="   ")
    assert empty.status_code == 422
    assert "please fill it in" in empty.text
    assert len(_timeline(site, incident_id)) == len(kinds)
    assert post("reopen").status_code == 303
    assert ("status", "reopened") in _timeline(site, incident_id)
    missing = responder.post("/incidents/999999/ack", data={"csrf_token": token})
    assert missing.status_code == 404


def test_viewers_see_no_actions_and_their_posts_are_refused(site: Site) -> None:
    incident_id = site.incident_id()
    viewer = site.client(Role.VIEWER)
    page = viewer.get(f"/incidents/{incident_id}").text
    assert ">Acknowledge</button>" not in page
    assert "<form" in page
    assert f'action="/incidents/{incident_id}/' not in page
    assert 'action="/silences"' not in viewer.get("/silences").text
    token = csrf_from(page)  # the sign-out form's: the session's own token
    before = _timeline(site, incident_id)
    for action, fields in (
        ("ack", {}),
        ("note", {"text": "hi"}),
        ("resolve", {}),
        ("postmortem", {"text": "x"}),
    ):
        refused = viewer.post(f"/incidents/{incident_id}/{action}", data={"csrf_token": token, **fields})
        assert refused.status_code == 403, action
    assert (
        viewer.post("/silences", data={"csrf_token": token, "matchers": "a=b", "comment": "x"}).status_code
        == 403
    )
    assert _timeline(site, incident_id) == before


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(site: Site) -> None:
    incident_id = site.incident_id()
    responder = site.client(Role.RESPONDER)
    before = _timeline(site, incident_id)
    assert responder.post(f"/incidents/{incident_id}/ack").status_code == 403
    assert responder.post(f"/incidents/{incident_id}/ack", data={"csrf_token": "forged"}).status_code == 403
    assert responder.post(f"/incidents/{incident_id}/note", data={"text": "sneaky"}).status_code == 403
    assert (
        responder.post("/silences", data={"matchers": "a=b", "comment": "x", "duration": "1h"}).status_code
        == 403
    )
    assert _timeline(site, incident_id) == before
    assert incidents.get_incident(uow=site.wired.db, incident_id=incident_id)["status"] == "triggered"
    assert "a=b" not in responder.get("/silences").text


def test_silences_are_made_and_expired_through_the_forms(site: Site) -> None:
    incident_id = site.incident_id()
    responder = site.client(Role.RESPONDER)
    page = responder.get("/silences?matcher=service%3Dshop").text
    assert "service=shop</textarea>" in page  # prefilled from the incident page's link
    token = csrf_from(page)
    form = {
        "csrf_token": token,
        "matchers": "service=shop\nseverity=~SEV-[12]",
        "comment": "failover drill",
        "duration": "2h",
        "until_resolved": str(incident_id),
    }
    made = responder.post("/silences", data=form)
    assert (made.status_code, made.headers["location"]) == (303, "/silences")
    page = responder.get("/silences").text
    assert "failover drill" in page
    assert "severity=~SEV-[12]" in page
    assert ">active<" in page
    bad = responder.post("/silences", data={**form, "matchers": "service=~(", "comment": "broken regex"})
    assert bad.status_code == 422
    assert 'role="alert"' in bad.text
    assert "broken regex" in bad.text  # the form keeps what was typed
    no_end = responder.post("/silences", data={**form, "duration": "", "comment": "forever"})
    assert no_end.status_code == 422
    unknown = responder.post("/silences", data={**form, "until_resolved": "999999", "comment": "ghost"})
    assert unknown.status_code == 404
    [silence_id] = re.findall(r'action="/silences/(\d+)/expire"', page)
    assert responder.post(f"/silences/{silence_id}/expire", data={"csrf_token": token}).status_code == 303
    assert "failover drill" not in responder.get("/silences").text
    assert ">expired<" in responder.get("/silences?all=1").text
    assert responder.post("/silences/999999/expire", data={"csrf_token": token}).status_code == 404
    maintenance = responder.get("/silences").text
    assert "monthly-patching" in maintenance
    assert "reports" in maintenance


def test_the_postmortem_draft_is_shown_edited_and_attached(site: Site) -> None:
    incident_id = site.incident_id()
    url = f"/incidents/{incident_id}/postmortem"
    responder = site.client(Role.RESPONDER)
    page = responder.get(url).text
    assert "# Post-mortem:" in page
    assert "<textarea" in page
    token = csrf_from(page)
    assert responder.post(url, data={"csrf_token": token, "text": "  "}).status_code == 422
    done = responder.post(url, data={"csrf_token": token, "text": "# What happened\n\n<script>x</script>"})
    assert (done.status_code, done.headers["location"]) == (303, f"/incidents/{incident_id}")
    shown = site.client(Role.VIEWER).get(url).text
    assert "# What happened" in shown
    assert "&lt;script&gt;x&lt;/script&gt;" in shown
    assert "<textarea" not in shown  # a viewer reads it only
    assert ("postmortem", "post-mortem attached") in _timeline(site, incident_id)


def test_the_charts_are_valid_svg(site: Site) -> None:
    viewer = site.client(Role.VIEWER)
    for path in ("/services/shop", "/services/shop?range=30d", "/slos", "/"):
        found = _svgs(viewer.get(path).text)
        assert found, path
        for svg in found:
            assert svg.tag == f"{SVG}svg"
            assert svg.get("role") == "img"
            assert svg.get("aria-label")
    service = _svgs(viewer.get("/services/shop").text)
    [bars] = [svg for svg in service if "uptime-bars" in (svg.get("class") or "")]
    rects = bars.findall(f"{SVG}rect")
    assert len(rects) == 90
    titles = [rect.findtext(f"{SVG}title") or "" for rect in rects]
    assert all(titles)
    assert any("no data" in title for title in titles)
    assert any("% up" in title for title in titles)
    colours = {rect.get("fill") for rect in rects}
    assert charts.UP in colours
    assert charts.DOWN in colours
    latency = [svg for svg in service if "latency-chart" in (svg.get("class") or "")]
    assert len(latency) == 1  # shop has one check
    assert any(svg.findall(f"{SVG}polyline") for svg in latency)
    burn = [svg for svg in _svgs(viewer.get("/slos").text) if "burn-chart" in (svg.get("class") or "")]
    assert len(burn) == 2
    assert all(svg.findall(f"{SVG}polyline") for svg in burn)

    # The pure functions, on their own: empty input, odd values, labels that need escaping.
    label = 'a <b> & "c"'
    drawn = [
        charts.uptime_bars([], label=label),
        charts.uptime_bars([charts.DayUptime(site.wired.clock.now().date(), 99.95, 2000, 1)], label=label),
        charts.latency_chart([], label=label),
        charts.latency_chart(
            [
                charts.LatencyPoint(site.wired.clock.now(), None, None),
                charts.LatencyPoint(site.wired.clock.now(), 0.02, 1.5),
            ],
            label=label,
        ),
        charts.budget_bar(None, label=label),
        charts.budget_bar(-0.4, label=label),
        charts.budget_bar(0.7, label=label),
        charts.burn_chart([], start=site.wired.clock.now(), end=site.wired.clock.now(), label=label),
        charts.burn_chart(
            [(site.wired.clock.now() - timedelta(days=1), 1.0), (site.wired.clock.now(), -0.5)],
            start=site.wired.clock.now() - timedelta(days=2),
            end=site.wired.clock.now(),
            label=label,
        ),
    ]
    for markup in drawn:
        parsed = ET.fromstring(str(markup))  # noqa: S314 - our own output
        assert parsed.get("role") == "img"
        assert parsed.get("aria-label", "").startswith(label)
        assert "<b>" not in str(markup)
