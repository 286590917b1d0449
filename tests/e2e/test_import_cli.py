"""`siaga import prometheus-rules|alertmanager` as a real process on the Luxima files: the fragment on stdout
parses as YAML, the report on stderr names the placeholders, a bad file is one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.e2e.cli_helpers import Siaga, ok, user_error

FILES = Path(__file__).resolve().parents[1] / "unit" / "importers"
RULES = FILES / "luxima_rules.yml"
ROUTING = FILES / "luxima_alertmanager.yml"
SPEC = """\
# hand-written
version: 1
project: {name: luxima-core, timezone: Asia/Jakarta}
severities:
  - {name: critical}
  - {name: warning}
  - {name: info}
"""


def test_luxima_rules_print_as_spec(cli: Siaga) -> None:
    run = ok(cli("import", "prometheus-rules", RULES))
    fragment = yaml.safe_load(run.out)
    assert [rule["name"] for rule in fragment["rules"]] == [
        "HighCPULoad",
        "DatabaseDown",
        "APIErrorRateHigh",
        "TenantRLSViolation",
    ]
    assert fragment["rules"][2]["expr"] == (
        'sum(rate(http_requests_total{status_code=~"5.."}[1m])) / sum(rate(http_requests_total[1m])) > 0.05'
    )
    assert run.err_lines == [f"siaga import prometheus-rules {RULES}: 4 rules", "everything mapped"]


def test_luxima_routing_prints_as_spec_and_reports_its_placeholders(cli: Siaga) -> None:
    run = ok(cli("import", "alertmanager", ROUTING))
    fragment = yaml.safe_load(run.out)
    assert list(fragment["channels"]) == ["slack", "pagerduty", "email"]
    assert fragment["channels"]["pagerduty"]["routing_key"] == "${PAGERDUTY_API_KEY}"
    assert [route["notify"] for route in fragment["routes"]] == [
        ["pagerduty"],
        ["slack"],
        ["email"],
        ["slack"],
    ]
    for name in ("SLACK_API_URL", "PAGERDUTY_API_KEY", "SMTP_URL"):
        assert any(line.strip().startswith(f"set {name} to ") for line in run.err_lines), run
    assert "Events API v1" in run.err

    as_json = json.loads(ok(cli("import", "alertmanager", ROUTING, "--json")).out)
    assert as_json["fragment"] == fragment
    assert [p["env_var"] for p in as_json["placeholders"]] == [
        "SLACK_API_URL",
        "PAGERDUTY_API_KEY",
        "SMTP_URL",
    ]


def test_both_merge_into_a_spec_that_then_validates(cli: Siaga, tmp_path: Path) -> None:
    spec = tmp_path / "siaga.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    ok(cli("import", "alertmanager", ROUTING, "--merge", spec))
    merged = ok(cli("import", "prometheus-rules", RULES, "--merge", spec))
    assert merged.out.startswith(f"{spec}: added rule HighCPULoad, rule DatabaseDown")
    text = spec.read_text(encoding="utf-8")
    assert text.startswith(SPEC)
    env = {
        "SLACK_API_URL": "http://127.0.0.1:1/s",
        "PAGERDUTY_API_KEY": "k",
        "SMTP_URL": "smtp://127.0.0.1:1",
    }
    valid = ok(cli("validate", spec, **env))
    assert "3 channels, 4 routes" in valid.out

    again = ok(cli("import", "alertmanager", ROUTING, "--merge", spec))
    assert "channel slack already exists in the spec: kept the spec's" in again.out
    assert "already has routes" in again.out
    assert spec.read_text(encoding="utf-8") == text


def test_a_literal_secret_never_reaches_the_output(cli: Siaga, tmp_path: Path) -> None:
    config = tmp_path / "alertmanager.yml"
    secret = "https://hooks.slack.com/services/T0/B0/VERYSECRETTOKEN"
    config.write_text(
        "route: {receiver: team}\nreceivers:\n  - name: team\n"
        f"    slack_configs: [{{api_url: '{secret}'}}]\n",
        encoding="utf-8",
    )
    for args in ((), ("--json",)):
        run = ok(cli("import", "alertmanager", config, *args))
        assert "VERYSECRETTOKEN" not in run.out + run.err
        assert "TEAM_WEBHOOK_URL" in run.out


def test_bad_files_are_one_line_and_exit_2(cli: Siaga, tmp_path: Path) -> None:
    broken = tmp_path / "rules.yml"
    broken.write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: sum(rate(x[5m])\n")
    user_error(
        cli("import", "prometheus-rules", broken), "rules.yml", "groups[0] (g).rules[0] (A).expr", "PromQL"
    )
    not_yaml = tmp_path / "am.yml"
    not_yaml.write_text("route: [\n")
    user_error(cli("import", "alertmanager", not_yaml), "am.yml", "not valid YAML")
    user_error(cli("import", "alertmanager", tmp_path / "missing.yml"), "cannot read")
    user_error(cli("import", "alertmanager", RULES), "no `receivers:`")
    user_error(cli("import", "prometheus-rules", RULES, "--merge", tmp_path / "nope.yaml"), "cannot read")
