"""The five Grafana dashboards of the Luxima standard, rendered as provisioning-ready JSON files.

`dashboards(project, services, environments)` returns file name → bytes. The same arguments give the same
bytes: uids are hashed from project and dashboard slug, keys are sorted, nothing depends on the clock. The
service and environment names only preselect the template variables; they never enter a PromQL expression,
so no name can break a query. Metric names and the exporters behind them are listed in docs/dashboards.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["dashboards"]

SCHEMA_VERSION = 39
GRID_COLUMNS = 24
# Grafana widens $__rate_interval to at least four scrape intervals, so rates never come out empty on zoom.
RATE = "$__rate_interval"
SCOPE = ("environment", "service_name")
TENANT_SCOPE = (*SCOPE, "tenant_id")

PanelKind = Literal["timeseries", "stat", "gauge"]
Steps = tuple[tuple[float | None, str], ...]
Selector = Callable[..., str]

CALM: Steps = ((None, "green"),)
ANY_IS_BAD: Steps = ((None, "green"), (1, "red"))


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    kind: PanelKind
    title: str
    unit: str
    queries: tuple[Query, ...]
    description: str = ""
    width: int = 12
    height: int = 8
    steps: Steps = CALM
    max: float | None = None


@dataclass(frozen=True)
class Board:
    slug: str
    title: str
    description: str
    scope: tuple[str, ...]
    variable_source: str  # the metric whose label values fill the template variables
    panels: tuple[Panel, ...]


# --- panel builders -------------------------------------------------------------------------------------


def timeseries(title: str, unit: str, *queries: Query, description: str = "", width: int = 12) -> Panel:
    """A line graph of one or more queries."""
    return Panel("timeseries", title, unit, queries, description, width=width)


def stat(title: str, unit: str, expr: str, *, description: str = "", steps: Steps = CALM) -> Panel:
    """A single big number (the last value of `expr`), coloured by `steps`."""
    return Panel("stat", title, unit, (Query(expr),), description, width=6, height=4, steps=steps)


def gauge(title: str, unit: str, expr: str, *, maximum: float, steps: Steps, description: str = "") -> Panel:
    """A dial from 0 to `maximum`."""
    return Panel(
        "gauge", title, unit, (Query(expr),), description, width=6, height=4, steps=steps, max=maximum
    )


def per(
    title: str, unit: str, expr: str, labels: str, *, combine: str = "sum", description: str = ""
) -> Panel:
    """A line per value of `labels` (comma-separated), `expr` combined over everything else."""
    legend = " ".join(f"{{{{{label.strip()}}}}}" for label in labels.split(","))
    return timeseries(
        title, unit, Query(f"{combine} by ({labels}) ({expr})", legend), description=description
    )


def rising(warn: float, critical: float) -> Steps:
    """Green below `warn`, orange up to `critical`, red above."""
    return ((None, "green"), (warn, "orange"), (critical, "red"))


def layout(panels: Sequence[Panel]) -> Iterator[tuple[Panel, dict[str, int]]]:
    """Each panel with its gridPos: left to right, wrapping when the 24 columns are full."""
    x = y = row_height = 0
    for panel in panels:
        if x + panel.width > GRID_COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        yield panel, {"x": x, "y": y, "w": panel.width, "h": panel.height}
        x += panel.width
        row_height = max(row_height, panel.height)


# --- PromQL builders --------------------------------------------------------------------------------------


def selector(labels: Sequence[str]) -> Selector:
    """A function `(metric, *matchers)` → selector filtered by the template variables named `labels`."""

    def select(metric: str, *matchers: str) -> str:
        scoped = [f'{label}=~"${label}"' for label in labels]
        return f"{metric}{{{', '.join([*scoped, *matchers])}}}"

    return select


def rate(series: str, window: str = RATE) -> str:
    return f"rate({series}[{window}])"


def increase(series: str, window: str) -> str:
    return f"increase({series}[{window}])"


def total(expr: str, by: str = "") -> str:
    return f"sum by ({by}) ({expr})" if by else f"sum({expr})"


def quantile(q: float, buckets: str, by: str = "") -> str:
    return f"histogram_quantile({q}, {total(rate(buckets), f'le, {by}' if by else 'le')})"


# --- the five dashboards ----------------------------------------------------------------------------------


def system_overview() -> Board:
    s = selector(SCOPE)
    idle = s("node_cpu_seconds_total", 'mode="idle"')
    cpu = f"100 * (1 - avg by (instance) ({rate(idle)}))"
    memory = f"100 * (1 - {s('node_memory_MemAvailable_bytes')} / {s('node_memory_MemTotal_bytes')})"
    real = 'fstype!~"tmpfs|overlay|squashfs|ramfs"'
    disk = f"100 * (1 - {s('node_filesystem_avail_bytes', real)} / {s('node_filesystem_size_bytes', real)})"
    received, sent = (s(f"node_network_{way}_bytes_total", 'device!="lo"') for way in ("receive", "transmit"))
    named = 'name!=""'  # cAdvisor also reports cgroups that are not containers; those have no name
    return Board(
        "system-overview",
        "System Overview",
        "CPU, memory and disk per VM/LXC (node_exporter) and per container (cAdvisor).",
        SCOPE,
        "up",
        (
            stat("Targets up", "short", total(s("up"))),
            stat("Targets down", "short", f"count({s('up')} == 0) or vector(0)", steps=ANY_IS_BAD),
            gauge("Busiest CPU", "percent", f"max({cpu})", maximum=100, steps=rising(70, 90)),
            gauge("Fullest disk", "percent", f"max({disk})", maximum=100, steps=rising(80, 90)),
            timeseries("CPU usage per host", "percent", Query(cpu, "{{instance}}")),
            timeseries("Memory usage per host", "percent", Query(memory, "{{instance}}")),
            timeseries("Disk usage per filesystem", "percent", Query(disk, "{{instance}} {{mountpoint}}")),
            timeseries(
                "Network traffic per host",
                "Bps",
                Query(total(rate(received), "instance"), "{{instance}} in"),
                Query(total(rate(sent), "instance"), "{{instance}} out"),
            ),
            per(
                "Container CPU (cores)", "short", rate(s("container_cpu_usage_seconds_total", named)), "name"
            ),
            per(
                "Container memory (working set)",
                "bytes",
                s("container_memory_working_set_bytes", named),
                "name",
            ),
        ),
    )


def application_metrics() -> Board:
    s = selector(SCOPE)
    requests, buckets = s("http_requests_total"), s("http_request_duration_seconds_bucket")
    errors = s("http_requests_total", 'status_code=~"5.."')

    def error_ratio(by: str = "") -> str:
        return f"{total(rate(errors), by)} / {total(rate(requests), by)}"

    return Board(
        "application-metrics",
        "Application Metrics",
        "API latency, request throughput and error rate from the instrument middleware.",
        SCOPE,
        "http_requests_total",
        (
            stat("Request rate", "reqps", total(rate(requests))),
            stat("Error rate (5xx)", "percentunit", error_ratio(), steps=rising(0.01, 0.05)),
            stat("Latency p95", "s", quantile(0.95, buckets), steps=rising(0.5, 1)),
            stat("Latency p99", "s", quantile(0.99, buckets), steps=rising(1, 2)),
            per("Throughput per route", "reqps", rate(requests), "route"),
            timeseries(
                "Latency percentiles",
                "s",
                *(Query(quantile(q, buckets), f"p{round(q * 100)}") for q in (0.5, 0.95, 0.99)),
            ),
            timeseries("Latency p95 per route", "s", Query(quantile(0.95, buckets, "route"), "{{route}}")),
            timeseries("Error rate per route (5xx)", "percentunit", Query(error_ratio("route"), "{{route}}")),
            per("Responses by status code", "reqps", rate(requests), "status_code"),
            per("Throughput per method", "reqps", rate(requests), "method"),
        ),
    )


def tenant_metrics() -> Board:
    s = selector(TENANT_SCOPE)
    requests, logins = s("http_requests_total"), s("login_total")
    plugins, errors = s("plugin_invocations_total"), s("http_requests_total", 'status_code=~"5.."')
    per_tenant = total(rate(requests), "tenant_id")
    return Board(
        "tenant-metrics",
        "Tenant Metrics",
        "Active tenants, user login trend and plugin usage, by the tenant_id label.",
        TENANT_SCOPE,
        "http_requests_total",
        (
            stat("Tenants with traffic (now)", "short", f"count({per_tenant} > 0) or vector(0)"),
            stat(
                "Tenants with traffic (24h)",
                "short",
                f"count({total(increase(requests, '24h'), 'tenant_id')} > 0) or vector(0)",
            ),
            stat("Logins (24h)", "short", f"{total(increase(logins, '24h'))} or vector(0)"),
            stat("Plugin invocations (24h)", "short", f"{total(increase(plugins, '24h'))} or vector(0)"),
            timeseries(
                "Requests per tenant (top 10)", "reqps", Query(f"topk(10, {per_tenant})", "{{tenant_id}}")
            ),
            per("Logins per hour", "short", increase(logins, "1h"), "tenant_id"),
            per("Plugin invocations per plugin", "ops", rate(plugins), "plugin"),
            per("Plugin invocations per tenant", "ops", rate(plugins), "tenant_id"),
            timeseries(
                "Error rate per tenant (5xx)",
                "percentunit",
                Query(f"{total(rate(errors), 'tenant_id')} / {per_tenant}", "{{tenant_id}}"),
                width=24,
            ),
        ),
    )


def database_metrics() -> Board:
    s = selector(SCOPE)
    # postgres_exporter renamed pg_replication_lag to pg_replication_lag_seconds; read whichever is there.
    lag = f"{s('pg_replication_lag_seconds')} or {s('pg_replication_lag')}"
    spent, calls = s("pg_stat_statements_seconds_total"), s("pg_stat_statements_calls_total")
    return Board(
        "database-metrics",
        "Database Metrics",
        "Query time, lock wait and replication lag from postgres_exporter.",
        SCOPE,
        "pg_up",
        (
            stat("PostgreSQL up", "short", total(s("pg_up"))),
            stat("PostgreSQL down", "short", f"count({s('pg_up')} == 0) or vector(0)", steps=ANY_IS_BAD),
            stat("Connections", "short", total(s("pg_stat_database_numbackends"))),
            stat("Replication lag (max)", "s", f"max({lag})", steps=rising(10, 60)),
            timeseries(
                "Mean statement time",
                "s",
                Query(f"{total(rate(spent), 'datname')} / {total(rate(calls), 'datname')}", "{{datname}}"),
                description="Needs postgres_exporter --collector.stat_statements and pg_stat_statements.",
            ),
            per(
                "Time spent executing SQL",
                "percentunit",
                rate(s("pg_stat_database_active_time_seconds_total")),
                "datname",
                description="Busy backends on average (1 = one backend busy all the time); PostgreSQL 14+.",
            ),
            per("Locks by mode", "short", s("pg_locks_count"), "mode"),
            per("Deadlocks", "ops", rate(s("pg_stat_database_deadlocks")), "datname"),
            timeseries(
                "Replication lag (replicas)", "s", Query(f"max by (instance) ({lag})", "{{instance}}")
            ),
            per(
                "Replication lag seen by the primary",
                "bytes",
                s("pg_stat_replication_pg_wal_lsn_diff"),
                "application_name",
                combine="max",
            ),
            timeseries(
                "Transactions",
                "ops",
                Query(total(rate(s("pg_stat_database_xact_commit"))), "commit"),
                Query(total(rate(s("pg_stat_database_xact_rollback"))), "rollback"),
            ),
            per("Connections per database", "short", s("pg_stat_database_numbackends"), "datname"),
        ),
    )


def security_overview() -> Board:
    s = selector(TENANT_SCOPE)
    failed, logins = s("login_failed_total"), s("login_total")
    rls, jwt = s("rls_violation_total"), s("jwt_validation_errors_total")
    denied = s("http_requests_total", 'status_code=~"401|403"')

    def last_hour(counter: str) -> str:
        return f"{total(increase(counter, '1h'))} or vector(0)"

    return Board(
        "security-overview",
        "Security Overview",
        "Failed logins, RLS violation attempts and JWT validation errors.",
        TENANT_SCOPE,
        "http_requests_total",
        (
            stat("Failed logins (1h)", "short", last_hour(failed), steps=rising(10, 50)),
            stat("RLS violations (1h)", "short", last_hour(rls), steps=ANY_IS_BAD),
            stat("JWT errors (1h)", "short", last_hour(jwt), steps=rising(10, 50)),
            stat(
                "Failed login ratio",
                "percentunit",
                f"{total(rate(failed))} / ({total(rate(failed))} + {total(rate(logins))})",
                steps=rising(0.2, 0.5),
            ),
            per("Failed logins per tenant (5m)", "short", increase(failed, "5m"), "tenant_id"),
            per(
                "RLS violation attempts per tenant and table (5m)",
                "short",
                increase(rls, "5m"),
                "tenant_id, table",
            ),
            per("JWT validation errors by reason (5m)", "short", increase(jwt, "5m"), "reason"),
            per("Denied requests (401/403)", "reqps", rate(denied), "service_name, status_code"),
        ),
    )


BOARDS: tuple[Callable[[], Board], ...] = (
    system_overview,
    application_metrics,
    tenant_metrics,
    database_metrics,
    security_overview,
)


# --- JSON -----------------------------------------------------------------------------------------------


def dashboards(
    project: str,
    services: Sequence[str],
    environments: Sequence[str],
    datasource_uid: str = "prometheus",
) -> dict[str, bytes]:
    """The five dashboards as `{"system-overview.json": b"...", ...}`; `services` and `environments`
    preselect the variables (empty: All). Raises ValueError on an empty project name and TypeError when
    `services` or `environments` is a bare string (which would preselect its characters)."""
    if not project:
        raise ValueError("project must not be empty: it names the dashboards and seeds their uids")
    if isinstance(services, str) or isinstance(environments, str):
        raise TypeError("services and environments are lists of names, not a single string")
    datasource = {"type": "prometheus", "uid": datasource_uid}
    defaults = {"environment": environments, "service_name": services}
    files: dict[str, bytes] = {}
    for build in BOARDS:
        board = build()
        document = _dashboard(board, project, datasource, defaults)
        files[f"{board.slug}.json"] = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
    return files


def dashboard_uid(project: str, slug: str) -> str:
    """A Grafana uid (≤ 40 characters) stable for one project's dashboard."""
    return "siaga-" + hashlib.sha256(f"{project}\0{slug}".encode(errors="surrogatepass")).hexdigest()[:16]


