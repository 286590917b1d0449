"""The siaga.yaml language as pydantic models; every field's description feeds docs/spec-reference.md."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from siaga.domain.routing import parse_matcher
from siaga.spec.backups import Backups
from siaga.spec.calendar import CronText, RecurrenceText, TimeZoneName, parse_handoff
from siaga.spec.channels import FROM_SPEC_TEXT, Channel
from siaga.spec.checks import Check, Rule, Slo
from siaga.spec.durations import Duration, parse_duration
from siaga.spec.prometheus import Prometheus, ServiceMetrics
from siaga.spec.security import Security


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _compile(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression '{pattern}': {exc}") from None
    return pattern


def _matcher(text: str) -> str:
    parse_matcher(text)
    return text


Regex = Annotated[str, AfterValidator(_compile)]
MatcherText = Annotated[str, AfterValidator(_matcher)]
NotifyTarget = Annotated[str, Field(min_length=1)]


class Retention(_Model):
    """How long check data is kept (see docs/checks.md for what each is used for)."""

    results: Duration = Field(
        parse_duration("7d"), ge=parse_duration("4d"), description="Raw check results (at least 4 days)."
    )
    minutes: Duration = Field(
        parse_duration("35d"),
        description="Per-minute rollups: SLO windows, burn rates and monthly reports need them; months "
        "older than this are reported from hours.",
    )
    hours: Duration = Field(parse_duration("400d"), description="Per-hour rollups: uptime history.")


class Project(_Model):
    """Who this spec is for and the clock it reads."""

    name: str = Field(min_length=1, description="Project name, shown in messages and the dashboard.")
    timezone: TimeZoneName = Field("UTC", description="IANA time zone for schedules and maintenance windows.")
    environments: list[str] = Field(
        ["production"], min_length=1, description="Environment names services may belong to."
    )
    resolve_after: Duration = Field(
        parse_duration("5m"),
        description="How long all alerts of an incident must stay resolved before it auto-resolves.",
    )
    reopen_within: Duration = Field(
        parse_duration("1h"),
        description="A firing alert for an incident resolved less than this ago reopens it "
        "instead of opening a new one.",
    )
    public_url: str | None = Field(
        None, description="Base URL of this Siaga, used for links in notifications."
    )
    fallback_channel: str | None = Field(
        None,
        description="Channel that hears about a channel that keeps failing (a key of `channels`); "
        "without it such failures only reach the timeline, the log and /metrics.",
    )
    retention: Retention = Field(default_factory=Retention, description="How long check data is kept.")


class Severity(_Model):
    """One level of the severity ladder; the list is ordered, most urgent first."""

    name: str = Field(min_length=1, description="Canonical name, e.g. SEV-1.")
    aliases: list[str] = Field(
        [], description="Other names accepted for this level (critical, P1…), case-insensitive."
    )
    description: str = Field("", description="What this level means, in the team's words.")
    ack_within: Duration | None = Field(
        None, description="Target time to acknowledge an incident of this level."
    )
    resolve_within: Duration | None = Field(
        None, description="Target time to resolve an incident of this level."
    )
    escalation: str | None = Field(None, description="Default escalation policy (a key of `escalations`).")
    postmortem: bool | None = Field(
        None,
        description="Whether incidents of this level need a post-mortem; "
        "when omitted, required for the two most urgent levels only.",
    )

    def matches(self, name_or_alias: str) -> bool:
        """Given a name, return whether it is this level's name or one of its aliases (case-insensitive)."""
        wanted = name_or_alias.casefold()
        return wanted == self.name.casefold() or any(wanted == alias.casefold() for alias in self.aliases)


class Person(_Model):
    """Someone who can be notified directly or be on call."""

    model_config = ConfigDict(coerce_numbers_to_str=True)

    email: str | None = Field(None, description="E-mail address.")
    telegram: str | None = Field(None, description="Telegram chat id (as a string).")
    slack: str | None = Field(None, description="Slack member id (U…).")
    phone: str | None = Field(None, description="Phone number in international form.")


