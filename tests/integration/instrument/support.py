"""Reading /metrics back as numbers."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The Prometheus exposition ``text`` as {(sample name, labels): value}; raises if it does not parse."""
    found: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, frozenset(sample.labels.items())] = sample.value
    return found


def requests_counted(text: str) -> dict[tuple[str, str, str], float]:
    """``http_requests_total`` from ``text`` as {(method, route, status_code): count}."""
    counted = {}
    for (name, labels), value in samples(text).items():
        if name == "http_requests_total":
            label = dict(labels)
            counted[label["method"], label["route"], label["status_code"]] = value
    return counted


def durations_counted(text: str) -> dict[tuple[str, str], float]:
    """``http_request_duration_seconds_count`` from ``text`` as {(method, route): count}."""
    counted = {}
    for (name, labels), value in samples(text).items():
        if name == "http_request_duration_seconds_count":
            label = dict(labels)
            counted[label["method"], label["route"]] = value
    return counted