def _dashboard(
    board: Board, project: str, datasource: dict[str, str], defaults: dict[str, Sequence[str]]
) -> dict[str, Any]:
    tag = f"project:{project}"
    return {
        "annotations": {"list": [_builtin_annotations()]},
        "description": board.description,
        "editable": True,
        "graphTooltip": 1,
        "id": None,
        "links": [
            {
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
                "tags": [tag],
                "title": "Dashboards",
                "type": "dashboards",
            }
        ],
        "panels": [
            _panel(panel, number, grid, datasource)
            for number, (panel, grid) in enumerate(layout(board.panels), start=1)
        ],
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["siaga", tag],
        "templating": {"list": _variables(board, datasource, defaults)},
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": f"{board.title} ({project})",
        "uid": dashboard_uid(project, board.slug),
        "version": 1,
    }


def _builtin_annotations() -> dict[str, Any]:
    return {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }


def _panel(panel: Panel, number: int, grid: dict[str, int], datasource: dict[str, str]) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "color": {"mode": "palette-classic" if panel.kind == "timeseries" else "thresholds"},
        "min": 0,
        "thresholds": {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in panel.steps]},
        "unit": panel.unit,
    }
    if panel.max is not None:
        defaults["max"] = panel.max
    if panel.kind == "timeseries":
        defaults["custom"] = {"drawStyle": "line", "fillOpacity": 10, "lineWidth": 1, "showPoints": "never"}
    return {
        "datasource": datasource,
        "description": panel.description,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "gridPos": grid,
        "id": number,
        "options": _options(panel.kind),
        "targets": [
            {
                "datasource": datasource,
                "editorMode": "code",
                "expr": query.expr,
                "legendFormat": query.legend or "__auto",
                "range": True,
                "refId": chr(ord("A") + i),
            }
            for i, query in enumerate(panel.queries)
        ],
        "title": panel.title,
        "type": panel.kind,
    }


