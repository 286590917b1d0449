"""Every example spec renders to files the real tools accept: promtool, amtool, blackbox_exporter."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from siaga.render.files import load_for_render, render, write
from siaga.spec import parse_spec

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").rglob("siaga.yaml")) + sorted(
    (ROOT / "examples" / "seeds").glob("*.yaml")
)


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("spec_path", EXAMPLES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_example_renders_to_valid_configs(spec_path: Path, tmp_path: Path) -> None:
    rendered = render(load_for_render(spec_path))
    write(rendered, tmp_path)

    config = _run("promtool", "check", "config", str(tmp_path / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr
    rules = sorted((tmp_path / "rules").glob("*.yml")) if (tmp_path / "rules").exists() else []
    if rules:
        checked = _run("promtool", "check", "rules", *map(str, rules))
        assert checked.returncode == 0, checked.stdout + checked.stderr
    am = _run("amtool", "check-config", str(tmp_path / "alertmanager.yml"))
    assert am.returncode == 0, am.stdout + am.stderr
    bb = _run("prometheus-blackbox-exporter", "--config.check", f"--config.file={tmp_path / 'blackbox.yml'}")
    assert bb.returncode == 0, bb.stderr
    assert "SUCCESS" in config.stdout


def test_luxima_rules_are_rendered_unchanged(tmp_path: Path) -> None:
    spec = load_for_render(ROOT / "examples" / "seeds" / "luxima.yaml")
    text = render(spec).files["rules/luxima-core.rules.yml"].decode()
    assert (
        'expr: sum(rate(http_requests_total{status_code=~"5.."}[1m])) / '
        "sum(rate(http_requests_total[1m])) > 0.05" in text
    )
    assert "summary: CPU usage tinggi di {{ $labels.instance }}" in text


def test_same_spec_gives_byte_identical_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = ROOT / "examples" / "seeds" / "luxima.yaml"
    first = render(load_for_render(path)).files
    monkeypatch.setenv("SLACK_ALERTS_URL", "https://hooks.slack.test/T000/B000/secret-value")
    second = render(load_for_render(path)).files
    assert first == second
    assert not any(b"secret-value" in content for content in second.values())


SPEC = """
version: 1
project: {{name: t, timezone: Asia/Jakarta}}
severities:
  - {{name: SEV-1, aliases: [critical, P0]}}
  - {{name: SEV-3}}
channels:
  ops: {{type: webhook, url: "${{HOOK_URL:-http://127.0.0.1:1/hook}}"}}
routes:
  - {{match: {{severity: critical}}, notify: [ops]}}
services:
  web:
    checks:
      - name: home
        via: blackbox
        {check}
maintenance:
  - {{name: late, every: "every saturday 23:00-01:30", services: ["*"]}}
  - {{name: nightly, cron: "30 23 * * 1,3", duration: 3h, services: [web]}}
"""


def test_blackbox_module_alert_and_windows_pass_the_tools(tmp_path: Path) -> None:
    check = (
        'http: {url: "https://example.test/health"}\n'
        '        expect: ["status in [200, 204]", \'latency < duration("1500ms")\']'
    )
    spec = parse_spec(SPEC.format(check=check))
    rendered = render(spec)
    write(rendered, tmp_path)
    modules = rendered.files["blackbox.yml"].decode()
    assert "valid_status_codes:\n      - 200\n      - 204" in modules
    alerts = rendered.files["rules/siaga-checks.yml"].decode()
    assert 'probe_duration_seconds{service="web", check="home"} >= 1.5' in alerts
    am = rendered.files["alertmanager.yml"].decode()
    assert 'severity=~"SEV-1|critical|P0"' in am
    # A window across midnight is two pieces, the second on the next day.
    assert "start_time: '23:00'" in am
    assert "end_time: '24:00'" in am
    assert "- sunday" in am
    assert _run("amtool", "check-config", str(tmp_path / "alertmanager.yml")).returncode == 0
    assert _run("promtool", "check", "rules", str(tmp_path / "rules" / "siaga-checks.yml")).returncode == 0
    bb = _run("prometheus-blackbox-exporter", "--config.check", f"--config.file={tmp_path / 'blackbox.yml'}")
    assert bb.returncode == 0, bb.stderr


def test_a_condition_blackbox_cannot_evaluate_is_a_load_error() -> None:
    from siaga.spec import SpecError

    check = 'http: {url: "https://example.test/"}\n        expect: [\'body.contains("ok")\']'
    with pytest.raises(SpecError) as error:
        parse_spec(SPEC.format(check=check))
    assert "blackbox_exporter cannot evaluate 'body.contains(\"ok\")'" in str(error.value)
