"""Browser tests: a real `siaga run` process, a real local target it probes, and Playwright driving Debian's
chromium (headless; no browser is downloaded). Sign-in users are made with the real CLI."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.cli_helpers import SIAGA
from tests.e2e.conftest import SiagaServer
from tests.integration.checks.targets import Behaviour, http_target

CHROMIUM = "/usr/bin/chromium"
# Flags of a headless chromium on a machine without network or display; the sandbox needs user namespaces
# that a root container lacks.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORDS = {"responder": "responder-pass-1", "viewer": "viewer-pass-12", "admin": "admin-pass-123"}
SPEC = """
version: 1
project: {{name: browser-shop, timezone: Asia/Jakarta, resolve_after: 1m}}
severities:
  - {{name: SEV-1, aliases: [critical], ack_within: 15m, resolve_within: 4h}}
  - {{name: SEV-2, aliases: [warning]}}
services:
  shop:
    description: The shop front
    environment: production
    public: true
    checks:
      - {{name: health, http: {{url: "{base}/health"}}, every: 1s, timeout: 1s, severity: SEV-1}}
    slos:
      - {{name: availability, objective: 99.9, window: 30d}}
  internal-batch:
    environment: production
    checks:
      - {{name: cron, heartbeat: {{period: 1d, grace: 1h}}, severity: SEV-2}}
"""


@dataclass
class Site:
    server: SiagaServer
    target: Behaviour

    @property
    def url(self) -> str:
        return self.server.base_url


def _create_user(server: SiagaServer, name: str, role: str) -> None:
    env = {**server.env, "SIAGA_USER_PASSWORD": PASSWORDS[role]}
    done = subprocess.run(
        [str(SIAGA), "user", "create", name, "--role", role],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    with http_target() as (base, target):
        spec = tmp_path / "siaga.yaml"
        spec.write_text(SPEC.format(base=base))
        server = SiagaServer(data_dir, None, logs)
        server.config = spec
        server.env["SIAGA_CONFIG"] = str(spec)
        for role in PASSWORDS:
            _create_user(server, role, role)
        server.start()
        try:
            yield Site(server, target)
        finally:
            server.stop()


@pytest.fixture
def browser() -> Iterator[Browser]:
    # Per test, not per session: Playwright's sync API keeps an event loop running on this thread while it
    # is open, which would break every later test on the same xdist worker that calls asyncio.run().
    if not os.path.exists(CHROMIUM):
        raise RuntimeError("chromium is not installed (make test installs it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()


def sign_in(page: Page, site: Site, role: str) -> None:
    page.goto(f"{site.url}/login")
    page.get_by_label("Name").fill(role)
    page.get_by_label("Password").fill(PASSWORDS[role])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.url}/")
