"""Prometheus rule files → the spec's ``rules:`` (alerting rules) and ``prometheus:`` (recording rules,
group intervals). Expressions and templates are carried byte for byte; PromQL is checked, never rewritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import promql_parser

from siaga.importers.report import ImportResult, Note, Unmapped
from siaga.importers.source import Reader, spec_text

_GROUP_KEYS = {"name", "interval", "rules", "limit", "query_offset", "labels"}
_RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
_REASONS = {
    "limit": "Siaga sets no limit on the alerts or series a rule group may produce",
    "query_offset": "Siaga evaluates no rule group at a query offset",
    "keep_firing_for": "Siaga has no keep_firing_for: an alert resolves when its expression stops "
    "returning it (the incident still waits project.resolve_after before resolving)",
}


def import_prometheus_rules(files: Sequence[tuple[str, Any]]) -> ImportResult:
    """Given (file name, parsed YAML) of one or more rule files, return their rules as a spec fragment.

    Raises SourceError when a file is not a rule file: wrong shapes, missing keys, PromQL that does not parse.
    """
    rules: list[dict[str, Any]] = []
    recording: list[dict[str, Any]] = []
    intervals: dict[str, str] = {}
    result = ImportResult({})
    seen_groups: dict[str, str] = {}
    seen_alerts: dict[str, str] = {}
    for filename, data in files:
        read = Reader(filename)
        for where, group in _groups(read, data, result):
            name = read.text(group.get("name"), f"{where}.name") if "name" in group else None
            if not name:
                read.fail(where, "a rule group needs a name")
            where = f"{where} ({name})"
            if name in seen_groups:
                result.notes.append(
                    Note(
                        f"{filename}: {where}",
                        f"a group named {name} is also in {seen_groups[name]}: the spec puts their rules "
                        "in one group of that name",
                    )
                )
            seen_groups.setdefault(name, filename)
            for key in sorted(set(group) - _GROUP_KEYS):
                result.unmapped.append(Unmapped(f"{filename}: {where}.{key}", "unknown rule group key"))
            for key in ("limit", "query_offset"):
                if group.get(key) is not None:
                    result.unmapped.append(Unmapped(f"{filename}: {where}.{key}", _REASONS[key]))
            if group.get("interval") is not None:
                interval = read.duration(group["interval"], f"{where}.interval")
                if intervals.setdefault(name, interval) != interval:
                    result.unmapped.append(
                        Unmapped(
                            f"{filename}: {where}.interval",
                            f"group {name} already has interval {intervals[name]} from {seen_groups[name]}; "
                            f"{interval} not used",
                        )
                    )
            group_labels = read.labels(group.get("labels"), f"{where}.labels")
            for i, rule in enumerate(read.items(group.get("rules"), f"{where}.rules")):
                at = f"{where}.rules[{i}]"
                entry = _rule(read, read.mapping(rule, at, optional=False), at, name, group_labels, result)
                if "record" in entry:
                    recording.append(entry)
                elif entry["name"] in seen_alerts:
                    result.unmapped.append(
                        Unmapped(
                            f"{filename}: {at} ({entry['name']})",
                            f"an alerting rule of this name comes first ({seen_alerts[entry['name']]}); "
                            "spec rule names are unique, so this one was left out: rename it (the name "
                            "is the alertname) or join the expressions with `or`",
                        )
                    )
                else:
                    seen_alerts[entry["name"]] = f"{filename}: {at}"
                    rules.append(entry)
    if rules:
        result.fragment["rules"] = rules
    prometheus: dict[str, Any] = {}
    if intervals:
        prometheus["group_intervals"] = intervals
    if recording:
        prometheus["recording_rules"] = recording
    if prometheus:
        result.fragment["prometheus"] = prometheus
    return result


def _groups(read: Reader, data: Any, result: ImportResult) -> list[tuple[str, dict[str, Any]]]:
    if data is None:
        read.fail("", "the file is empty (expected `groups:`)")
    top = read.mapping(data, "the top level", optional=False)
    prefix = ""
    if top.get("kind") == "PrometheusRule":  # a prometheus-operator resource: the groups are under spec
        top = read.mapping(top.get("spec"), "spec", optional=False)
        prefix = "spec."
    if "groups" not in top:
        read.fail(prefix.rstrip(".") or "the top level", "no `groups:` (is this a Prometheus rule file?)")
    for key in sorted(set(top) - {"groups"}):
        if not prefix:
            result.unmapped.append(
                Unmapped(f"{read.filename}: {key}", "unknown top-level key of a rule file")
            )
    groups = read.items(top["groups"], f"{prefix}groups")
    return [
        (f"{prefix}groups[{i}]", read.mapping(group, f"{prefix}groups[{i}]", optional=False))
        for i, group in enumerate(groups)
    ]


def _rule(
    read: Reader,
    rule: dict[str, Any],
    where: str,
    group: str,
    group_labels: dict[str, str],
    result: ImportResult,
) -> dict[str, Any]:
    alert, record = rule.get("alert"), rule.get("record")
    if (alert is None) == (record is None):
        read.fail(where, "a rule needs exactly one of `alert` or `record`")
    name = read.text(
        alert if alert is not None else record, f"{where}.{'alert' if alert is not None else 'record'}"
    )
    where = f"{where} ({name})"
    if "expr" not in rule:
        read.fail(where, "missing `expr`")
    expr = read.text(rule["expr"], f"{where}.expr")
    try:
        promql_parser.parse(expr)
    except ValueError as exc:
        problem = " ".join(str(exc).split())
        read.fail(f"{where}.expr", f"not valid PromQL: {problem}")
    for key in sorted(set(rule) - _RULE_KEYS):
        result.unmapped.append(Unmapped(f"{read.filename}: {where}.{key}", "unknown rule key"))
    labels = {**group_labels, **read.labels(rule.get("labels"), f"{where}.labels")}
    kept = {k: spec_text(v) for k, v in labels.items()}
    if record is not None:
        for key in ("for", "keep_firing_for", "annotations"):
            if key in rule:
                read.fail(f"{where}.{key}", f"a recording rule takes no `{key}`")
        entry: dict[str, Any] = {
            "record": name,
            "expr": _literal(expr, f"{read.filename}: {where}.expr", result),
        }
        if kept or "labels" in rule:
            entry["labels"] = kept
        entry["group"] = group
        return entry
    entry = {"name": name, "expr": _literal(expr, f"{read.filename}: {where}.expr", result)}
    if rule.get("for") is not None:
        entry["for"] = read.duration(rule["for"], f"{where}.for")
    if kept or "labels" in rule:
        entry["labels"] = kept
    annotations = read.labels(rule.get("annotations"), f"{where}.annotations")
    if annotations or "annotations" in rule:
        entry["annotations"] = {
            k: _literal(v, f"{read.filename}: {where}.annotations.{k}", result)
            for k, v in annotations.items()
        }
    entry["group"] = group
    if rule.get("keep_firing_for") is not None:
        result.unmapped.append(
            Unmapped(f"{read.filename}: {where}.keep_firing_for", _REASONS["keep_firing_for"])
        )
    return entry


def _literal(text: str, where: str, result: ImportResult) -> str:
    written = spec_text(text)
    if written != text:
        result.notes.append(
            Note(where, "written with every $ doubled ($$), so that the spec loader reads it back unchanged")
        )
    return written