class Schedule(_Model):
    """An on-call rotation; notify it as `oncall:<name>`."""

    rotation: Literal["daily", "weekly", "custom"] = Field(
        description="How often the on-call person changes."
    )
    shift_length: Duration | None = Field(
        None, description="Length of one shift; required iff rotation is custom."
    )
    handoff: str = Field(
        description="When shifts change: 'HH:MM' for daily, '<weekday> HH:MM' for weekly, either for custom."
    )
    timezone: TimeZoneName | None = Field(
        None, description="Time zone of the hand-off; defaults to project's."
    )
    members: list[str] = Field(min_length=1, description="People in rotation order (keys of `people`).")
    start: date | None = Field(
        None,
        description="Local date on which the first member's first shift begins at the hand-off time "
        "(with a hand-off weekday: the first such day on or after it); defaults to 2024-01-01, a Monday.",
    )

    @model_validator(mode="after")
    def _check_rotation(self) -> Self:
        # Messages start with "<field>: " so the loader can point at that key (see loader._split_field).
        if self.rotation == "custom" and self.shift_length is None:
            raise ValueError("shift_length: a custom rotation needs shift_length")
        if self.rotation != "custom" and self.shift_length is not None:
            raise ValueError(
                f"shift_length: only custom rotations take shift_length ({self.rotation} is fixed)"
            )
        try:
            parse_handoff(self.handoff, self.rotation)
        except ValueError as exc:
            raise ValueError(f"handoff: {exc}") from None
        return self


class Step(_Model):
    """One escalation step."""

    after: Duration = Field(parse_duration("0s"), description="Delay since the incident opened.")
    notify: list[NotifyTarget] = Field(
        min_length=1, description="Targets: channel names, person names or oncall:<schedule>."
    )
    repeat: int = Field(0, ge=0, description="How many more times to re-send this step while unacknowledged.")
    repeat_every: Duration = Field(parse_duration("5m"), description="Time between the repeats of this step.")


class Escalation(_Model):
    """An escalation policy: steps followed until someone acknowledges."""

    steps: list[Step] = Field(min_length=1, description="Steps in order; `after` must not decrease.")


class Route(_Model):
    """Matches incidents by labels and sends them to channels and an escalation; first match wins."""

    model_config = ConfigDict(populate_by_name=True)

    match: dict[str, str] = Field(
        {}, description="Label equality matchers; `severity` accepts names or aliases."
    )
    match_re: dict[str, Regex] = Field({}, description="Label regex matchers (full match), compiled at load.")
    matchers: list[MatcherText] = Field(
        [],
        description="Alertmanager-style matchers: `name=value`, `name!=value`, `name=~regex`, `name!~regex`; "
        "all must hold (together with `match` and `match_re`).",
    )
    notify: list[NotifyTarget] = Field([], description="Targets notified when the incident opens.")
    escalation: str | None = Field(None, description="Escalation policy (a key of `escalations`).")
    continue_: bool = Field(
        False, alias="continue", description="Keep evaluating later routes after a match."
    )
    group_by: list[str] | None = Field(None, description="Labels that group alerts into one incident.")
    group_wait: Duration | None = Field(
        None, description="Wait before the first notification of a new group."
    )
    group_interval: Duration | None = Field(
        None, description="Wait before notifying about new alerts in a group."
    )
    repeat_interval: Duration | None = Field(None, description="Re-notify an unresolved incident this often.")
    receiver: str | None = Field(
        None,
        min_length=1,
        description="Name of this route's receiver in the rendered alertmanager.yml; default the one "
        "target it notifies (kept from an imported Alertmanager config).",
    )


class Inhibit(_Model):
    """While an alert matching `source` fires, alerts matching `target` are recorded but not paged."""

    source: list[MatcherText] = Field(min_length=1, description="Matchers the inhibiting alert satisfies.")
    target: list[MatcherText] = Field(min_length=1, description="Matchers of the alerts it mutes.")
    equal: list[str] = Field([], description="Labels that must have the same value on both alerts.")


class Service(_Model):
    """Something that must stay up."""

    description: str = Field("", description="What the service is.")
    environment: str | None = Field(None, description="One of project.environments.")
    labels: dict[str, str] = Field({}, description="Labels copied onto its alerts (tenant_id, team…).")
    depends_on: list[str] = Field([], description="Services this one needs (keys of `services`); no cycles.")
    public: bool = Field(False, description="Shown on the public status page.")
    checks: list[Check] = Field([], description="Probes run on a schedule; names unique within the service.")
    slos: list[Slo] = Field([], description="Service level objectives measured from the checks.")
    metrics: ServiceMetrics | None = Field(
        None, description="The service's own Prometheus metrics endpoint, scraped by the rendered stack."
    )

    @property
    def measured_slos(self) -> list[Slo]:
        """The SLOs Siaga measures from its own check results (not those with a Prometheus `sli`)."""
        return [objective for objective in self.slos if objective.sli is None]


