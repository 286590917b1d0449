"""Import an Alertmanager config, render it back, and route label sets through both with the real
`amtool config routes test`: the same receivers every time."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siaga.importers.alertmanager import import_alertmanager
from siaga.render.alertmanager import alertmanager_yml
from siaga.spec import parse_spec

ROOT = Path(__file__).resolve().parents[3]
LUXIMA = ROOT / "tests" / "unit" / "importers" / "luxima_alertmanager.yml"
# The Luxima file as written lacks the Slack API URL and SMTP settings, so Alertmanager cannot load it;
# these globals make it loadable without touching its routes.
LOADABLE = {
    "slack_api_url": "http://127.0.0.1:1/slack",
    "smtp_smarthost": "127.0.0.1:25",
    "smtp_from": "alertmanager@luxima.test",
}
# A richer tree: matchers lists, regexes, a `continue`, nested routes, a null receiver.
RICHER = """
route:
  receiver: default
  routes:
    - matchers: ['category="security"']
      receiver: security
      continue: true
    - match_re: {service: "auth-.*|api-gateway"}
      receiver: core
      routes:
        - matchers: ['severity="critical"', 'environment!="staging"']
          receiver: core-pager
        - match: {severity: info}
          receiver: blackhole
    - matchers: ['severity=~"warning|info"']
      receiver: tickets
receivers:
  - {name: default, webhook_configs: [{url: "http://127.0.0.1:1/default"}]}
  - {name: security, webhook_configs: [{url: "http://127.0.0.1:1/security"}]}
  - {name: core, webhook_configs: [{url: "http://127.0.0.1:1/core"}]}
  - {name: core-pager, webhook_configs: [{url: "http://127.0.0.1:1/pager"}]}
  - {name: tickets, webhook_configs: [{url: "http://127.0.0.1:1/tickets"}]}
  - {name: blackhole}
"""
HEAD = """
version: 1
project: {name: roundtrip, timezone: UTC}
severities: [{name: critical}, {name: warning}, {name: info}]
"""
LABELS = {
    "severity": ["critical", "warning", "info", "SEV-1", "Critical", ""],
    "category": ["security", "billing", ""],
    "service": ["auth-api", "api-gateway", "auth-", "minio", ""],
    "environment": ["production", "staging", ""],
    "alertname": ["DatabaseDown", "HighCPULoad"],
}


def _receivers(config: Path, labels: dict[str, str]) -> list[str]:
    pairs = [f"{k}={v}" for k, v in sorted(labels.items())]
    done = subprocess.run(
        ["amtool", "config", "routes", "test", f"--config.file={config}", *pairs],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return sorted(done.stdout.strip().split(","))


def _round_trip(original: dict[str, Any], workdir: Path) -> tuple[Path, Path]:
    imported = import_alertmanager(original, filename="alertmanager.yml")
    fragment = {key: imported.fragment[key] for key in ("channels", "routes") if key in imported.fragment}
    spec_text = HEAD + yaml.safe_dump(fragment, sort_keys=False)
    env = dict.fromkeys(("SLACK_API_URL", "PAGERDUTY_API_KEY", "SMTP_URL"), "http://127.0.0.1:1/x")
    env |= {p.env_var: "smtp://127.0.0.1:25" for p in imported.placeholders}
    spec = parse_spec(spec_text, env=env)
    rendered, _notes = alertmanager_yml(spec)
    before, after = workdir / "original.yml", workdir / "rendered.yml"
    before.write_text(yaml.safe_dump(original))
    after.write_text(rendered)
    (workdir / "siaga-webhook.token").write_text("t")
    for path in (before, after):
        checked = subprocess.run(
            ["amtool", "check-config", str(path)], capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
    return before, after


label_sets = st.fixed_dictionaries({}, optional={k: st.sampled_from(v) for k, v in LABELS.items()}).map(
    lambda d: {k: v for k, v in d.items() if v} or {"alertname": "Empty"}
)


def _check_same(tmp_path_factory: Any, original: dict[str, Any], name: str) -> None:
    before, after = _round_trip(original, tmp_path_factory.mktemp(name))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(labels=label_sets)
    def same(labels: dict[str, str]) -> None:
        assert _receivers(after, labels) == _receivers(before, labels), labels

    same()


def test_luxima_routing_round_trips_through_amtool(tmp_path_factory: Any) -> None:
    original = yaml.safe_load(LUXIMA.read_text())
    original["global"] = LOADABLE
    _check_same(tmp_path_factory, original, "luxima")


def test_a_nested_tree_round_trips_through_amtool(tmp_path_factory: Any) -> None:
    _check_same(tmp_path_factory, yaml.safe_load(RICHER), "richer")
