"""Siaga shows the health of the stack it supervises: /api/v1/stack and gauges on /metrics."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from siaga.bootstrap import Container
from siaga.runtime import stack
from tests.conftest import bearer
from tests.integration.stack.conftest import crasher, healthy, node, wait_for, write_stack


def _gauges(client: TestClient, token: str) -> dict[str, float]:
    text = client.get("/metrics", headers=bearer(token)).text
    return {
        sample.labels["component"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "siaga_stack_component_healthy"
        for sample in family.samples
    }


def test_stack_health_is_shown_in_siaga(
    client: TestClient, container: Container, tokens_by_role: dict[str, str]
) -> None:
    viewer = tokens_by_role["viewer"]
    stack_dir = container.settings.data_dir / "stack"
    stack_dir.mkdir()
    assert client.get("/api/v1/stack", headers=bearer(viewer)).json()["components"] == []
    assert client.get("/api/v1/stack").status_code == 401

    write_stack(stack_dir, node(), crasher())
    stack.up(stack_dir)
    try:
        wait_for(stack_dir, lambda s: s.running and any(c.healthy for c in s.components), "node healthy")
        body = client.get("/api/v1/stack", headers=bearer(viewer)).json()
        states = {c["name"]: c["healthy"] for c in body["components"]}
        assert states == {"node": True, "crasher": False}
        assert body["running"] is True
        assert body["healthy"] is False
        assert _gauges(client, viewer) == {"node": 1.0, "crasher": 0.0}
    finally:
        stack.down(stack_dir)
    assert not healthy(stack.status(stack_dir))
    assert _gauges(client, viewer) == {"node": 0.0, "crasher": 0.0}
