"""What a notification says, independent of the channel that carries it (pure data, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """Why a message is sent."""

    TRIGGERED = "triggered"  # an incident opened (the first escalation step, or a route's notify)
    ESCALATED = "escalated"  # a later escalation step (or a repeat) fired
    UPDATED = "updated"  # new alerts joined an incident already notified (the route's group_interval)
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    ANNOUNCEMENT = "announcement"  # a maintenance window is coming
    NOTICE = "notice"  # Siaga about itself: a silence expired, a channel keeps failing
    TEST = "test"  # `siaga notify test CHANNEL`

    @property
    def is_alarm(self) -> bool:
        """Messages that ask someone to act (stopped by acknowledgement)."""
        return self in (Kind.TRIGGERED, Kind.ESCALATED, Kind.UPDATED, Kind.REOPENED)


@dataclass(frozen=True)
class Recipient:
    """A person addressed directly (a person target, or whoever is on call); channels use what they need."""

    name: str
    email: str | None = None
    telegram: str | None = None
    slack: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Message:
    """One notification for one channel.

    ``idempotency_key`` is unique per delivery: a re-send after a crash carries the same key, so receivers
    that honour it (webhook ``Idempotency-Key`` header, PagerDuty ``dedup_key`` per incident) keep one copy.
    """

    kind: Kind
    idempotency_key: str
    title: str
    summary: str
    at: datetime
    incident_id: int | None = None
    severity: str | None = None
    severity_rank: int | None = None  # 0 = most urgent level of the ladder; channels colour by it
    status: str | None = None  # the incident's status when the message was made
    service: str | None = None
    url: str | None = None  # link to the incident in Siaga, when project.public_url is set
    labels: Mapping[str, str] = field(default_factory=dict)
    opened_at: datetime | None = None
    step: int | None = None  # escalation step index (0-based), for triggered/escalated messages
    recipient: Recipient | None = None
    project: str = ""

    @property
    def dedup_key(self) -> str | None:
        """One key per incident, the same for trigger, acknowledge and resolve (PagerDuty's dedup_key)."""
        return None if self.incident_id is None else f"siaga-{self.incident_id}"

    def to_json(self) -> dict[str, Any]:
        """The webhook channel's body and the outbox's stored form (documented in docs/notifications.md)."""
        return {
            "version": "1",
            "kind": self.kind.value,
            "idempotency_key": self.idempotency_key,
            "project": self.project,
            "title": self.title,
            "summary": self.summary,
            "at": self.at.isoformat(),
            "incident": None
            if self.incident_id is None
            else {
                "id": self.incident_id,
                "status": self.status,
                "severity": self.severity,
                "severity_rank": self.severity_rank,
                "service": self.service,
                "url": self.url,
                "opened_at": self.opened_at.isoformat() if self.opened_at else None,
                "labels": dict(self.labels),
            },
            "step": self.step,
            "recipient": None
            if self.recipient is None
            else {
                "name": self.recipient.name,
                "email": self.recipient.email,
                "telegram": self.recipient.telegram,
                "slack": self.recipient.slack,
                "phone": self.recipient.phone,
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        incident = data.get("incident") or {}
        recipient = data.get("recipient")
        return cls(
            kind=Kind(data["kind"]),
            idempotency_key=data["idempotency_key"],
            project=data.get("project", ""),
            title=data["title"],
            summary=data["summary"],
            at=datetime.fromisoformat(data["at"]),
            incident_id=incident.get("id"),
            status=incident.get("status"),
            severity=incident.get("severity"),
            severity_rank=incident.get("severity_rank"),
            service=incident.get("service"),
            url=incident.get("url"),
            opened_at=datetime.fromisoformat(incident["opened_at"]) if incident.get("opened_at") else None,
            labels=dict(incident.get("labels") or {}),
            step=data.get("step"),
            recipient=Recipient(**recipient) if recipient else None,
        )
