"""A real Alertmanager delivers a firing and then a resolved alert to Siaga's webhook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from siaga.adapters.clock import ManualClock
from siaga.api.app import create_app
from siaga.bootstrap import Container
from siaga.services import incidents
from tests.integration.servers import alertmanager, serve, wait_until

CONFIG = """
route:
  receiver: siaga
  group_by: [alertname, service]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: siaga
    webhook_configs:
      - url: {url}/api/v1/integrations/alertmanager
        send_resolved: true
        http_config:
          authorization:
            credentials_file: {token_file}
"""


def _am_alert(ends_at: datetime) -> list[dict[str, object]]:
    return [
        {
            "labels": {"alertname": "DatabaseDown", "service": "database", "severity": "critical"},
            "annotations": {"summary": "Database Supabase tidak merespons"},
            "startsAt": (datetime.now(UTC) - timedelta(minutes=2)).isoformat(),
            "endsAt": ends_at.isoformat(),
            "generatorURL": "http://prometheus.local/graph",
        }
    ]


def test_alertmanager_fires_then_resolves(
    container: Container, tokens_by_role: dict[str, str], clock: ManualClock, tmp_path: Path
) -> None:
    token_file = tmp_path / "siaga.token"
    token_file.write_text(tokens_by_role["responder"])
    app = create_app(container, run_sweeper=False)
    with (
        serve(app) as siaga_url,
        alertmanager(tmp_path, CONFIG.format(url=siaga_url, token_file=token_file)) as am,
    ):
        fired = httpx.post(f"{am}/api/v2/alerts", json=_am_alert(datetime.now(UTC) + timedelta(hours=1)))
        assert fired.status_code == 200

        def open_incidents() -> list[dict[str, object]]:
            return incidents.list_incidents(uow=container.db)

        wait_until(lambda: open_incidents(), what="the incident to open")
        [incident] = open_incidents()
        assert incident["title"] == "Database Supabase tidak merespons"
        assert incident["severity"] == "SEV-1"
        assert incident["status"] == "triggered"

        resolved = httpx.post(f"{am}/api/v2/alerts", json=_am_alert(datetime.now(UTC) - timedelta(seconds=1)))
        assert resolved.status_code == 200

        def alert_status() -> str:
            detail = incidents.get_incident(uow=container.db, incident_id=int(str(incident["id"])))
            return str(detail["alerts"][0]["status"])

        wait_until(lambda: alert_status() == "resolved", what="Alertmanager's resolved notification")

    # Time from here on is Siaga's virtual clock: resolve_after (5m) must pass before the incident resolves.
    sweeper = app.state.sweeper
    clock.advance(timedelta(minutes=4, seconds=59))
    assert sweeper.run_once().auto_resolved == 0
    clock.advance(timedelta(seconds=1))
    assert sweeper.run_once().auto_resolved == 1
    detail = incidents.get_incident(uow=container.db, incident_id=int(str(incident["id"])))
    assert detail["status"] == "resolved"
    assert detail["timeline"][-1]["message"] == "auto-resolved: every alert resolved for 5m"
    sources = {event["source"] for event in _alert_log(app, tokens_by_role["viewer"])}
    assert sources == {"alertmanager"}


def _alert_log(app: object, token: str) -> list[dict[str, object]]:
    with TestClient(app) as client:  # type: ignore[arg-type]
        response = client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"})
        items: list[dict[str, object]] = response.json()["items"]
        return items
