"""Commands acting on a running server through its API (``--server URL --token T``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from siaga.cli.backend import BackendError
from siaga.domain.alerts import AlertIn
from siaga.spec.durations import format_duration


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

    # -- paging -----------------------------------------------------------------------------------------
    def list_silences(self, *, include_expired: bool) -> list[dict[str, Any]]:
        params = {"all": "true" if include_expired else "false"}
        items: list[dict[str, Any]] = self._call("GET", "/api/v1/silences", params=params).json()["items"]
        return items

    def add_silence(
        self,
        *,
        matchers: list[str],
        comment: str,
        starts_at: datetime | None,
        ends_at: datetime | None,
        duration: timedelta | None,
        until_resolved: int | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"matchers": matchers, "comment": comment}
        if starts_at is not None:
            body["starts_at"] = starts_at.isoformat()
        if ends_at is not None:
            body["ends_at"] = ends_at.isoformat()
        if duration is not None:
            body["duration"] = format_duration(duration)
        if until_resolved is not None:
            body["until_resolved"] = until_resolved
        data: dict[str, Any] = self._call("POST", "/api/v1/silences", json=body).json()
        return data

    def expire_silence(self, silence_id: int) -> dict[str, Any]:
        data: dict[str, Any] = self._call("DELETE", f"/api/v1/silences/{silence_id}").json()
        return data

    def on_call(self, schedule: str, at: datetime | None) -> dict[str, Any]:
        params = {"at": at.isoformat()} if at is not None else {}
        data: dict[str, Any] = self._call("GET", f"/api/v1/oncall/{_segment(schedule)}", params=params).json()
        return data

    def shifts(self, schedule: str, start: datetime | None, end: datetime | None) -> list[dict[str, Any]]:
        params = {name: value.isoformat() for name, value in (("from", start), ("to", end)) if value}
        path = f"/api/v1/oncall/{_segment(schedule)}/shifts"
        items: list[dict[str, Any]] = self._call("GET", path, params=params).json()["items"]
        return items

    def add_override(
        self, schedule: str, person: str, starts_at: datetime, ends_at: datetime
    ) -> dict[str, Any]:
        body = {"person": person, "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat()}
        path = f"/api/v1/oncall/{_segment(schedule)}/overrides"
        data: dict[str, Any] = self._call("POST", path, json=body).json()
        return data

    def route_test(self, labels: dict[str, str], at: datetime | None) -> dict[str, Any]:
        body: dict[str, Any] = {"labels": labels}
        if at is not None:
            body["at"] = at.isoformat()
        data: dict[str, Any] = self._call("POST", "/api/v1/route-test", json=body).json()
        return data

    def services(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._call("GET", "/api/v1/services").json()["items"]
        return items

    def slo_report(self, year: int, month: int) -> dict[str, Any]:
        data: dict[str, Any] = self._call(
            "GET", "/api/v1/slo/report", params={"month": f"{year:04d}-{month:02d}"}
        ).json()
        return data

    def slo_budgets(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._call("GET", "/api/v1/slo").json()["items"]
        return items


def _segment(value: str) -> str:
    """``value`` as one URL path segment (a schedule name with '/' or '?' stays one name)."""
    return quote(value, safe="")
