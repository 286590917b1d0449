"""The HTTP API on both engines: auth and roles, intake, incident actions, validation, headers, metrics."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from siaga.adapters.clock import ManualClock
from siaga.api.headers import SECURITY_HEADERS
from tests.conftest import bearer


def am_payload(status: str = "firing", **labels: str) -> dict[str, Any]:
    """A webhook body exactly as Alertmanager 0.25 sends it (notify/webhook.Message, version 4)."""
    merged = {"alertname": "DatabaseDown", "service": "database", "severity": "critical", **labels}
    return {
        "receiver": "siaga",
        "status": status,
        "alerts": [
            {
                "status": status,
                "labels": merged,
                "annotations": {"summary": "Database Supabase tidak merespons"},
                "startsAt": "2026-01-05T07:58:00.000Z",
                "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-01-05T08:10:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=pg_up+%3D%3D+0",
                "fingerprint": "c0ffee0123456789",
            }
        ],
        "groupLabels": {"alertname": "DatabaseDown"},
        "commonLabels": merged,
        "commonAnnotations": {"summary": "Database Supabase tidak merespons"},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": '{}:{alertname="DatabaseDown"}',
        "truncatedAlerts": 0,
    }


def test_health_is_open_and_carries_security_headers(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_no_token_is_401_and_bad_token_is_401(client: TestClient) -> None:
    assert client.get("/api/v1/incidents").status_code == 401
    assert client.get("/api/v1/incidents", headers=bearer("siaga_nope")).status_code == 401
    assert client.post("/api/v1/integrations/alertmanager", json=am_payload()).status_code == 401
    assert client.get("/metrics").status_code == 401


def test_alertmanager_alert_becomes_incident(client: TestClient, tokens_by_role: dict[str, str]) -> None:
    responder = bearer(tokens_by_role["responder"])
    response = client.post("/api/v1/integrations/alertmanager", json=am_payload(), headers=responder)
    assert response.status_code == 200, response.text
    opened = response.json()["opened"]
    assert len(opened) == 1
    listed = client.get("/api/v1/incidents", headers=bearer(tokens_by_role["viewer"])).json()["items"]
    assert [(i["id"], i["title"], i["status"], i["severity"], i["service"]) for i in listed] == [
        (opened[0], "Database Supabase tidak merespons", "triggered", "SEV-1", "database")
    ]
    assert listed[0]["opened_at"].startswith("2026-01-05T08:00:00")
    log = client.get("/api/v1/alerts", headers=bearer(tokens_by_role["viewer"])).json()["items"]
    assert [(e["fingerprint"], e["status"], e["source"]) for e in log] == [
        ("c0ffee0123456789", "firing", "alertmanager")
    ]


def test_intake_fast_path_answers_like_the_documented_route(
    client: TestClient, tokens_by_role: dict[str, str]
) -> None:
    """Valid posts are answered outside FastAPI (api/intake.py): same body, same headers, same auth rules."""
    responder = bearer(tokens_by_role["responder"])
    first = client.post("/api/v1/integrations/alertmanager", json=am_payload(), headers=responder)
    assert first.status_code == 200
    assert first.json() == {"accepted": 1, "incidents": [1], "opened": [1]}
    assert first.headers["content-type"] == "application/json"
    for name, value in SECURITY_HEADERS.items():  # sent by the fast path itself, each once
        assert first.headers.get_list(name) == [value]
    again = client.post(
        "/api/v1/alerts", json=[{"labels": {"alertname": "DatabaseDown", "x": "1"}}], headers=responder
    )
    assert again.json() == {"accepted": 1, "incidents": [2], "opened": [2]}
    # Anything the fast path does not take goes to the routes: errors keep FastAPI's shape.
    empty = client.post("/api/v1/alerts", json=[], headers=responder)
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["loc"] == ["body"]
    text = client.post("/api/v1/alerts", content=b"[]", headers={**responder, "content-type": "text/plain"})
    assert text.status_code == 422


def test_viewer_cannot_act_responder_can(client: TestClient, tokens_by_role: dict[str, str]) -> None:
    responder = bearer(tokens_by_role["responder"])
    incident = client.post("/api/v1/integrations/alertmanager", json=am_payload(), headers=responder).json()[
        "opened"
    ][0]
    viewer = bearer(tokens_by_role["viewer"])
    denied = client.post(f"/api/v1/incidents/{incident}/ack", headers=viewer)
    assert denied.status_code == 403
    assert (
        client.post("/api/v1/integrations/alertmanager", json=am_payload(), headers=viewer).status_code == 403
    )
    acked = client.post(f"/api/v1/incidents/{incident}/ack", headers=responder)
    assert acked.status_code == 200
    assert acked.json()["status"] == "acknowledged"
    assert acked.json()["timeline"][-1]["actor"] == "token:t-responder"
    again = client.post(f"/api/v1/incidents/{incident}/ack", headers=responder)
    assert again.status_code == 409
    assert again.json()["detail"] == "cannot acknowledge an incident that is acknowledged"
    note = client.post(f"/api/v1/incidents/{incident}/notes", json={"text": "looking"}, headers=responder)
    assert note.json()["timeline"][-1]["message"] == "looking"
    assign = client.post(f"/api/v1/incidents/{incident}/assign", json={"assignee": "andi"}, headers=responder)
    assert assign.json()["assignee"] == "andi"
    resolved = client.post(
        f"/api/v1/incidents/{incident}/resolve", json={"reason": "restarted"}, headers=responder
    )
    assert resolved.json()["status"] == "resolved"
    assert client.get("/api/v1/incidents/424242", headers=viewer).status_code == 404
    postmortem = client.get(f"/api/v1/incidents/{incident}/postmortem", headers=viewer)
    assert postmortem.headers["content-type"].startswith("text/markdown")
    assert "## Timeline" in postmortem.text


def test_malformed_webhook_is_422_naming_field_and_stores_nothing(
    client: TestClient, tokens_by_role: dict[str, str]
) -> None:
    responder = bearer(tokens_by_role["responder"])
    broken = am_payload()
    del broken["alerts"][0]["status"]
    response = client.post("/api/v1/integrations/alertmanager", json=broken, headers=responder)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "alerts", 0, "status"]
    wrong_version = {**am_payload(), "version": "3"}
    assert (
        client.post("/api/v1/integrations/alertmanager", json=wrong_version, headers=responder).status_code
        == 422
    )
    not_json = client.post(
        "/api/v1/integrations/alertmanager",
        content=b"{nope",
        headers={**responder, "content-type": "application/json"},
    )
    assert not_json.status_code == 422
    generic = client.post("/api/v1/alerts", json=[{"labels": {"service": "x"}}], headers=responder)
    assert generic.status_code == 422
    assert "alertname" in generic.json()["detail"][0]["msg"]
    viewer = bearer(tokens_by_role["viewer"])
    assert client.get("/api/v1/alerts", headers=viewer).json()["items"] == []
    assert client.get("/api/v1/incidents", headers=viewer).json()["items"] == []


def test_generic_api_accepts_both_spellings_and_resolves(
    client: TestClient, tokens_by_role: dict[str, str], clock: ManualClock
) -> None:
    responder = bearer(tokens_by_role["responder"])
    body = [
        {
            "labels": {"alertname": "Disk", "service": "db", "severity": "P2"},
            "startsAt": "2026-01-05T07:00:00Z",
        },
        {"labels": {"alertname": "Cpu", "service": "db"}, "starts_at": "2026-01-05T07:00:00+07:00"},
    ]
    result = client.post("/api/v1/alerts", json=body, headers=responder).json()
    assert result["accepted"] == 2
    assert len(result["opened"]) == 2
    clock.advance(timedelta(minutes=1))
    ended = [{"labels": body[0]["labels"], "endsAt": "2026-01-05T08:00:30Z"}]
    assert client.post("/api/v1/alerts", json=ended, headers=responder).status_code == 200
    log = client.get("/api/v1/alerts", params={"alertname": "Disk"}, headers=responder).json()["items"]
    assert [e["status"] for e in log] == ["resolved", "firing"]


def test_filters_spec_tokens_and_metrics(client: TestClient, tokens_by_role: dict[str, str]) -> None:
    responder = bearer(tokens_by_role["responder"])
    client.post("/api/v1/integrations/alertmanager", json=am_payload(), headers=responder)
    client.post(
        "/api/v1/integrations/alertmanager",
        json=am_payload(alertname="Slow", severity="warning"),
        headers=responder,
    )
    viewer = bearer(tokens_by_role["viewer"])
    by_alias = client.get("/api/v1/incidents", params={"severity": "critical"}, headers=viewer).json()[
        "items"
    ]
    assert [i["severity"] for i in by_alias] == ["SEV-1"]
    assert (
        len(client.get("/api/v1/incidents", params={"status": "open"}, headers=viewer).json()["items"]) == 2
    )
    assert (
        client.get("/api/v1/incidents", params={"status": "resolved"}, headers=viewer).json()["items"] == []
    )
    spec = client.get("/api/v1/spec", headers=viewer)
    assert spec.status_code == 200
    assert "R0UT1NGKEY" not in spec.text
    assert spec.json()["channels"]["pagerduty"]["routing_key"] == "********"
    assert client.get("/api/v1/tokens", headers=viewer).status_code == 403
    admin = bearer(tokens_by_role["admin"])
    created = client.post("/api/v1/tokens", json={"name": "am", "role": "responder"}, headers=admin)
    assert created.status_code == 201
    listed = client.get("/api/v1/tokens", headers=admin).json()["items"]
    assert "token_hash" not in listed[0]
    assert "token" not in listed[0]
    assert client.delete("/api/v1/tokens/am", headers=admin).json() == {"name": "am", "revoked": True}
    metrics = client.get("/metrics", headers=viewer)
    assert metrics.status_code == 200
    assert 'siaga_incidents_open{severity="SEV-1"} 1.0' in metrics.text
    assert 'siaga_incidents_open{severity="SEV-2"} 1.0' in metrics.text
    assert "siaga_alerts_ingested_total 2.0" in metrics.text
    assert "siaga_postmortems_pending 2.0" in metrics.text
