"""Merging imported sections into a spec's text: comments and layout kept, conflicts keep the spec's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import siaga.importers
from siaga.importers import (
    SourceError,
    import_alertmanager,
    import_prometheus_rules,
    merge_into_spec,
    read_yaml,
)
from siaga.spec import parse_spec

HERE = Path(__file__).parent
ENV = {
    "SLACK_ALERTS_URL": "https://hooks.example/a",
    "SLACK_API_URL": "https://hooks.example/b",
    "PAGERDUTY_API_KEY": "k",
    "PAGERDUTY_ROUTING_KEY": "k",
    "SMTP_URL": "smtp://127.0.0.1:25",
}
BASE = """\
# Luxima, by hand.
version: 1
project: {name: luxima-core, timezone: Asia/Jakarta}
severities:
  - name: critical  # pages
  - name: warning
  - name: info
channels:
  alerts: {type: slack, webhook_url: "${SLACK_ALERTS_URL}"}  # the main room
  pagerduty: {type: pagerduty, routing_key: "${PAGERDUTY_ROUTING_KEY}"}
# the end
"""


def _luxima(name: str) -> Any:
    return read_yaml((HERE / name).read_text(encoding="utf-8"), name)


def _rules() -> dict[str, Any]:
    return import_prometheus_rules([("luxima_rules.yml", _luxima("luxima_rules.yml"))]).fragment


def _routing() -> dict[str, Any]:
    return import_alertmanager(
        _luxima("luxima_alertmanager.yml"), filename="luxima_alertmanager.yml"
    ).fragment


def test_the_public_surface() -> None:
    assert sorted(siaga.importers.__all__) == [
        "ImportResult",
        "MergeOutcome",
        "Note",
        "Placeholder",
        "SourceError",
        "Unmapped",
        "dump_yaml",
        "format_report",
        "import_alertmanager",
        "import_prometheus_rules",
        "merge_into_spec",
        "read_yaml",
    ]


def test_routing_merges_around_what_the_spec_has_and_keeps_its_comments() -> None:
    outcome = merge_into_spec(BASE, _routing(), filename="siaga.yaml")
    assert outcome.text.startswith(BASE.split("# the end")[0])
    assert "# the end" in outcome.text
    assert "  pagerduty: {type: pagerduty" in outcome.text  # the spec's own, untouched
    assert outcome.conflicts == ["channel pagerduty already exists in the spec: kept the spec's"]
    assert outcome.added == ["channel slack", "channel email", "4 routes"]
    assert outcome.routes_left_out == []
    merged = yaml.safe_load(outcome.text)
    assert list(merged["channels"]) == ["alerts", "pagerduty", "slack", "email"]
    assert merged["channels"]["slack"]["webhook_url"] == "${SLACK_API_URL}"
    assert merged["routes"][0] == {"match": {"severity": "critical"}, "notify": ["pagerduty"]}
    spec = parse_spec(outcome.text, "siaga.yaml", env=ENV)
    assert [route.notify for route in spec.routes] == [["pagerduty"], ["slack"], ["email"], ["slack"]]


def test_routes_are_left_out_when_the_spec_has_some() -> None:
    text = BASE + "routes:\n  - notify: [alerts]\n"
    outcome = merge_into_spec(text, _routing(), filename="siaga.yaml")
    assert outcome.routes_left_out == _routing()["routes"]
    assert yaml.safe_load(outcome.text)["routes"] == [{"notify": ["alerts"]}]


def test_rules_merge_into_a_new_section_and_load() -> None:
    outcome = merge_into_spec(BASE, _rules(), filename="siaga.yaml")
    assert outcome.text.startswith(BASE)
    assert outcome.added == [
        "rule HighCPULoad",
        "rule DatabaseDown",
        "rule APIErrorRateHigh",
        "rule TenantRLSViolation",
    ]
    spec = parse_spec(outcome.text, "siaga.yaml", env=ENV)
    assert spec.rules[2].expr == _rules()["rules"][2]["expr"]
    assert spec.rules[0].annotations["summary"] == "CPU usage tinggi di {{ $labels.instance }}"
    again = merge_into_spec(outcome.text, _rules(), filename="siaga.yaml")
    assert again.text == outcome.text
    assert len(again.conflicts) == 4


def test_empty_flow_and_nested_sections() -> None:
    text = (
        "version: 1\nchannels: {}\nrules:\nprometheus:\n  listen: 127.0.0.1:9090\n"
        "  group_intervals:\n    old: 1m\ninhibit: []\n"
    )
    fragment = {
        "channels": {"a": {"type": "webhook", "url": "${A}"}},
        "rules": [{"name": "R", "expr": "up == 0", "group": "g"}],
        "prometheus": {
            "group_intervals": {"old": "2m", "g": "30s"},
            "recording_rules": [{"record": "x:y", "expr": "sum(up)", "group": "g"}],
        },
        "inhibit": [{"source": ['a="1"'], "target": ['b="2"']}],
    }
    outcome = merge_into_spec(text, fragment, filename="siaga.yaml")
    assert yaml.safe_load(outcome.text) == {
        "version": 1,
        "channels": {"a": {"type": "webhook", "url": "${A}"}},
        "rules": [{"name": "R", "expr": "up == 0", "group": "g"}],
        "prometheus": {
            "listen": "127.0.0.1:9090",
            "group_intervals": {"old": "1m", "g": "30s"},
            "recording_rules": [{"record": "x:y", "expr": "sum(up)", "group": "g"}],
        },
        "inhibit": [{"source": ['a="1"'], "target": ['b="2"']}],
    }
    assert outcome.conflicts == ["group old already has interval 1m in the spec: kept the spec's"]


def test_a_spec_without_a_final_newline_and_zero_indented_lists() -> None:
    text = "version: 1\nrules:\n- name: Old\n  expr: up\n  group: g"
    outcome = merge_into_spec(
        text, {"rules": [{"name": "New", "expr": "up == 0", "group": "g"}]}, filename="s"
    )
    assert [r["name"] for r in yaml.safe_load(outcome.text)["rules"]] == ["Old", "New"]


@pytest.mark.parametrize("text", ["- a\n- b\n", "a: [\n", "just text\n"])
def test_a_spec_that_is_not_a_mapping_is_an_error(text: str) -> None:
    with pytest.raises(SourceError, match=r"^siaga\.yaml: "):
        merge_into_spec(text, _rules(), filename="siaga.yaml")
