"""Prometheus rule files → `rules:` and `prometheus:`; expressions and templates byte for byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from siaga.importers import SourceError, dump_yaml, import_prometheus_rules, read_yaml

HERE = Path(__file__).parent
LUXIMA_FILE = "luxima_rules.yml"
LUXIMA_TEXT = (HERE / LUXIMA_FILE).read_text(encoding="utf-8")


def _one(groups: list[dict[str, Any]], name: str = "rules.yml") -> Any:
    return import_prometheus_rules([(name, {"groups": groups})])


def test_luxima_rules_import_unchanged() -> None:
    result = import_prometheus_rules([(LUXIMA_FILE, read_yaml(LUXIMA_TEXT, LUXIMA_FILE))])
    rules = result.fragment["rules"]
    assert [r["name"] for r in rules] == [
        "HighCPULoad",
        "DatabaseDown",
        "APIErrorRateHigh",
        "TenantRLSViolation",
    ]
    assert rules[0] == {
        "name": "HighCPULoad",
        "expr": "node_load1 > 0.9",
        "for": "5m",
        "labels": {"severity": "warning"},
        "annotations": {
            "summary": "CPU usage tinggi di {{ $labels.instance }}",
            "description": "Load CPU melebihi 90% selama lebih dari 5 menit.",
        },
        "group": "luxima-core.rules",
    }
    assert "for" not in rules[3]
    assert rules[2]["expr"] == (
        'sum(rate(http_requests_total{status_code=~"5.."}[1m])) / sum(rate(http_requests_total[1m])) > 0.05'
    )
    assert not result.unmapped
    assert not result.placeholders
    assert not result.notes
    assert "prometheus" not in result.fragment


def test_expressions_survive_the_yaml_round_trip() -> None:
    exprs = [
        'sum by (job) (rate(http_requests_total{code=~"5..", path!~"/health|/metrics"}[5m])) > 0.1',
        "up == 0\n  and on(instance)\n  node_boot_time_seconds > 0\n",
        "histogram_quantile(0.99, sum by (le) (rate(latency_bucket[5m]))) > 0.5 # comment: ok",
        'absent(up{job="it\'s"})',
    ]
    result = _one([{"name": "g", "rules": [{"alert": f"A{i}", "expr": e} for i, e in enumerate(exprs)]}])
    back = yaml.safe_load(dump_yaml(result.fragment))
    assert [r["expr"] for r in back["rules"]] == exprs


def test_recording_rules_intervals_and_group_labels() -> None:
    result = _one(
        [
            {
                "name": "recorded",
                "interval": "30s",
                "labels": {"team": "core"},
                "rules": [
                    {
                        "record": "job:http_requests:rate5m",
                        "expr": "sum by (job) (rate(http_requests_total[5m]))",
                    },
                    {
                        "alert": "Slow",
                        "expr": "job:latency:p99 > 1",
                        "for": "1w",
                        "labels": {"team": "web", "priority": 1},
                    },
                ],
            }
        ]
    )
    assert result.fragment == {
        "rules": [
            {
                "name": "Slow",
                "expr": "job:latency:p99 > 1",
                "for": "7d",
                "labels": {"team": "web", "priority": "1"},
                "group": "recorded",
            }
        ],
        "prometheus": {
            "group_intervals": {"recorded": "30s"},
            "recording_rules": [
                {
                    "record": "job:http_requests:rate5m",
                    "expr": "sum by (job) (rate(http_requests_total[5m]))",
                    "labels": {"team": "core"},
                    "group": "recorded",
                }
            ],
        },
    }


def test_unmapped_keys_are_reported_with_the_reason() -> None:
    result = _one(
        [
            {
                "name": "g",
                "limit": 10,
                "query_offset": "1m",
                "rules": [{"alert": "A", "expr": "up == 0", "keep_firing_for": "5m", "colour": "red"}],
            }
        ]
    )
    reasons = {u.location: u.reason for u in result.unmapped}
    assert set(reasons) == {
        "rules.yml: groups[0] (g).limit",
        "rules.yml: groups[0] (g).query_offset",
        "rules.yml: groups[0] (g).rules[0] (A).keep_firing_for",
        "rules.yml: groups[0] (g).rules[0] (A).colour",
    }
    assert "keep_firing_for" in reasons["rules.yml: groups[0] (g).rules[0] (A).keep_firing_for"]
    assert reasons["rules.yml: groups[0] (g).rules[0] (A).colour"] == "unknown rule key"


def test_several_files_duplicate_names_and_groups() -> None:
    first = {"groups": [{"name": "g", "interval": "1m", "rules": [{"alert": "A", "expr": "up == 0"}]}]}
    second = {"groups": [{"name": "g", "interval": "2m", "rules": [{"alert": "A", "expr": "up == 1"}]}]}
    result = import_prometheus_rules([("one.yml", first), ("two.yml", second)])
    assert [r["expr"] for r in result.fragment["rules"]] == ["up == 0"]
    assert result.fragment["prometheus"] == {"group_intervals": {"g": "1m"}}
    locations = [u.location for u in result.unmapped]
    assert locations == ["two.yml: groups[0] (g).interval", "two.yml: groups[0] (g).rules[0] (A)"]
    assert any("also in one.yml" in n.text for n in result.notes)


def test_dollar_signs_are_doubled_only_where_the_spec_would_read_them() -> None:
    result = _one(
        [
            {
                "name": "g",
                "rules": [
                    {
                        "alert": "A",
                        "expr": "up == 0",
                        "annotations": {"a": "cost ${{ $value }}", "b": "{{ $value }}"},
                    }
                ],
            }
        ]
    )
    annotations = result.fragment["rules"][0]["annotations"]
    assert annotations == {"a": "cost $${{ $$value }}", "b": "{{ $value }}"}
    assert [n.location for n in result.notes] == ["rules.yml: groups[0] (g).rules[0] (A).annotations.a"]


def test_a_prometheus_operator_resource() -> None:
    resource = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "x"},
        "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0"}]}]},
    }
    result = import_prometheus_rules([("rule.yaml", resource)])
    assert result.fragment["rules"] == [{"name": "A", "expr": "up == 0", "group": "g"}]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "rules.yml: the file is empty"),
        ({"rules": []}, "rules.yml: the top level: no `groups:`"),
        ({"groups": {"name": "g"}}, "rules.yml: groups: expected a list, got a mapping"),
        ({"groups": [{"rules": []}]}, "rules.yml: groups[0]: a rule group needs a name"),
        (
            {"groups": [{"name": "g", "rules": [{"expr": "up"}]}]},
            "groups[0] (g).rules[0]: a rule needs exactly one",
        ),
        (
            {"groups": [{"name": "g", "rules": [{"alert": "A"}]}]},
            "groups[0] (g).rules[0] (A): missing `expr`",
        ),
        (
            {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "sum(rate(x[5m]) > 1"}]}]},
            "rules.yml: groups[0] (g).rules[0] (A).expr: not valid PromQL: ",
        ),
        (
            {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up", "for": "soon"}]}]},
            "'soon' is not a duration",
        ),
        (
            {"groups": [{"name": "g", "rules": [{"record": "r", "expr": "up", "for": "1m"}]}]},
            "a recording rule takes no `for`",
        ),
        (
            {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": ["up"]}]}]},
            "expr: expected a string, got a list",
        ),
        (
            {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up", "labels": ["x"]}]}]},
            "labels: expected a mapping",
        ),
    ],
)
def test_malformed_rule_files_name_the_file_and_the_place(data: Any, message: str) -> None:
    with pytest.raises(SourceError) as caught:
        import_prometheus_rules([("rules.yml", data)])
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
