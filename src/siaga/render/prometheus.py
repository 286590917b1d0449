"""``prometheus.yml`` and its rule files, from the spec.

Scrape jobs carry ``service`` / ``service_name`` / ``environment`` (and the service's own labels, such as
``tenant_id``) so an alert from any of them finds its Siaga service. SLO rules follow what Sloth generates:
per-window error ratios (``slo:sli_error:ratio_rate5m`` … ``_rate30d``), the metadata series, and the
multi-window multi-burn-rate page and ticket alerts of the Google SRE workbook.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from siaga.render import blackbox
from siaga.render.yaml import dump, header
from siaga.spec.checks import Check, Slo
from siaga.spec.durations import format_duration
from siaga.spec.models import Service, Spec
from siaga.spec.prometheus import WINDOW

CHECKS_GROUP = "siaga-checks"
# (short window, long window, burn factor, page?) — the workbook's four alerts for a 30-day period.
BURN_ALERTS = (
    ("5m", "1h", 14.4, True),
    ("30m", "6h", 6.0, True),
    ("2h", "1d", 3.0, False),
    ("6h", "3d", 1.0, False),
)
SLI_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def file_name(group: str) -> str:
    return f"rules/{_UNSAFE.sub('_', group)}.yml"


def _labels_of(name: str, svc: Service) -> dict[str, str]:
    labels = {**svc.labels, "service": name, "service_name": name}
    if svc.environment:
        labels["environment"] = svc.environment
    return dict(sorted(labels.items()))


def _timeout(interval: timedelta, timeout: timedelta | None) -> timedelta:
    return timeout if timeout is not None else min(timedelta(seconds=10), interval)


def blackbox_checks(spec: Spec) -> Iterator[tuple[str, Service, Check]]:
    for name, svc in sorted(spec.services.items()):
        for check in svc.checks:
            if check.via == "blackbox":
                yield name, svc, check


def prometheus_yml(spec: Spec) -> str:
    prom = spec.prometheus
    global_: dict[str, Any] = {
        "scrape_interval": format_duration(prom.scrape_interval),
        "scrape_timeout": format_duration(_timeout(prom.scrape_interval, prom.scrape_timeout)),
        "evaluation_interval": format_duration(prom.rule_interval),
    }
    if prom.external_labels:
        global_["external_labels"] = dict(sorted(prom.external_labels.items()))
    config: dict[str, Any] = {"global": global_, "rule_files": ["rules/*.yml"]}
    if prom.alertmanager.enabled:
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": [prom.alertmanager.listen]}]}]
        }
    jobs: list[dict[str, Any]] = [_static_job("prometheus", [prom.listen], {})]
    if prom.alertmanager.enabled:
        jobs.append(_static_job("alertmanager", [prom.alertmanager.listen], {}))
    for name, svc in sorted(spec.services.items()):
        if svc.metrics is None:
            continue
        job = _static_job(name, svc.metrics.targets, _labels_of(name, svc))
        if svc.metrics.path != "/metrics":
            job["metrics_path"] = svc.metrics.path
        if svc.metrics.scheme != "http":
            job["scheme"] = svc.metrics.scheme
        if svc.metrics.interval is not None:
            job["scrape_interval"] = format_duration(svc.metrics.interval)
            job["scrape_timeout"] = format_duration(_timeout(svc.metrics.interval, None))
        jobs.append(job)
    exporters = prom.exporters.model_dump()
    if prom.node_exporter and prom.node_exporter not in exporters["node"]:
        exporters["node"] = [prom.node_exporter, *exporters["node"]]
    for kind in ("node", "cadvisor", "postgres", "mysql", "redis", "nginx"):
        if exporters[kind]:
            jobs.append(_static_job(kind, exporters[kind], {}))
    for name, svc, check in blackbox_checks(spec):
        jobs.append(_blackbox_job(prom.blackbox, name, svc, check))
    config["scrape_configs"] = jobs
    return header(spec, "Prometheus") + dump(config)


def _static_job(name: str, targets: list[str], labels: dict[str, str]) -> dict[str, Any]:
    static: dict[str, Any] = {"targets": list(targets)}
    if labels:
        static["labels"] = labels
    return {"job_name": name, "static_configs": [static]}


def _blackbox_job(address: str, name: str, svc: Service, check: Check) -> dict[str, Any]:
    return {
        "job_name": f"blackbox-{blackbox.module_name(name, check)}",
        "scrape_interval": format_duration(check.every),
        "scrape_timeout": format_duration(check.timeout),
        "metrics_path": "/probe",
        "params": {"module": [blackbox.module_name(name, check)]},
        "static_configs": [
            {"targets": [blackbox.target(check)], "labels": {**_labels_of(name, svc), "check": check.name}}
        ],
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": address},
        ],
    }


def rule_files(spec: Spec) -> dict[str, str]:
    """Rule files by path (``rules/GROUP.yml``): the spec's PromQL rules and recording rules by group,
    the alerts of blackbox checks, and each Prometheus-measured SLO's Sloth-style rules."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for recording in spec.prometheus.recording_rules:
        entry: dict[str, Any] = {"record": recording.record, "expr": recording.expr}
        if recording.labels:
            entry["labels"] = dict(recording.labels)
        groups.setdefault(recording.group, []).append(entry)
    for rule in spec.rules:
        if rule.expr is None:
            continue
        entry = {"alert": rule.name, "expr": rule.expr}
        if rule.for_:
            entry["for"] = format_duration(rule.for_)
        labels = dict(rule.labels)
        if rule.severity is not None:
            labels["severity"] = rule.severity
        if labels:
            entry["labels"] = labels
        if rule.annotations:
            entry["annotations"] = dict(rule.annotations)
        groups.setdefault(rule.group or "siaga", []).append(entry)
    checks = [_check_alert(spec, name, check) for name, _svc, check in blackbox_checks(spec)]
    if checks:
        groups.setdefault(CHECKS_GROUP, []).extend(checks)
    files: dict[str, str] = {}
    for group, rules in groups.items():
        body: dict[str, Any] = {"name": group}
        if group in spec.prometheus.group_intervals:
            body["interval"] = format_duration(spec.prometheus.group_intervals[group])
        body["rules"] = rules
        files[file_name(group)] = header(spec, "Prometheus rules") + dump({"groups": [body]})
    for name, svc in sorted(spec.services.items()):
        for objective in svc.slos:
            sli = _sli(name, svc, objective)
            if sli is not None:
                path = file_name(f"slo-{name}-{objective.name}")
                files[path] = header(spec, "Sloth-style SLO rules") + dump(
                    {"groups": _slo_groups(spec, name, objective, *sli)}
                )
    return dict(sorted(files.items()))


