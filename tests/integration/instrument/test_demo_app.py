"""examples/demo-app/app.py as a real process: error injection shows up in its /metrics and its logs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.integration.instrument.support import requests_counted
from tests.integration.servers import free_port, wait_until

DEMO_APP = ROOT / "examples" / "demo-app" / "app.py"


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The demo app on a free port; yields its base URL and the file its stdout (the JSON logs) goes to."""
    port = free_port()
    log_path = tmp_path / "demo.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                str(DEMO_APP),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--service",
                "orders",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"demo app exited with {process.returncode}: {log_path.read_text()}")
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(answers, what="the demo app to answer /health")
        yield url, log_path
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_half_the_api_requests_fail_at_rate_half(demo: tuple[str, Path]) -> None:
    url, log_path = demo
    with httpx.Client(base_url=url, timeout=5) as http:
        assert http.post("/control/errors", json={"rate": 0.5}).json() == {"rate": 0.5}
        assert http.get("/control/errors").json() == {"rate": 0.5}
        statuses = [http.get("/api/orders").status_code for _ in range(20)]
        metrics = http.get("/metrics").text
    assert sorted(statuses) == [200] * 10 + [500] * 10
    counted = requests_counted(metrics)
    assert counted["GET", "/api/orders", "200"] == 10
    assert counted["GET", "/api/orders", "500"] == 10
    assert not any(route in ("/metrics", "/health") for _, route, _ in counted)

    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    access = [
        line for line in lines if line["event"] == "http_request" and line["context"]["path"] == "/api/orders"
    ]
    assert len(access) == 20
    assert {line["service"] for line in access} == {"orders"}
    assert sorted(line["level"] for line in access) == ["error"] * 10 + ["info"] * 10


def test_the_control_endpoint_rejects_a_rate_outside_zero_to_one(demo: tuple[str, Path]) -> None:
    url, _ = demo
    with httpx.Client(base_url=url, timeout=5) as http:
        assert http.post("/control/errors", json={"rate": 1.5}).status_code == 422
        assert http.post("/control/errors", json={"rate": True}).status_code == 422
        assert http.post("/control/errors", content=b"not json").status_code == 400
        assert http.get("/control/errors").json() == {"rate": 0.0}
        assert http.get("/api/orders/2").json()["item"] == "oat milk"
        assert http.get("/api/orders/99").status_code == 404
        counted = requests_counted(http.get("/metrics").text)
    assert counted["GET", "/api/orders/{id}", "404"] == 1
