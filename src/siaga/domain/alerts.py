"""Alerts as they arrive, their fingerprints and the key that groups them into incidents."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

DEFAULT_GROUP_BY: tuple[str, ...] = ("service", "alertname")
MAX_GROUP_KEY = 512  # longer keys keep a readable prefix and end in a hash of the whole
# Labels that name the service an alert is about, in order of preference (Luxima labels `service_name`).
SERVICE_LABELS: tuple[str, ...] = ("service", "service_name", "job")


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class AlertIn:
    """One alert as received from a source, already validated."""

    labels: Mapping[str, str]
    status: AlertStatus
    starts_at: datetime
    annotations: Mapping[str, str] = field(default_factory=dict)
    ends_at: datetime | None = None
    fingerprint: str | None = None

    @property
    def alertname(self) -> str | None:
        return self.labels.get("alertname")


def fingerprint(labels: Mapping[str, str]) -> str:
    """Return a stable id for a label set (order-independent), as Alertmanager does for the same purpose."""
    digest = hashlib.sha256()
    for name in sorted(labels):
        digest.update(name.encode())
        digest.update(b"\xff")
        digest.update(labels[name].encode())
        digest.update(b"\xff")
    return digest.hexdigest()[:16]


def service_of(labels: Mapping[str, str]) -> str | None:
    for name in SERVICE_LABELS:
        if labels.get(name):
            return labels[name]
    return None


def group_key(labels: Mapping[str, str], group_by: Sequence[str] | None) -> str:
    """Return the key under which alerts share one incident.

    ``group_by`` ``["..."]`` groups every alert into one incident, as Alertmanager's special value does.
    """
    names = DEFAULT_GROUP_BY if group_by is None else tuple(group_by)
    if "..." in names:
        return "{...}"
    parts = []
    for name in names:
        value = service_of(labels) if name == "service" else labels.get(name)
        parts.append(f"{name}={value or ''}")
    key = "{" + ",".join(parts) + "}"
    if len(key) <= MAX_GROUP_KEY:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[: MAX_GROUP_KEY - 66]}…#{digest}"


def title_of(labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    summary = annotations.get("summary") or annotations.get("title")
    if summary:
        return summary[:500]
    name = labels.get("alertname", "alert")
    service = service_of(labels)
    return (f"{name} on {service}" if service else name)[:500]
