"""Where CLI commands act: the local data directory, or a running server (``--server URL --token T``).

Both return the same JSON-shaped data, so every command prints alike either way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from siaga.domain.alerts import AlertIn


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

    # paging
    def list_silences(self, *, include_expired: bool) -> list[dict[str, Any]]: ...
    def add_silence(
        self,
        *,
        matchers: list[str],
        comment: str,
        starts_at: datetime | None,
        ends_at: datetime | None,
        duration: timedelta | None,
        until_resolved: int | None,
    ) -> dict[str, Any]: ...
    def expire_silence(self, silence_id: int) -> dict[str, Any]: ...
    def on_call(self, schedule: str, at: datetime | None) -> dict[str, Any]: ...
    def shifts(self, schedule: str, start: datetime | None, end: datetime | None) -> list[dict[str, Any]]: ...
    def add_override(
        self, schedule: str, person: str, starts_at: datetime, ends_at: datetime
    ) -> dict[str, Any]: ...
    def route_test(self, labels: dict[str, str], at: datetime | None) -> dict[str, Any]: ...

    # checks and SLOs
    def services(self) -> list[dict[str, Any]]: ...
    def slo_report(self, year: int, month: int) -> dict[str, Any]: ...
    def slo_budgets(self) -> list[dict[str, Any]]: ...


def when(value: Any) -> str:
    """Short UTC display of an ISO string or datetime."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return f"{value:%Y-%m-%d %H:%M}"
