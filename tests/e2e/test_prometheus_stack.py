"""The whole Prometheus path with real processes: the instrumented demo app → Prometheus on the rendered
config (1 s scrapes, 1 s resend delay) → the Luxima APIErrorRateHigh rule, unchanged → Alertmanager on the
rendered config → `siaga run` → a message at a local webhook receiver; the errors stop → resolved. Beside
it, HighCPULoad over node_exporter's textfile collector with a planted load value. The stack runs under
`siaga stack`'s supervisor, as a user would run it.

Real time, not a virtual clock: Prometheus' `for: 2m` is wall-clock time, so this test takes about four
minutes (it runs beside the rest of the suite).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from siaga.render.files import render_directory
from siaga.runtime import stack
from tests.e2e.conftest import SiagaServer
from tests.e2e.receivers import HttpReceivers
from tests.integration.servers import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
DEMO_APP = ROOT / "examples" / "demo-app" / "app.py"
SPEC = """
version: 1
project: {{name: stack-e2e, timezone: UTC, resolve_after: 0s}}
severities:
  - {{name: critical, aliases: [SEV-1]}}
  - {{name: warning, aliases: [SEV-2]}}
channels:
  hook: {{type: webhook, url: "${{E2E_HOOK_URL}}"}}
routes:
  - notify: [hook]
services:
  shop:
    environment: production
    labels: {{tenant_id: t1}}
    metrics: {{targets: ["127.0.0.1:{app}"]}}
prometheus:
  listen: 127.0.0.1:{prom}
  scrape_interval: 1s
  siaga_url: http://127.0.0.1:{siaga}
  alertmanager: {{listen: 127.0.0.1:{am}}}
  node_exporter: 127.0.0.1:{node}
  node_exporter_collectors: [textfile]
  textfile_directory: {textfile}
  dashboards: false
rules:
  - name: APIErrorRateHigh
    group: luxima-core.rules
    expr: sum(rate(http_requests_total{{status_code=~"5.."}}[1m])) / sum(rate(http_requests_total[1m])) > 0.05
    for: 2m
    labels:
      severity: warning
    annotations:
      summary: "Error rate API tinggi"
      description: "Lebih dari 5% request menghasilkan status 5xx."
  - name: HighCPULoad
    expr: node_load1 > 0.9
    for: 5s
    labels:
      severity: warning
    annotations:
      summary: "CPU usage tinggi di {{{{ $labels.instance }}}}"
"""


@pytest.fixture
def demo_app(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "demo-app.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, str(DEMO_APP), "--port", str(port), "--service", "shop"], stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=30, what="the demo app")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


class Traffic:
    """Steady requests to the demo app from a thread, so rates over [1m] stay meaningful."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=2) as client:
            while not self.stop.wait(0.05):
                with contextlib.suppress(httpx.HTTPError):
                    client.get(f"{self.url}/api/orders")


def _messages(receivers: HttpReceivers, alertname: str, kind: str) -> list[dict[str, object]]:
    found = []
    for received in receivers.at("/hook/"):
        body = received.body
        if body.get("kind") == kind and alertname in str(body):
            found.append(body)
    return found


def test_demo_app_errors_page_through_prometheus_and_alertmanager_then_resolve(
    tmp_path: Path, demo_app: str
) -> None:
    receivers = HttpReceivers().start()
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    siaga_port = free_port()
    stack_dir = tmp_path / "stack"
    spec_path = tmp_path / "siaga.yaml"
    spec_path.write_text(
        SPEC.format(
            app=demo_app.rsplit(":", 1)[1],
            prom=free_port(),
            siaga=siaga_port,
            am=free_port(),
            node=free_port(),
            textfile=textfile,
        )
    )
    data = tmp_path / "data"
    data.mkdir()
    server = SiagaServer(data, None, tmp_path)
    server.config = spec_path
    server.env["E2E_HOOK_URL"] = f"{receivers.url}/hook/ops"
    traffic = Traffic(demo_app)
    try:
        server.start(port=siaga_port)
        render_directory(spec_path, stack_dir)
        (stack_dir / "siaga-webhook.token").write_text(server.create_token("alertmanager", "responder"))
        stack.up(stack_dir)
        wait_until(lambda: stack.status(stack_dir).healthy, timeout=60, what="the stack to be healthy")

        # The load is planted for node_exporter's textfile collector: HighCPULoad fires after its 5 s.
        (textfile / "load.prom").write_text("node_load1 0.97\n")
        httpx.post(f"{demo_app}/control/errors", json={"rate": 0.5}).raise_for_status()
        traffic.thread.start()

        wait_until(
            lambda: _messages(receivers, "HighCPULoad", "triggered"), timeout=90, what="HighCPULoad's page"
        )
        # `for: 2m` on the Luxima rule: the page comes a little over two minutes after errors begin.
        wait_until(
            lambda: _messages(receivers, "APIErrorRateHigh", "triggered"),
            timeout=240,
            what="APIErrorRateHigh's page",
        )
        [page] = _messages(receivers, "APIErrorRateHigh", "triggered")
        assert "Error rate API tinggi" in str(page)

        (textfile / "load.prom").write_text("node_load1 0.2\n")
        httpx.post(f"{demo_app}/control/errors", json={"rate": 0.0}).raise_for_status()
        wait_until(
            lambda: _messages(receivers, "APIErrorRateHigh", "resolved"),
            timeout=150,
            what="APIErrorRateHigh's resolved message",
        )
        assert _messages(receivers, "HighCPULoad", "resolved")
        assert receivers.problems == []
        incidents = httpx.get(
            f"{server.base_url}/api/v1/incidents",
            params={"status": "resolved"},
            headers={"Authorization": f"Bearer {server.create_token('reader', 'viewer')}"},
        ).json()
        titles = {item["title"] for item in incidents["items"]}
        assert "Error rate API tinggi" in titles
    finally:
        traffic.stop.set()
        stack.down(stack_dir)
        server.stop()
        receivers.stop()
