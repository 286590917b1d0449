"""Where CLI commands act: the local data directory, or a running server (``--server URL --token T``).

Both return the same JSON-shaped data, so every command prints alike either way.
"""

from __future__ import annotations

import getpass
from datetime import datetime
from typing import Any, Protocol

import httpx

from siaga.adapters.clock import SystemClock
from siaga.adapters.db.engine import Database
from siaga.bootstrap import open_database
from siaga.domain.alerts import AlertIn
from siaga.services import incidents, ingest
from siaga.services.policy import Policy
from siaga.settings import Settings
from siaga.spec import load_spec


class BackendError(Exception):
    """A request the backend refused (unknown incident, wrong state, HTTP error): printed as one line."""


class Backend(Protocol):
    def list_incidents(
        self, *, statuses: list[str], severities: list[str], service: str | None, limit: int
    ) -> list[dict[str, Any]]: ...
    def get_incident(self, incident_id: int) -> dict[str, Any]: ...
    def act(self, incident_id: int, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]: ...
    def postmortem(self, incident_id: int) -> str: ...
    def attach_postmortem(self, incident_id: int, text: str) -> dict[str, Any]: ...
    def send_alerts(self, alerts: list[AlertIn]) -> dict[str, Any]: ...
    def stats(self) -> dict[str, Any]: ...


class LocalBackend:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._db: Database | None = None
        self._policy: Policy | None = None
        self._clock = SystemClock()
        self.actor = f"cli:{getpass.getuser()}"

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = open_database(self._settings)
        return self._db

    @property
    def policy(self) -> Policy:
        if self._policy is None:
            self._policy = Policy.from_spec(load_spec(self._settings.config_path))
        return self._policy

    def list_incidents(
        self, *, statuses: list[str], severities: list[str], service: str | None, limit: int
    ) -> list[dict[str, Any]]:
        return incidents.list_incidents(
            uow=self.db, statuses=statuses, severities=severities, service=service, limit=limit
        )

    def get_incident(self, incident_id: int) -> dict[str, Any]:
        return incidents.get_incident(uow=self.db, incident_id=incident_id)

    def act(self, incident_id: int, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        body = body or {}
        now = self._clock.now()
        common: dict[str, Any] = {"uow": self.db, "incident_id": incident_id, "actor": self.actor, "now": now}
        if action == "ack":
            incidents.acknowledge(**common)
        elif action == "unack":
            incidents.unacknowledge(**common)
        elif action == "resolve":
            incidents.resolve(**common, reason=body.get("reason"))
        elif action == "reopen":
            incidents.reopen(**common, policy=self.policy)
        elif action == "notes":
            incidents.add_note(**common, text=body["text"])
        elif action == "assign":
            incidents.assign(**common, assignee=body.get("assignee"))
        elif action == "severity":
            incidents.change_severity(**common, policy=self.policy, severity=body["severity"])
        else:
            raise BackendError(f"unknown action {action}")
        return self.get_incident(incident_id)

    def postmortem(self, incident_id: int) -> str:
        return incidents.postmortem_draft(uow=self.db, incident_id=incident_id)

    def attach_postmortem(self, incident_id: int, text: str) -> dict[str, Any]:
        incidents.attach_postmortem(
            uow=self.db, incident_id=incident_id, actor=self.actor, text=text, now=self._clock.now()
        )
        return self.get_incident(incident_id)

    def send_alerts(self, alerts: list[AlertIn]) -> dict[str, Any]:
        result = ingest.ingest(
            uow=self.db,
            policy=self.policy,
            alerts=alerts,
            source="cli",
            actor=self.actor,
            now=self._clock.now(),
        )
        return {"accepted": result.accepted, "incidents": result.touched, "opened": result.opened}

    def stats(self) -> dict[str, Any]:
        return incidents.stats(uow=self.db)


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


def when(value: Any) -> str:
    """Short UTC display of an ISO string or datetime."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return f"{value:%Y-%m-%d %H:%M}"
