"""kill -9 while paging: between writing the outbox and sending, and in the middle of sends. After restarts
every message reaches its receiver, once per idempotency key, and a pending escalation step fires on time."""

from __future__ import annotations

import os
import signal
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import SiagaServer
from tests.e2e.receivers import HttpReceivers

ROUTING_KEY = "R0UT1NGKEY0000000000000000000002"
INCIDENTS = 20
STEP_AFTER = 12.0  # seconds: the second step is pending across the second crash
SPEC = """\
version: 1
project: {name: crash, timezone: UTC}
severities:
  - {name: SEV-1, aliases: [critical], ack_within: 1h, escalation: page}
channels:
  hook: {type: webhook, url: "${HOOK_URL}"}
  pagerduty: {type: pagerduty, routing_key: "${PD_KEY}", api_url: "${PD_URL}"}
escalations:
  page:
    steps:
      - notify: [hook, pagerduty]
      - {after: 12s, notify: [hook]}
"""


def _post(server: SiagaServer, token: str, body: object) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.post(f"{server.base_url}/api/v1/alerts", json=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text


def _incidents(server: SiagaServer, token: str) -> list[dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.get(f"{server.base_url}/api/v1/incidents?limit=100", headers=headers, timeout=30)
    items: list[dict[str, object]] = response.json()["items"]
    return items


def _wait(predicate: Callable[[], bool], seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.timeout(120)
def test_kill_9_while_paging_neither_loses_nor_doubles_a_page(
    siaga_server: SiagaServer, tmp_path: Path
) -> None:
    receivers = HttpReceivers(delay=0.2).start()  # slow answers: the first kill lands mid-send
    try:
        spec = tmp_path / "siaga.yaml"
        spec.write_text(SPEC)
        server = siaga_server
        server.config = spec
        server.env.update(
            {
                "HOOK_URL": f"{receivers.url}/hook/crash",
                "PD_KEY": ROUTING_KEY,
                "PD_URL": receivers.url,
                "SIAGA_SWEEP_INTERVAL": "0.2",
            }
        )
        token = server.create_token("crash", "responder")
        server.start()
        alerts = [
            {"labels": {"alertname": f"Crash{i}", "service": f"s{i}", "severity": "critical"}}
            for i in range(INCIDENTS)
        ]
        _post(server, token, alerts)
        # Crash 1: as soon as the first sends have reached a receiver, others are queued or in flight.
        assert _wait(lambda: len(receivers.received) >= 3, 15), server.log_text()
        os.kill(server.pid, signal.SIGKILL)
        server.kill()
        server.start()
        opened = {
            int(str(i["id"])): datetime.fromisoformat(str(i["opened_at"])).timestamp()
            for i in _incidents(server, token)
        }
        # Crash 2: while every second step is still pending; the restart is back well before they are due.
        assert _wait(lambda: len(receivers.at("/v2/enqueue")) >= INCIDENTS, 30), server.log_text()
        server.kill()
        server.start()

        def step_two_everywhere() -> bool:
            second = {r.body["incident"]["id"] for r in receivers.at("/hook/") if r.body["step"] == 1}
            return len(second) == INCIDENTS

        assert _wait(step_two_everywhere, 60), server.log_text()
        time.sleep(1.0)  # anything still to come would be a duplicate
    finally:
        receivers.stop()

    by_key: defaultdict[str, int] = defaultdict(int)
    for received in receivers.at("/hook/"):
        by_key[received.headers["Idempotency-Key"]] += 1
    assert len(by_key) == 2 * INCIDENTS  # step 1 and step 2 of every incident, each under its own key
    # A message in flight at a crash goes out again after it, under the same key.
    assert max(by_key.values()) <= 2, sorted(by_key.items(), key=lambda kv: -kv[1])[:3]
    triggers = receivers.at("/v2/enqueue")
    assert {r.body["dedup_key"] for r in triggers} == {f"siaga-{n}" for n in range(1, INCIDENTS + 1)}
    assert receivers.problems == []
    # The pending step fired on time after the restart: never early, at most 2 s late.
    first: dict[int, float] = {}
    for received in receivers.at("/hook/"):
        if received.body["step"] == 1:
            incident = int(received.body["incident"]["id"])
            first[incident] = min(first.get(incident, received.at), received.at)
    assert len(first) == INCIDENTS
    for incident, at in first.items():
        assert -0.05 <= at - (opened[incident] + STEP_AFTER) <= 2.0, (incident, at - opened[incident])