def _check_alert(spec: Spec, service: str, check: Check) -> dict[str, Any]:
    selector = f'{{service="{service}", check="{check.name}"}}'
    hold = check.for_ or check.every * (check.failures_before_alert - 1)
    entry: dict[str, Any] = {"alert": check.name, "expr": blackbox.alert_expr(selector, check)}
    if hold:
        entry["for"] = format_duration(hold)
    severity = check.severity or spec.severities[-1].name
    entry["labels"] = {**dict(sorted(check.labels.items())), "severity": severity, "kind": check.kind}
    entry["annotations"] = {"summary": f"{service}: check {check.name} failing (blackbox_exporter)"}
    return entry


def _sli(service: str, svc: Service, objective: Slo) -> tuple[str, str] | None:
    """An SLO's (errors, total) query templates, when Prometheus measures it: a written `sli`, or an
    availability SLO whose checks all run on blackbox_exporter (errors = failed probes)."""
    if objective.sli is not None:
        return objective.sli.errors, objective.sli.total
    if objective.latency is not None:
        return None
    by_name = {check.name: check for check in svc.checks}
    chosen = [by_name[n] for n in objective.checks if n in by_name] or [c for c in svc.checks if c.uptime]
    if not chosen or any(check.via != "blackbox" for check in chosen):
        return None
    names = "|".join(re.escape(check.name) for check in chosen)
    selector = f'{{service="{service}", check=~"{names}"}}'
    total = f"sum(count_over_time(probe_success{selector}[{WINDOW}]))"
    errors = f"({total} - sum(sum_over_time(probe_success{selector}[{WINDOW}])))"
    return errors, total


