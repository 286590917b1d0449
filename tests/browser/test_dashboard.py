"""The dashboard in a real browser: sign in, watch a failing check turn its service red and its incident
appear without a reload, work the incident, see it on the public status page; wrong passwords, viewers and
forged forms are refused. Screenshots of the main pages go to docs/screenshots/."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORDS, Site, sign_in

ROOT = Path(__file__).resolve().parents[2]
# `SIAGA_SCREENSHOTS=1 pytest tests/browser` refreshes the README's screenshots; otherwise they go to a
# temporary folder (the pages are still rendered and captured).
SHOTS = ROOT / "docs" / "screenshots" if os.environ.get("SIAGA_SCREENSHOTS") else Path(tempfile.mkdtemp())


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert (SHOTS / f"{name}.png").stat().st_size > 5_000


def test_a_failing_check_to_a_resolved_incident(page: Page, site: Site) -> None:
    sign_in(page, site, "responder")
    shop = page.locator(".service-card", has_text="shop")
    expect(shop.locator(".state-up")).to_be_visible(timeout=20_000)  # the live region catches the first runs
    _shot(page, "overview")

    site.target.mode = "error"  # no reload from here on: the page updates itself
    expect(shop.locator(".state-down")).to_be_visible(timeout=20_000)
    incident_link = page.locator("#overview-live a[href^='/incidents/']").first
    expect(incident_link).to_contain_text("health", timeout=20_000)
    _shot(page, "overview-incident")

    incident_link.click()
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("main")).to_contain_text("acknowledged")
    page.get_by_label("Note", exact=True).fill("Rolling back the 14:02 deploy")
    page.get_by_label("Also post it as an update on the public status page").check()
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("main")).to_contain_text("Rolling back the 14:02 deploy")
    _shot(page, "incident")

    page.goto(f"{site.url}/status")
    expect(page.locator("main")).to_contain_text("Rolling back the 14:02 deploy")
    expect(page.locator("main")).to_contain_text("shop")
    expect(page.locator("main")).not_to_contain_text("internal-batch")
    _shot(page, "status-page")

    site.target.mode = "healthy"
    page.go_back()
    page.get_by_label("Reason (optional)").fill("rolled back")
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator("main")).to_contain_text("resolved")

    page.goto(f"{site.url}/services/shop")
    expect(page.locator("main svg").first).to_be_visible()
    _shot(page, "service")
    page.goto(f"{site.url}/slos")
    _shot(page, "slos")


def test_wrong_password_shows_an_error(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/login")
    page.get_by_label("Name").fill("responder")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong name or password.")
    expect(page).to_have_url(re.compile(r"/login"))
    _shot(page, "login-error")


def test_a_viewer_sees_no_acknowledge_button(page: Page, site: Site) -> None:
    site.target.mode = "error"
    sign_in(page, site, "viewer")
    incident_link = page.locator("#overview-live a[href^='/incidents/']").first
    expect(incident_link).to_be_visible(timeout=20_000)
    incident_link.click()
    expect(page.locator("main h1")).to_be_visible()
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(page.get_by_role("button", name="Resolve")).to_have_count(0)


def test_a_form_posted_without_the_csrf_token_is_refused(page: Page, site: Site) -> None:
    site.target.mode = "error"
    sign_in(page, site, "responder")
    incident_link = page.locator("#overview-live a[href^='/incidents/']").first
    expect(incident_link).to_be_visible(timeout=20_000)
    href = str(incident_link.get_attribute("href"))
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    forged = httpx.post(f"{site.url}{href}/ack", cookies=cookies, data={}, follow_redirects=False)
    assert forged.status_code == 403
    wrong = httpx.post(
        f"{site.url}{href}/ack", cookies=cookies, data={"csrf_token": "x" * 40}, follow_redirects=False
    )
    assert wrong.status_code == 403
    page.goto(f"{site.url}{href}")
    expect(page.get_by_role("button", name="Acknowledge")).to_be_visible()  # still not acknowledged
    assert PASSWORDS["responder"] not in page.content()
