"""Checks, SLOs and rules: what Siaga probes, which promises it measures, and conditions over signals.

Conditions are CEL expressions, compiled when the spec loads; each may only name the variables its check
kind provides (``CHECK_VARIABLES``), so a typo is a load error with file:line, not a silent false at 3 am.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from siaga.domain.conditions import ConditionError, compile_condition
from siaga.spec.calendar import CronText
from siaga.spec.channels import Secret
from siaga.spec.durations import Duration, parse_duration
from siaga.spec.prometheus import PrometheusSli, PromLabels, PromQL

CHECK_KINDS = ("http", "tcp", "tls", "dns", "heartbeat", "host", "db")
# Variables each kind's conditions see, besides `latency` (a duration) which every kind has.
CHECK_VARIABLES: dict[str, frozenset[str]] = {
    "http": frozenset({"status", "body", "json", "headers", "url"}),
    "tcp": frozenset({"received"}),
    "tls": frozenset({"cert", "protocol"}),
    "dns": frozenset({"records", "rcode"}),
    "heartbeat": frozenset({"last_ping_age", "last_status"}),
    "host": frozenset({"cpu", "memory", "disk", "load"}),
    "db": frozenset({"row", "rows"}),
}
# Variables a rule over a check signal sees on top of the check's own.
SIGNAL_VARIABLES = frozenset({"up", "state", "service", "check"})
# When a check lists no `expect`, it passes on these (the probe itself failing is always a failure).
DEFAULT_EXPECT: dict[str, tuple[str, ...]] = {
    "http": ("status >= 200 && status < 400",),
    "tls": ("cert.days_left > 0",),
    "dns": ('rcode == "NOERROR"', "size(records) > 0"),
}
# Kinds whose failures count as downtime in uptime and availability SLOs unless the check says otherwise.
UPTIME_KINDS = frozenset({"http", "tcp", "dns", "heartbeat", "db"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _condition(text: str) -> str:
    try:
        compile_condition(text)
    except ConditionError as exc:
        raise ValueError(str(exc)) from None
    return text


Condition = Annotated[str, AfterValidator(_condition)]


class BasicAuth(_Model):
    """HTTP basic authentication."""

    username: str = Field(description="User name.")
    password: Secret = Field(description="Password, as ${ENV_VAR}.")


class HttpProbe(_Model):
    """An HTTP(S) request; conditions see `status`, `body`, `json` (parsed body or null), `headers`
    (lower-case names), `url` (after redirects) and `latency`."""

    url: str = Field(description="URL to request (http or https).")
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = Field(
        "GET", description="HTTP method."
    )
    headers: dict[str, str] = Field({}, description="Request headers (not secrets: use `bearer_token`).")
    body: str | None = Field(None, description="Request body.")
    basic_auth: BasicAuth | None = Field(None, description="Basic authentication.")
    bearer_token: Secret | None = Field(None, description="Sent as `Authorization: Bearer …`.")
    follow_redirects: bool = Field(True, description="Follow redirects (at most 10).")
    verify_tls: bool = Field(True, description="Verify the server certificate.")
    max_body: int = Field(
        65536, ge=0, description="Bytes of the body kept for `body` / `json`; the rest is read and dropped."
    )

    @model_validator(mode="after")
    def _check_url(self) -> Self:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url: expected an http:// or https:// URL, got '{self.url}'")
        return self


class TcpProbe(_Model):
    """A TCP connect, optionally sending a line and reading the answer; conditions see `received`."""

    host: str = Field(min_length=1, description="Host name or address.")
    port: int = Field(ge=1, le=65535, description="Port.")
    send: str | None = Field(None, description="Text sent after connecting.")
    receive: str | None = Field(None, description="Text the answer must contain (read up to 4 KiB).")


class TlsProbe(_Model):
    """A TLS handshake; conditions see `cert.days_left`, `cert.not_after`, `cert.subject`, `cert.issuer`,
    `cert.chain_valid`, `cert.hostname_valid` and `protocol` (TLSv1.2, TLSv1.3)."""

    host: str = Field(min_length=1, description="Host to connect to.")
    port: int = Field(443, ge=1, le=65535, description="Port.")
    server_name: str | None = Field(None, description="SNI and the name to verify; defaults to `host`.")
    min_version: Literal["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"] = Field(
        "TLSv1.2", description="Lowest protocol the handshake may use."
    )
    ca_file: str | None = Field(None, description="CA bundle to verify against; defaults to the system's.")


class DnsProbe(_Model):
    """A DNS query; conditions see `records` (answers as text) and `rcode` (NOERROR, NXDOMAIN…)."""

    name: str = Field(min_length=1, description="Name to resolve.")
    type: Literal["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "CAA"] = Field(
        "A", description="Record type."
    )
    server: str | None = Field(None, description="Resolver (host or host:port); default the system's.")
    expect_values: list[str] = Field([], description="Values that must all be among the answers.")


class HeartbeatProbe(_Model):
    """A dead-man's switch: the job pings `/api/v1/heartbeat/{token}` (`/start`, `/fail` too) and the check
    fails when a ping is late or a run reports failure. The token is made by Siaga (see `siaga checks
    list`) unless `token` pins it."""

    period: Duration | None = Field(None, description="Expected time between pings.")
    cron: CronText | None = Field(None, description="Expected ping times, 5-field cron (instead of period).")
    grace: Duration = Field(parse_duration("5m"), description="How late a ping may be.")
    token: Secret | None = Field(None, description="Fixed push token (as ${ENV_VAR}); default: generated.")

    @model_validator(mode="after")
    def _one_schedule(self) -> Self:
        if (self.period is None) == (self.cron is None):
            raise ValueError("period: write either `period` or `cron`")
        return self


class HostProbe(_Model):
    """The machine Siaga runs on; conditions see `cpu.percent`, `memory.percent`, `disk["/"].percent`
    (and `.free_bytes`), `load.load1` / `load5` / `load15`."""

    disks: list[str] = Field(["/"], min_length=1, description="Mount points to measure.")


class DbProbe(_Model):
    """A database connection (postgresql://, mysql:// or mariadb://, redis://) and an optional read-only
    query; conditions see `row` (the first row, numbers as doubles) and `rows`."""

    url: Secret = Field(description="Connection URL, as ${ENV_VAR} (it holds the password).")
    query: str | None = Field(
        None,
        description="Read-only SQL run in a read-only transaction; for Redis a read command (PING, INFO, "
        "DBSIZE, GET key…).",
    )


class Check(_Model):
    """One probe of a service, run on a schedule; exactly one kind key (`http`, `tcp`, …) is set."""

    model_config = ConfigDict(populate_by_name=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="Unique within the service.")
    http: HttpProbe | None = Field(None, description="HTTP request.")
    tcp: TcpProbe | None = Field(None, description="TCP connect.")
    tls: TlsProbe | None = Field(None, description="TLS handshake and certificate.")
    dns: DnsProbe | None = Field(None, description="DNS resolution.")
    heartbeat: HeartbeatProbe | None = Field(None, description="Push heartbeat (dead-man's switch).")
    host: HostProbe | None = Field(None, description="CPU, memory, disk and load of this machine.")
    db: DbProbe | None = Field(None, description="Database reachability and a query.")
    every: Duration = Field(parse_duration("1m"), description="How often the check runs.")
    timeout: Duration = Field(parse_duration("10s"), description="How long one run may take.")
    expect: list[Condition] = Field(
        [],
        description="CEL conditions that must all hold, e.g. `status == 200`, "
        '`latency < duration("3s")`; default for http: status 200-399, for tls: cert not expired, '
        "for dns: NOERROR with answers.",
    )
    degraded_if: list[Condition] = Field(
        [], description="CEL conditions any of which marks the service degraded (shown, not paged)."
    )
    failures_before_alert: int = Field(1, ge=1, description="Consecutive failed runs before the alert fires.")
    successes_before_resolve: int = Field(
        1, ge=1, description="Consecutive passing runs before the alert resolves."
    )
    for_: Duration | None = Field(
        None, alias="for", description="The check must keep failing this long before the alert fires."
    )
    severity: str | None = Field(
        None, description="Severity of the alert (a name or alias); default the least urgent level."
    )
    labels: dict[str, str] = Field({}, description="Labels added to the alert.")
    counts_for_uptime: bool | None = Field(
        None,
        description="Whether a failure is downtime in uptime and availability SLOs; "
        "default yes for http, tcp, dns, heartbeat and db, no for tls and host.",
    )
    via: Literal["siaga", "blackbox"] = Field(
        "siaga",
        description="Who probes: Siaga's own scheduler, or Prometheus through blackbox_exporter (http, tcp, "
        "tls and dns; `expect` then limited to `status == N`, `status in [..]`, `latency < duration(..)` "
        "and `cert.days_left > N`, which `siaga render` turns into the module and alert rules).",
    )

    @property
    def kind(self) -> str:
        return next(kind for kind in CHECK_KINDS if getattr(self, kind) is not None)

    @property
    def probe(self) -> BaseModel:
        probe: BaseModel = getattr(self, self.kind)
        return probe

    @property
    def uptime(self) -> bool:
        return self.kind in UPTIME_KINDS if self.counts_for_uptime is None else self.counts_for_uptime

    @property
    def conditions(self) -> tuple[str, ...]:
        return tuple(self.expect) or DEFAULT_EXPECT.get(self.kind, ())

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        kinds = [kind for kind in CHECK_KINDS if getattr(self, kind) is not None]
        if len(kinds) != 1:
            got = ", ".join(kinds) if kinds else "none"
            raise ValueError(f"a check needs exactly one of {', '.join(CHECK_KINDS)} (got {got})")
        allowed = CHECK_VARIABLES[kinds[0]] | {"latency"}
        for field_name in ("expect", "degraded_if"):
            for text in getattr(self, field_name):
                unknown = sorted(compile_condition(text).variables - allowed)
                if unknown:
                    raise ValueError(
                        f"{field_name}: '{text}' names {', '.join(unknown)}, which a {kinds[0]} check does "
                        f"not provide (it has: {', '.join(sorted(allowed))})"
                    )
        if self.timeout > self.every:
            raise ValueError("timeout: must not be longer than `every`")
        if self.every < timedelta(seconds=1):
            raise ValueError("every: checks run at most once a second")
        if self.via == "blackbox":
            from siaga.render.blackbox import untranslatable

            problem = untranslatable(self)
            if problem:
                raise ValueError(f"via: {problem}")
        return self


class LatencyObjective(_Model):
    """A latency objective: the percentile of a check's latency in each minute must stay below a bound."""

    percentile: float = Field(95, gt=0, lt=100, description="Percentile, e.g. 95.")
    below: Duration = Field(description="Bound, e.g. 3s.")


class Slo(_Model):
    """A service level objective measured from the service's own checks."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="Unique within the service.")
    objective: float = Field(gt=0, lt=100, description="Target in percent, e.g. 99.9.")
    window: Duration = Field(parse_duration("30d"), description="Rolling window of the error budget.")
    latency: LatencyObjective | None = Field(
        None, description="Make this a latency SLO (good minutes: percentile below the bound)."
    )
    checks: list[str] = Field(
        [],
        description="Checks of the service it is measured from; default those that count for uptime "
        "(latency SLOs: the http checks).",
    )
    page_severity: str | None = Field(
        None, description="Severity of fast-burn alerts (1h and 6h windows); default the most urgent level."
    )
    ticket_severity: str | None = Field(
        None, description="Severity of slow-burn alerts (1d and 3d windows); default the least urgent level."
    )
    min_failed_samples: int = Field(
        3,
        ge=1,
        description="Failed samples a long window needs before a burn-rate alert fires, so one failed "
        "probe cannot page on its own.",
    )
    burn_alerts: bool = Field(True, description="Raise multi-window burn-rate alerts for this SLO.")
    sli: PrometheusSli | None = Field(
        None,
        description="Measure this SLO from Prometheus metrics instead of checks: `siaga render` writes "
        "Sloth-equivalent recording and burn-rate rules for it.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.sli is not None and (self.checks or self.latency is not None):
            raise ValueError(
                "sli: an SLO is measured either from Prometheus (`sli`) or from checks, not both"
            )
        return self


class Rule(_Model):
    """A condition that raises an alert while it holds for `for` (as in Prometheus): either CEL over a Siaga
    signal (`signal` + `condition`) or PromQL (`expr`), which Prometheus evaluates."""

    model_config = ConfigDict(populate_by_name=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$", description="Rule name (the alertname).")
    signal: str | None = Field(
        None,
        pattern=r"^[a-z]+\.[A-Za-z0-9_.-]+$",
        description="Signal it reads: `check.NAME` (every check of that name) or `check.SERVICE.NAME`.",
    )
    condition: Condition | None = Field(None, description="CEL condition over the signal's variables.")
    expr: PromQL | None = Field(
        None, description="PromQL expression (instead of signal + condition), in Prometheus' own syntax."
    )
    group: str | None = Field(
        None, min_length=1, description="Prometheus rule group of an `expr` rule (default `siaga`)."
    )
    for_: Duration = Field(
        parse_duration("0s"), alias="for", description="How long the condition must hold before firing."
    )
    severity: str | None = Field(
        None,
        description="Severity of the alert; default the least urgent level (for `expr` rules: the "
        "`severity` label, if any).",
    )
    labels: PromLabels = Field({}, description="Labels added to the alert.")
    annotations: dict[str, str] = Field(
        {}, description="Annotations (summary, description…); `expr` rules may use Prometheus templates."
    )

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        if self.expr is not None:
            if self.signal is not None or self.condition is not None:
                raise ValueError(
                    "expr: write either `expr` (PromQL) or `signal` + `condition` (CEL), not both"
                )
        elif self.signal is None or self.condition is None:
            raise ValueError("signal: a rule needs `signal` and `condition`, or a PromQL `expr`")
        elif self.group is not None:
            raise ValueError("group: only PromQL (`expr`) rules have a Prometheus rule group")
        return self

    @property
    def promql(self) -> bool:
        return self.expr is not None


def check_dump(check: Check) -> dict[str, Any]:
    """A check's probe settings as plain data (secrets masked), for hashing and display."""
    return check.model_dump(mode="json", by_alias=True, exclude_none=True)