class MaintenanceWindow(_Model):
    """A recurring window when alerts for the listed services are muted."""

    name: str = Field(min_length=1, description="Unique name of the window.")
    every: RecurrenceText | None = Field(
        None,
        description="Phrase: 'every day 01:00-01:30', 'every saturday 22:00-23:00', "
        "'first sunday of month 02:00-04:00', 'last friday of month 20:00-22:00'.",
    )
    cron: CronText | None = Field(
        None, description="5-field cron for the window start (use with `duration`)."
    )
    duration: Duration | None = Field(None, description="Window length when `cron` is used.")
    timezone: TimeZoneName | None = Field(None, description="Time zone of the window; defaults to project's.")
    services: list[str] = Field(["*"], min_length=1, description="'*' or service names.")
    announce_before: Duration | None = Field(
        None, description="Announce the window this long before it starts."
    )
    announce_to: list[NotifyTarget] = Field([], description="Targets of the announcement.")

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        if self.every is not None and (self.cron is not None or self.duration is not None):
            raise ValueError("every: write either `every` or `cron` + `duration`, not both")
        if self.every is None and self.cron is None:
            raise ValueError('write `every: "first sunday of month 02:00-04:00"` or `cron` + `duration`')
        if self.cron is not None and self.duration is None:
            raise ValueError("duration: a cron window needs a duration")
        if self.announce_to and self.announce_before is None:
            raise ValueError("announce_before: announce_to needs announce_before")
        return self


class Spec(_Model):
    """A siaga.yaml file."""

    version: Literal[1] = Field(description="Spec language version; always 1.")
    project: Project = Field(description="Project settings.")
    severities: list[Severity] = Field(min_length=1, description="Severity ladder, most urgent first.")
    people: dict[str, Person] = Field({}, description="People by short name.")
    schedules: dict[str, Schedule] = Field({}, description="On-call rotations by name.")
    channels: dict[str, Channel] = Field({}, description="Notification channels by name.")
    escalations: dict[str, Escalation] = Field({}, description="Escalation policies by name.")
    routes: list[Route] = Field([], description="Routing rules, evaluated in order.")
    services: dict[str, Service] = Field({}, description="Services by name.")
    maintenance: list[MaintenanceWindow] = Field([], description="Recurring maintenance windows.")
    rules: list[Rule] = Field([], description="Conditions over signals (check results…) that raise alerts.")
    backups: Backups = Field(default_factory=Backups, description="Backup repositories and jobs.")
    security: Security = Field(default_factory=Security, description="The security posture audit.")
    prometheus: Prometheus = Field(
        default_factory=Prometheus,
        description="The Prometheus stack `siaga render` writes and `siaga stack` runs.",
    )
    inhibit: list[Inhibit] = Field(
        [],
        description="Inhibition rules, on top of the implicit ones from `depends_on` "
        "(a service's alerts mute those of the services that depend on it).",
    )

    @model_validator(mode="after")
    def _check_references(self, info: ValidationInfo) -> Self:
        # The loader runs these itself to attach line numbers; direct construction gets them here.
        if info.context and info.context.get(FROM_SPEC_TEXT):
            return self
        from siaga.spec.references import check_references

        problems = check_references(self.model_dump(mode="json", by_alias=True))
        if problems:
            raise ValueError("; ".join(f"{path}: {message}" for path, message in problems))
        return self

    def severity(self, name_or_alias: str) -> Severity | None:
        """Given a severity name or alias (any case), return that Severity, or None."""
        return next((s for s in self.severities if s.matches(name_or_alias)), None)

    def postmortem_required(self, severity: Severity) -> bool:
        """Given one of this spec's severities, return whether its incidents need a post-mortem."""
        if severity.postmortem is not None:
            return severity.postmortem
        return self.severities.index(severity) < 2

    def masked(self) -> dict[str, Any]:
        """Return a JSON-able dump of the spec with every secret replaced by ``********``."""
        return self.model_dump(mode="json", by_alias=True)
