"""Request bodies. Our own API is strict (unknown fields are errors); Alertmanager's payload is read as
Alertmanager documents it and may grow fields we ignore."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from siaga.domain.alerts import AlertIn, AlertStatus

# For query parameters: PostgreSQL text cannot hold NUL, so it is refused at the door (422), not deep inside.
NUL_FREE = r"^[^\x00]*$"


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _to_utc(value: datetime) -> datetime:
    """Naive times are taken as UTC; a time that has no UTC equivalent (past year 9999) is refused."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date-time out of range") from None


Text = Annotated[str, AfterValidator(_no_nul)]
UtcDateTime = Annotated[datetime, AfterValidator(_to_utc)]
LabelName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$", max_length=128)]
LabelValue = Annotated[Text, StringConstraints(max_length=4096)]
Labels = dict[LabelName, LabelValue]
# Alertmanager sends the zero time for "no end"; anything before this means unset.
_EPOCH = datetime(1970, 1, 2, tzinfo=UTC)


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None or value < _EPOCH else value


class GenericAlert(BaseModel):
    """One alert for ``POST /api/v1/alerts``; camelCase (Alertmanager's API v2) and snake_case both work."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    labels: Labels = Field(
        description="Identifying labels; must include `alertname`. `severity` picks the level."
    )
    annotations: dict[LabelName, Annotated[Text, StringConstraints(max_length=65536)]] = Field(
        default_factory=dict, description="Free-text details: `summary` becomes the incident title."
    )
    status: Literal["firing", "resolved"] | None = Field(
        None, description="Omitted: firing, unless `ends_at` is in the past."
    )
    starts_at: UtcDateTime | None = Field(
        None,
        validation_alias=AliasChoices("starts_at", "startsAt"),
        description="When it began; default now.",
    )
    ends_at: UtcDateTime | None = Field(
        None, validation_alias=AliasChoices("ends_at", "endsAt"), description="When it ended, if it has."
    )
    fingerprint: Annotated[Text, StringConstraints(min_length=1, max_length=128)] | None = Field(
        None, description="Stable id; default: a hash of the labels."
    )
    generator_url: Text | None = Field(
        None, validation_alias=AliasChoices("generator_url", "generatorURL"), max_length=2048
    )

    @field_validator("labels")
    @classmethod
    def _needs_alertname(cls, labels: dict[str, str]) -> dict[str, str]:
        if not labels.get("alertname"):
            raise ValueError("labels must include a non-empty 'alertname'")
        return labels

    def to_domain(self, now: datetime) -> AlertIn:
        ends_at = _aware(self.ends_at)
        status = self.status or ("resolved" if ends_at is not None and ends_at <= now else "firing")
        return AlertIn(
            labels=self.labels,
            annotations=self.annotations,
            status=AlertStatus(status),
            starts_at=_aware(self.starts_at) or now,
            ends_at=ends_at,
            fingerprint=self.fingerprint,
        )


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: dict[str, Text] = Field(default_factory=dict)
    startsAt: UtcDateTime
    endsAt: UtcDateTime | None = None
    generatorURL: str = ""
    fingerprint: Annotated[Text, StringConstraints(max_length=128)] | None = None

    def to_domain(self, now: datetime) -> AlertIn:
        return AlertIn(
            labels=self.labels,
            annotations=self.annotations,
            status=AlertStatus(self.status),
            starts_at=_aware(self.startsAt) or now,
            ends_at=_aware(self.endsAt),
            fingerprint=self.fingerprint or None,
        )


class AlertmanagerWebhook(BaseModel):
    """Alertmanager's webhook payload, version 4."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    groupKey: str
    status: Literal["firing", "resolved"]
    receiver: str
    alerts: list[AlertmanagerAlert] = Field(max_length=10000)
    truncatedAlerts: int = 0
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Annotated[Text, StringConstraints(min_length=1, max_length=20000)]


class Assignment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee: Annotated[Text, StringConstraints(min_length=1, max_length=200)] | None


class SeverityChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    severity: Annotated[Text, StringConstraints(min_length=1, max_length=64)]


class Resolution(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[Text, StringConstraints(max_length=2000)] | None = None


class Postmortem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Annotated[Text, StringConstraints(min_length=1, max_length=500000)]


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@-]{1,100}$")]
    role: Literal["viewer", "responder", "admin"]
