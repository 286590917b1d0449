"""Specs that must load: the Luxima fragment, the demo, every seed example."""

from __future__ import annotations

import json
import re
from datetime import time, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from siaga.spec import SlackChannel, Spec, SpecError, load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[3]
FRAGMENT = Path(__file__).with_name("fragment.yaml")
FRAGMENT_ENV = {
    "SLACK_ALERTS_URL": "https://hooks.slack.example/alerts-SECRET1",
    "SLACK_SECURITY_URL": "https://hooks.slack.example/security-SECRET2",
    "PAGERDUTY_ROUTING_KEY": "ROUTINGKEY-SECRET3",
    "SMTP_URL": "smtp://user:SECRET4@mail.example:587",
    "OPS_WEBHOOK_URL": "https://ops.example/hook-SECRET5",
}
EXAMPLES = [*sorted((ROOT / "examples" / "seeds").glob("*.yaml")), ROOT / "examples" / "demo" / "siaga.yaml"]


def _env_for(path: Path) -> dict[str, str]:
    names = re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", path.read_text(encoding="utf-8"))
    return {name: f"value-of-{name}" for name in names}


def test_fragment_loads_with_its_env() -> None:
    spec = load_spec(FRAGMENT, env=FRAGMENT_ENV)
    assert spec.project.name == "luxima-core"
    assert spec.project.resolve_after == timedelta(minutes=5)
    assert spec.project.reopen_within == timedelta(hours=1)
    assert [s.name for s in spec.severities] == ["SEV-1", "SEV-2", "SEV-3"]
    assert spec.escalations["critical"].steps[1].after == timedelta(minutes=10)
    assert spec.routes[0].continue_ is True
    window = spec.maintenance[0].every
    assert window is not None
    assert (window.frequency, window.ordinal, window.weekday) == ("monthly", "first", 6)
    assert (window.start, window.end) == (time(2), time(4))
    alerts = spec.channels["alerts"]
    assert isinstance(alerts, SlackChannel)
    assert alerts.webhook_url.get_secret_value() == FRAGMENT_ENV["SLACK_ALERTS_URL"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_validates(path: Path) -> None:
    spec = load_spec(path, env=_env_for(path))
    assert spec.severities


def test_demo_validates_with_no_env() -> None:
    load_spec(ROOT / "examples" / "demo" / "siaga.yaml", env={})


def test_every_seed_has_an_example() -> None:
    names = {p.stem for p in (ROOT / "examples" / "seeds").glob("*.yaml")}
    assert names == {"pustani", "luxima", "inamsos", "prisma", "e1"}


def test_severity_lookup_is_case_insensitive() -> None:
    spec = load_spec(FRAGMENT, env=FRAGMENT_ENV)
    assert spec.severity("p4") is spec.severities[2]
    assert spec.severity("CRITICAL") is spec.severities[0]
    assert spec.severity("sev-2") is spec.severities[1]
    assert spec.severity("nope") is None
    assert [spec.postmortem_required(s) for s in spec.severities] == [True, True, False]


def test_masked_hides_every_secret_and_is_json() -> None:
    spec = load_spec(FRAGMENT, env=FRAGMENT_ENV)
    masked = spec.masked()
    text = json.dumps(masked)
    assert "SECRET" not in text
    assert "SECRET" not in repr(spec)
    assert "SECRET" not in str(spec)
    assert masked["channels"]["alerts"]["webhook_url"] == "********"
    assert masked["routes"][0]["continue"] is True
    assert masked["maintenance"][0]["every"] == "first sunday of month 02:00-04:00"
    assert masked["severities"][0]["ack_within"] == "10m"


def test_masked_dump_loads_back_into_a_spec() -> None:
    spec = load_spec(FRAGMENT, env=FRAGMENT_ENV)
    again = Spec.model_validate(spec.masked())
    assert again.severities == spec.severities
    assert again.routes == spec.routes


def test_interpolation_default_and_dollar_escape() -> None:
    text = FRAGMENT.read_text(encoding="utf-8").replace(
        "name: luxima-core", 'name: "${PROJECT:-luxima} costs $$5"'
    )
    spec = parse_spec(text, env=FRAGMENT_ENV)
    assert spec.project.name == "luxima costs $5"
    spec = parse_spec(text, env={**FRAGMENT_ENV, "PROJECT": "other"})
    assert spec.project.name == "other costs $5"


def test_cron_window_and_merge_keys() -> None:
    text = FRAGMENT.read_text(encoding="utf-8").replace(
        '    every: "first sunday of month 02:00-04:00"\n', '    cron: "0 2 * * sun"\n    duration: 2h\n'
    )
    spec = parse_spec(text, env=FRAGMENT_ENV)
    assert spec.maintenance[0].cron == "0 2 * * sun"
    assert spec.maintenance[0].duration == timedelta(hours=2)


def test_direct_construction_still_checks_references() -> None:
    with pytest.raises(ValidationError, match="unknown escalation 'ghost'"):
        Spec.model_validate(
            {"version": 1, "project": {"name": "x"}, "severities": [{"name": "S1", "escalation": "ghost"}]}
        )


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read file"):
        load_spec(tmp_path / "absent.yaml", env={})