def _slo_groups(spec: Spec, service: str, objective: Slo, errors: str, total: str) -> list[dict[str, Any]]:
    slo_id = f"{service}-{objective.name}"
    ids = {"sloth_id": slo_id, "sloth_service": service, "sloth_slo": objective.name}
    sel = ", ".join(f'{k}="{v}"' for k, v in ids.items())
    period = format_duration(objective.window)
    ratio = objective.objective / 100
    budget = round(1 - ratio, 12)
    recordings = [
        {
            "record": f"slo:sli_error:ratio_rate{window}",
            "expr": f"({errors.replace(WINDOW, window)})\n/\n({total.replace(WINDOW, window)})",
            "labels": {**ids, "sloth_window": window},
        }
        for window in SLI_WINDOWS
    ]
    recordings.append(
        {
            "record": f"slo:sli_error:ratio_rate{period}",
            "expr": (
                f"sum_over_time(slo:sli_error:ratio_rate5m{{{sel}}}[{period}])\n"
                f"/ ignoring (sloth_window)\ncount_over_time(slo:sli_error:ratio_rate5m{{{sel}}}[{period}])"
            ),
            "labels": {**ids, "sloth_window": period},
        }
    )
    on = "on(sloth_id, sloth_slo, sloth_service) group_left"
    meta = [
        {"record": "slo:objective:ratio", "expr": f"vector({ratio:g})", "labels": ids},
        {"record": "slo:error_budget:ratio", "expr": f"vector(1-{ratio:g})", "labels": ids},
        {
            "record": "slo:time_period:days",
            "expr": f"vector({objective.window / timedelta(days=1):g})",
            "labels": ids,
        },
        {
            "record": "slo:current_burn_rate:ratio",
            "expr": f"slo:sli_error:ratio_rate5m{{{sel}}}\n/ {on}\nslo:error_budget:ratio{{{sel}}}",
            "labels": ids,
        },
        {
            "record": "slo:period_burn_rate:ratio",
            "expr": f"slo:sli_error:ratio_rate{period}{{{sel}}}\n/ {on}\nslo:error_budget:ratio{{{sel}}}",
            "labels": ids,
        },
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f"1 - slo:period_burn_rate:ratio{{{sel}}}",
            "labels": ids,
        },
        {
            "record": "sloth_slo_info",
            "expr": "vector(1)",
            "labels": {**ids, "sloth_objective": f"{objective.objective:g}"},
        },
    ]
    groups: list[dict[str, Any]] = [
        {"name": f"sloth-slo-sli-recordings-{slo_id}", "rules": recordings},
        {"name": f"sloth-slo-meta-recordings-{slo_id}", "rules": meta},
    ]
    if objective.burn_alerts:
        page = objective.page_severity or spec.severities[0].name
        ticket = objective.ticket_severity or spec.severities[-1].name

        def condition(short: str, long: str, factor: float) -> str:
            threshold = f"({factor:g} * {budget:g})"
            return (
                f"(max(slo:sli_error:ratio_rate{short}{{{sel}}} > {threshold}) without (sloth_window)\n"
                f"and\nmax(slo:sli_error:ratio_rate{long}{{{sel}}} > {threshold}) without (sloth_window))"
            )

        alerts = []
        for kind, severity in (("page", page), ("ticket", ticket)):
            parts = [condition(s, lg, f) for s, lg, f, is_page in BURN_ALERTS if is_page == (kind == "page")]
            alerts.append(
                {
                    "alert": f"SLOErrorBudgetBurn-{slo_id}",
                    "expr": "\nor\n".join(parts),
                    "labels": {
                        "severity": severity,
                        "sloth_severity": kind,
                        "service": service,
                        "slo": objective.name,
                    },
                    "annotations": {
                        "summary": f"{service}: SLO {objective.name} ({objective.objective:g}%) error budget "
                        f"burning too fast ({kind})",
                    },
                }
            )
        groups.append({"name": f"sloth-slo-alerts-{slo_id}", "rules": alerts})
    return groups
