"""Commands acting on the local data directory (SQLite, or SIAGA_DATABASE_URL)."""

from __future__ import annotations

import getpass
from typing import Any

from siaga.adapters.clock import SystemClock
from siaga.adapters.db.engine import Database
from siaga.bootstrap import open_database
from siaga.cli.backend import BackendError
from siaga.domain.alerts import AlertIn
from siaga.services import incidents, ingest
from siaga.services.policy import Policy
from siaga.settings import Settings
from siaga.spec import load_spec


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
