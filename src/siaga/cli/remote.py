"""Commands acting on a running server through its API (``--server URL --token T``)."""

from __future__ import annotations

from typing import Any

import httpx

from siaga.cli.backend import BackendError
from siaga.domain.alerts import AlertIn


class RemoteBackend:
    def __init__(self, server: str, token: str) -> None:
        self._client = httpx.Client(
            base_url=server.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise BackendError(f"cannot reach the server: {error}") from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text[:200]
            if isinstance(detail, list) and detail:
                first = detail[0]
                detail = f"{'.'.join(str(p) for p in first.get('loc', []))}: {first.get('msg')}"
            raise BackendError(f"server said {response.status_code}: {detail}")
        return response

    def list_incidents(
        self, *, statuses: list[str], severities: list[str], service: str | None, limit: int
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"status": statuses, "severity": severities, "limit": limit}
        if service:
            params["service"] = service
        items: list[dict[str, Any]] = self._call("GET", "/api/v1/incidents", params=params).json()["items"]
        return items

    def get_incident(self, incident_id: int) -> dict[str, Any]:
        data: dict[str, Any] = self._call("GET", f"/api/v1/incidents/{incident_id}").json()
        return data

    def act(self, incident_id: int, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = self._call(
            "POST", f"/api/v1/incidents/{incident_id}/{action}", json=body
        ).json()
        return data

    def postmortem(self, incident_id: int) -> str:
        return self._call("GET", f"/api/v1/incidents/{incident_id}/postmortem").text

    def attach_postmortem(self, incident_id: int, text: str) -> dict[str, Any]:
        data: dict[str, Any] = self._call(
            "PUT", f"/api/v1/incidents/{incident_id}/postmortem", json={"text": text}
        ).json()
        return data

    def send_alerts(self, alerts: list[AlertIn]) -> dict[str, Any]:
        body = [
            {
                "labels": dict(a.labels),
                "annotations": dict(a.annotations),
                "status": a.status.value,
                "starts_at": a.starts_at.isoformat(),
                "ends_at": a.ends_at.isoformat() if a.ends_at else None,
            }
            for a in alerts
        ]
        data: dict[str, Any] = self._call("POST", "/api/v1/alerts", json=body).json()
        return data

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = self._call("GET", "/api/v1/incidents/stats").json()
        return data
