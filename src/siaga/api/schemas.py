"""Request bodies. Our own API is strict (unknown fields are errors); Alertmanager's payload is read as
Alertmanager documents it and may grow fields we ignore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from siaga.domain.alerts import AlertIn, AlertStatus
from siaga.spec.durations import parse_duration

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
    public: bool = Field(False, description="Also shown on the public status page as an update.")


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


# -- paging -------------------------------------------------------------------------------------------

# Paging arithmetic (rotations, escalation timelines, silence ends) adds days and years to the times it is
# given; keeping them in this range means no sum can overflow datetime.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)
_LONGEST_SILENCE = timedelta(days=3650)


def _in_paging_range(value: datetime) -> datetime:
    if not _EARLIEST <= value < _LATEST:
        raise ValueError("must lie between 1970-01-01 and 9000-01-01 (UTC)")
    return value


def _silence_length(value: object) -> timedelta:
    if not isinstance(value, str):
        raise ValueError("must be a duration such as '90m', '2h' or '1d12h'")
    try:
        length = parse_duration(value)
    except OverflowError:
        raise ValueError(f"duration '{value}' is too long") from None
    if length <= timedelta(0) or length > _LONGEST_SILENCE:
        raise ValueError("duration must be more than 0s and at most 3650d")
    return length


PagingDateTime = Annotated[datetime, AfterValidator(_to_utc), AfterValidator(_in_paging_range)]
"""A date-time for paging requests: naive means UTC; between 1970 and 9000."""
SilenceLength = Annotated[
    timedelta,
    BeforeValidator(_silence_length),
    WithJsonSchema({"type": "string", "pattern": r"^(\d+(ms|d|h|m|s))+$", "examples": ["30m", "2h", "1d"]}),
]
Matcher = Annotated[Text, StringConstraints(min_length=1, max_length=1024)]


class SilenceRequest(BaseModel):
    """``POST /api/v1/silences``: give ``ends_at`` or ``duration``, not both."""

    model_config = ConfigDict(extra="forbid")

    matchers: list[Matcher] = Field(
        min_length=1,
        max_length=100,
        description="Alertmanager-style matchers, all of which must hold: name=value, name!=value, "
        "name=~regex, name!~regex.",
    )
    comment: Annotated[Text, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="Why paging is silenced."
    )
    starts_at: PagingDateTime | None = Field(None, description="When it starts; default now.")
    ends_at: PagingDateTime | None = Field(None, description="When it ends (or give `duration`).")
    duration: SilenceLength | None = Field(None, description="How long from `starts_at`, e.g. `2h`.")
    until_resolved: int | None = Field(
        None, ge=1, le=2**62, description="Also end it when this incident resolves."
    )

    @model_validator(mode="after")
    def _one_end(self) -> SilenceRequest:
        if (self.ends_at is None) == (self.duration is None):
            raise ValueError("give exactly one of 'ends_at' and 'duration'")
        return self

    def ends_after(self, starts_at: datetime) -> datetime:
        """When the silence ends if it starts at ``starts_at``."""
        return starts_at + self.duration if self.duration is not None else self.ends_at or starts_at


class OverrideRequest(BaseModel):
    """``POST /api/v1/oncall/{schedule}/overrides``: someone covers the schedule for a while."""

    model_config = ConfigDict(extra="forbid")

    person: Annotated[Text, StringConstraints(min_length=1, max_length=200)] = Field(
        description="A person of the spec's `people`."
    )
    starts_at: PagingDateTime = Field(description="When the cover starts.")
    ends_at: PagingDateTime = Field(description="When it ends; must be in the future.")


class RouteTestRequest(BaseModel):
    """``POST /api/v1/route-test``: an alert's labels, and when it would fire."""

    model_config = ConfigDict(extra="forbid")

    labels: Labels = Field(max_length=200, description="The alert's labels; `severity` picks the level.")
    at: PagingDateTime | None = Field(None, description="When the alert would fire; default now.")
