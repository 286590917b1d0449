"""The Prometheus side of a spec: where the stack listens, what it scrapes, PromQL checked at load.

Siaga never evaluates PromQL itself: Prometheus does, on the files ``siaga render`` writes, or — when
``prometheus.url`` is set and ``alertmanager.enabled`` is false — through Prometheus' HTTP query API on
Siaga's behalf. The expressions are parsed when the spec loads, so a typo is a load error with file:line.
"""

from __future__ import annotations

import re
from typing import Annotated, Self

import promql_parser
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from siaga.spec.durations import Duration, parse_duration

# Sloth-style SLI templates name the window as {{window}}; it is replaced by each window before parsing.
WINDOW = "{{window}}"
_HOST_PORT = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_promql(text: str) -> str:
    """Given PromQL text, return it unchanged, or raise ValueError naming the parser's complaint."""
    try:
        promql_parser.parse(text)
    except ValueError as exc:
        raise ValueError(f"not valid PromQL: {exc}") from None
    return text


def _sli_template(text: str) -> str:
    if WINDOW not in text:
        raise ValueError(f"an SLI query must use {WINDOW} as its range, e.g. rate(x_total[{WINDOW}])")
    check_promql(text.replace(WINDOW, "5m"))
    return text


def _host_port(text: str) -> str:
    if not _HOST_PORT.match(text):
        raise ValueError(f"'{text}' is not host:port")
    return text


def _label_names(labels: dict[str, str]) -> dict[str, str]:
    bad = [name for name in labels if not _LABEL_NAME.match(name)]
    if bad:
        raise ValueError(f"'{bad[0]}' is not a Prometheus label name ([A-Za-z_][A-Za-z0-9_]*)")
    return labels


PromQL = Annotated[str, AfterValidator(check_promql)]
SliTemplate = Annotated[str, AfterValidator(_sli_template)]
HostPort = Annotated[str, AfterValidator(_host_port)]
PromLabels = Annotated[dict[str, str], AfterValidator(_label_names)]


class Exporters(_Model):
    """Exporters Prometheus scrapes (host:port targets); each becomes a scrape job named after its kind."""

    node: list[HostPort] = Field([], description="node_exporter: CPU, memory, disk, load of each machine.")
    cadvisor: list[HostPort] = Field([], description="cAdvisor: container CPU and memory.")
    postgres: list[HostPort] = Field([], description="postgres_exporter: `pg_up`, query time, locks, lag.")
    mysql: list[HostPort] = Field([], description="mysqld_exporter (MySQL / MariaDB).")
    redis: list[HostPort] = Field([], description="redis_exporter.")
    nginx: list[HostPort] = Field([], description="nginx-prometheus-exporter.")


class ServiceMetrics(_Model):
    """A service's own metrics endpoint (instrument it with `siaga.instrument`)."""

    targets: list[HostPort] = Field(min_length=1, description="host:port of each instance.")
    path: str = Field("/metrics", pattern=r"^/", description="Metrics path.")
    scheme: str = Field("http", pattern=r"^https?$", description="http or https.")
    interval: Duration | None = Field(
        None, description="Scrape interval; default `prometheus.scrape_interval`."
    )


class PrometheusSli(_Model):
    """An SLI from Prometheus metrics, as Sloth writes it: the error and total event rates over
    `{{window}}`."""

    errors: SliTemplate = Field(
        description="Bad events per second, e.g. "
        '`sum(rate(http_requests_total{status_code=~"5.."}[{{window}}]))`.'
    )
    total: SliTemplate = Field(
        description="All events per second, e.g. `sum(rate(http_requests_total[{{window}}]))`."
    )


class RecordingRule(_Model):
    """A Prometheus recording rule, rendered as written."""

    record: str = Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", description="Name of the recorded series.")
    expr: PromQL = Field(description="PromQL expression.")
    labels: PromLabels = Field({}, description="Labels added to the result.")
    group: str = Field("siaga", min_length=1, description="Rule group (one file per group).")


class AlertmanagerSettings(_Model):
    """The Alertmanager between Prometheus and Siaga."""

    enabled: bool = Field(
        True,
        description="Prometheus sends alerts through Alertmanager to Siaga; when false and `prometheus.url` "
        "is set, Siaga evaluates the PromQL rules itself through Prometheus' query API.",
    )
    listen: HostPort = Field("127.0.0.1:9093", description="Where the stack's Alertmanager listens.")
    token_file: str = Field(
        "siaga-webhook.token",
        description="File (relative to the rendered directory) holding the responder token Alertmanager "
        "sends to Siaga; `siaga stack up` creates it; never written into the configs.",
    )


class Prometheus(_Model):
    """The Prometheus stack: scrape settings, exporters, Alertmanager, blackbox_exporter."""

    url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="An existing Prometheus' base URL. With `alertmanager.enabled: false`, Siaga evaluates "
        "the spec's PromQL rules through its query API.",
    )
    listen: HostPort = Field("127.0.0.1:9090", description="Where the stack's Prometheus listens.")
    scrape_interval: Duration = Field(parse_duration("15s"), description="Default scrape interval.")
    scrape_timeout: Duration | None = Field(
        None, description="Default scrape timeout; at most the interval (Prometheus' default 10s, capped)."
    )
    evaluation_interval: Duration | None = Field(
        None, description="How often rules are evaluated; default the scrape interval."
    )
    retention: Duration = Field(parse_duration("30d"), description="How long Prometheus keeps samples.")
    external_labels: PromLabels = Field({}, description="Labels Prometheus adds to everything it sends out.")
    exporters: Exporters = Field(default_factory=Exporters, description="Exporters to scrape.")
    siaga_url: str = Field(
        "http://127.0.0.1:8080",
        pattern=r"^https?://",
        description="Siaga's base URL as Alertmanager reaches it (its webhook is under it).",
    )
    alertmanager: AlertmanagerSettings = Field(
        default_factory=AlertmanagerSettings, description="The Alertmanager in between."
    )
    blackbox: HostPort = Field(
        "127.0.0.1:9115", description="Where blackbox_exporter listens (for checks with `via: blackbox`)."
    )
    node_exporter: HostPort | None = Field(
        None,
        description="Run a node_exporter in `siaga stack` on this address (also scraped), e.g. "
        "127.0.0.1:9100.",
    )
    node_exporter_collectors: list[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]] = Field(
        [],
        description="Run only these node_exporter collectors (e.g. [cpu, meminfo, textfile]); default its "
        "own set.",
    )
    textfile_directory: str | None = Field(
        None, description="node_exporter's textfile collector directory, for metrics planted by jobs."
    )
    group_intervals: dict[str, Duration] = Field(
        {}, description="Evaluation interval per rule group (default `evaluation_interval`)."
    )
    recording_rules: list[RecordingRule] = Field([], description="Recording rules, rendered as written.")
    dashboards: bool = Field(True, description="Render the Grafana dashboards.")

    @model_validator(mode="after")
    def _timeout(self) -> Self:
        if self.scrape_timeout is not None and self.scrape_timeout > self.scrape_interval:
            raise ValueError("scrape_timeout: must not be longer than scrape_interval")
        return self

    @property
    def rule_interval(self) -> Duration:
        return self.evaluation_interval or self.scrape_interval

    @property
    def siaga_evaluates(self) -> bool:
        """Whether Siaga itself runs the PromQL rules (through the query API) instead of Prometheus."""
        return self.url is not None and not self.alertmanager.enabled
