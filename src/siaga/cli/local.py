"""Commands acting on the local data directory (SQLite, or SIAGA_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import getpass
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from siaga.adapters.clock import SystemClock
from siaga.adapters.db.engine import Database
from siaga.bootstrap import open_database
from siaga.cli.backend import BackendError
from siaga.domain.alerts import AlertIn
from siaga.domain.notifications import Kind, Message
from siaga.services import dryrun, incidents, ingest, oncall, silences
from siaga.services.policy import Policy
from siaga.settings import Settings
from siaga.spec import Spec, load_spec
from siaga.spec.channels import Channel

SHIFTS_SPAN = timedelta(days=14)


class LocalBackend:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._db: Database | None = None
        self._spec: Spec | None = None
        self._policy: Policy | None = None
        self._clock = SystemClock()
        self.actor = f"cli:{getpass.getuser()}"

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = open_database(self._settings)
        return self._db

    @property
    def spec(self) -> Spec:
        if self._spec is None:
            self._spec = load_spec(self._settings.config_path)
        return self._spec

    @property
    def policy(self) -> Policy:
        if self._policy is None:
            self._policy = Policy.from_spec(self.spec)
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
            incidents.add_note(**common, text=body["text"], public=bool(body.get("public", False)))
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

    # -- paging -----------------------------------------------------------------------------------------
    def list_silences(self, *, include_expired: bool) -> list[dict[str, Any]]:
        return silences.list_silences(uow=self.db, now=self._clock.now(), include_expired=include_expired)

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
        now = self._clock.now()
        starts_at = starts_at or now
        ends_at = starts_at + duration if duration is not None else ends_at
        if ends_at is None:
            raise BackendError("a silence needs an end or a duration")
        return silences.create(
            uow=self.db,
            matchers=matchers,
            starts_at=starts_at,
            ends_at=ends_at,
            comment=comment,
            actor=self.actor,
            now=now,
            until_resolved=until_resolved,
        )

    def expire_silence(self, silence_id: int) -> dict[str, Any]:
        return silences.expire(uow=self.db, silence_id=silence_id, actor=self.actor, now=self._clock.now())

    def on_call(self, schedule: str, at: datetime | None) -> dict[str, Any]:
        return oncall.now_and_next(
            uow=self.db, policy=self.policy, schedule=schedule, at=at or self._clock.now()
        )

    def shifts(self, schedule: str, start: datetime | None, end: datetime | None) -> list[dict[str, Any]]:
        start = start or self._clock.now()
        end = end or start + SHIFTS_SPAN
        return oncall.shifts(uow=self.db, policy=self.policy, schedule=schedule, start=start, end=end)

    def add_override(
        self, schedule: str, person: str, starts_at: datetime, ends_at: datetime
    ) -> dict[str, Any]:
        return oncall.add_override(
            uow=self.db,
            policy=self.policy,
            schedule=schedule,
            person=person,
            starts_at=starts_at,
            ends_at=ends_at,
            actor=self.actor,
            now=self._clock.now(),
        )

    def route_test(self, labels: dict[str, str], at: datetime | None) -> dict[str, Any]:
        at = at or self._clock.now()
        result = dryrun.route_test(policy=self.policy, labels=labels, at=at, uow=self.db)
        # Seconds, as the API gives them: the command prints both alike.
        timeline = [{**fire, "after": int(fire["after"].total_seconds())} for fire in result["timeline"]]
        return {**result, "timeline": timeline}

    def notify_test(self, channel: str) -> dict[str, Any]:
        """Send one message of kind test through ``channel`` as the spec configures it; return the receipt.

        Raises BackendError for a channel the spec does not have."""
        spec = self.spec
        config = spec.channels.get(channel)
        if config is None:
            known = ", ".join(sorted(spec.channels)) or "none"
            raise BackendError(f"no channel '{channel}' in {self._settings.config_path} (channels: {known})")
        now = self._clock.now()
        message = Message(
            kind=Kind.TEST,
            idempotency_key=f"test:{channel}:{uuid.uuid4().hex}",
            title=f"Test message for channel {channel}",
            summary=f"Sent by {self.actor} with `siaga notify test {channel}`.",
            at=now,
            project=spec.project.name,
        )
        return asyncio.run(_send_once(channel, config, message))

    # -- checks and SLOs ----------------------------------------------------------------------------
    def _check_plan(self) -> Any:
        from siaga.services.check_plan import plan

        return plan(uow=self.db, spec=self.spec, policy=self.policy, now=self._clock.now())

    def services(self) -> list[dict[str, Any]]:
        from siaga.services import status

        return status.overview(
            uow=self.db, spec=self.spec, policy=self.policy, plan=self._check_plan(), now=self._clock.now()
        )

    def slo_report(self, year: int, month: int) -> dict[str, Any]:
        from siaga.services import slo_report

        return slo_report.monthly(
            uow=self.db,
            spec=self.spec,
            policy=self.policy,
            plan=self._check_plan(),
            year=year,
            month=month,
            now=self._clock.now(),
        )

    def slo_budgets(self) -> list[dict[str, Any]]:
        from siaga.services import slo_report

        return slo_report.budgets(uow=self.db, spec=self.spec, plan=self._check_plan(), now=self._clock.now())


async def _send_once(channel: str, config: Channel, message: Message) -> dict[str, Any]:
    import aiohttp  # imported on use: most commands never send

    from siaga.integrations.channels.base import Outcome
    from siaga.integrations.channels.registry import build_sender

    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        receipt = await build_sender(channel, config, session).send(message)
    return {
        "channel": channel,
        "type": config.type,
        "delivered": receipt.outcome is Outcome.SENT,
        "outcome": receipt.outcome.value,
        "status_code": receipt.status_code,
        "detail": receipt.detail,
        "latency_ms": int((time.perf_counter() - started) * 1000),
    }