def _options(kind: PanelKind) -> dict[str, Any]:
    if kind == "timeseries":
        return {
            "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    last = {"calcs": ["lastNotNull"], "fields": "", "values": False}
    if kind == "gauge":
        return {"reduceOptions": last, "showThresholdLabels": False, "showThresholdMarkers": True}
    return {"colorMode": "value", "graphMode": "area", "justifyMode": "auto", "reduceOptions": last}


def _variables(
    board: Board, datasource: dict[str, str], defaults: dict[str, Sequence[str]]
) -> list[dict[str, Any]]:
    variables = []
    for i, name in enumerate(board.scope):
        # Each variable narrows the next: services of the chosen environments, tenants of those services.
        source = selector(board.scope[:i])(board.variable_source) if i else board.variable_source
        query = f"label_values({source}, {name})"
        variables.append(
            {
                "allValue": ".*",
                "current": _current(defaults.get(name, ())),
                "datasource": datasource,
                "definition": query,
                "hide": 0,
                "includeAll": True,
                "label": name.replace("_", " ").capitalize(),
                "multi": True,
                "name": name,
                "options": [],
                "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
                "refresh": 2,
                "regex": "",
                "skipUrlSync": False,
                "sort": 1,
                "type": "query",
            }
        )
    return variables


def _current(values: Sequence[str]) -> dict[str, Any]:
    chosen = list(dict.fromkeys(values))
    if not chosen:
        return {"selected": True, "text": ["All"], "value": ["$__all"]}
    return {"selected": True, "text": chosen, "value": chosen}
