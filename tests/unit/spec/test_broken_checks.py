"""Broken checks, SLOs and rules: each names its line, field and reason (and never a secret)."""

from __future__ import annotations

import pytest

from siaga.spec import SpecError, parse_spec

BASE = """\
version: 1
project:
  name: shop
severities:
  - name: SEV-1
    aliases: [critical]
services:
  api:
    checks:
"""

CASES = [
    (
        "no kind",
        "      - {name: a}\n",
        10,
        "services.api.checks[0]",
        "a check needs exactly one of http, tcp, tls, dns, heartbeat, host, db (got none)",
    ),
    (
        "two kinds",
        "      - {name: a, tcp: {host: x, port: 1}, http: {url: 'http://x'}}\n",
        10,
        "services.api.checks[0]",
        "a check needs exactly one of http, tcp, tls, dns, heartbeat, host, db (got http, tcp)",
    ),
    (
        "cel syntax",
        "      - {name: a, http: {url: 'http://x'}, expect: ['status ==']}\n",
        10,
        "services.api.checks[0].expect[0]",
        "invalid CEL 'status ==' at column 10: Syntax error: mismatched input '<EOF>'",
    ),
    (
        "unknown variable",
        "      - {name: a, tcp: {host: x, port: 1}, expect: ['status == 200']}\n",
        10,
        "services.api.checks[0].expect",
        "'status == 200' names status, which a tcp check does not provide (it has: latency, received)",
    ),
    (
        "bad url",
        "      - {name: a, http: {url: 'ftp://x'}}\n",
        10,
        "services.api.checks[0].http.url",
        "expected an http:// or https:// URL, got 'ftp://x'",
    ),
    (
        "timeout > every",
        "      - {name: a, http: {url: 'http://x'}, every: 10s, timeout: 30s}\n",
        10,
        "services.api.checks[0].timeout",
        "must not be longer than `every`",
    ),
    (
        "unknown severity",
        "      - {name: a, http: {url: 'http://x'}, severity: SEV-9}\n",
        10,
        "services.api.checks[0].severity",
        "unknown severity 'SEV-9' (not a severity name or alias)",
    ),
    (
        "duplicate check",
        "      - {name: a, http: {url: 'http://x'}}\n      - {name: a, http: {url: 'http://y'}}\n",
        11,
        "services.api.checks[1].name",
        "duplicate check name 'a' in 'api'",
    ),
    (
        "db literal secret",
        "      - {name: a, db: {url: 'postgresql://u:pw@h/db'}}\n",
        10,
        "services.api.checks[0].db.url",
        "secrets must come from ${ENV_VAR}, not the spec text",
    ),
    (
        "heartbeat both",
        "      - {name: a, heartbeat: {period: 1d, cron: '0 2 * * *'}}\n",
        10,
        "services.api.checks[0].heartbeat.period",
        "write either `period` or `cron`",
    ),
    (
        "port range",
        "      - {name: a, tcp: {host: x, port: 70000}}\n",
        10,
        "services.api.checks[0].tcp.port",
        "input should be less than or equal to 65535",
    ),
    (
        "rule unknown signal",
        "      - {name: a, http: {url: 'http://x'}}\n"
        "rules:\n  - {name: r, signal: check.nope, condition: 'up'}\n",
        12,
        "rules[0].signal",
        "signal 'check.nope' matches no check of any service",
    ),
    (
        "rule bad variable",
        "      - {name: a, http: {url: 'http://x'}}\n"
        "rules:\n  - {name: r, signal: check.a, condition: 'cpu.percent > 1.0'}\n",
        12,
        "rules[0].condition",
        "'cpu.percent > 1.0' names cpu, which signal 'check.a' does not provide "
        "(it has: body, check, headers, json, latency, service, state, status, up, url)",
    ),
    (
        "slo unknown check",
        "      - {name: a, http: {url: 'http://x'}}\n"
        "    slos:\n      - {name: s, objective: 99.9, checks: [b]}\n",
        12,
        "services.api.slos[0].checks[0]",
        "unknown check 'b' of service 'api' (checks defined: a)",
    ),
    (
        "slo objective",
        "      - {name: a, http: {url: 'http://x'}}\n    slos:\n      - {name: s, objective: 100}\n",
        12,
        "services.api.slos[0].objective",
        "input should be less than 100",
    ),
    (
        "bad check name",
        "      - {name: 'a b', http: {url: 'http://x'}}\n",
        10,
        "services.api.checks[0].name",
        "string should match pattern '^[A-Za-z0-9_.-]+$'",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "path", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_broken_check_reports_line_path_and_message(text: str, line: int, path: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(BASE + text, filename="siaga.yaml", env={})
    assert [(i.line, i.path, i.message) for i in caught.value.issues] == [(line, path, message)]


def test_a_literal_database_password_is_not_echoed() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(BASE + "      - {name: a, db: {url: 'postgresql://u:HUNTER2@h/db'}}\n", env={})
    assert "HUNTER2" not in str(caught.value)
