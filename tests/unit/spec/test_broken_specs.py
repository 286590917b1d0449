"""Broken specs: each yields an issue with the right line, dotted path and a human message."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from siaga.spec import SpecError, SpecIssue, parse_spec

# Line numbers of BASE: 1 version, 2 project, 3 name, 4 people, 5 ana, 6 channels, 7 hook,
# 8 severities, 9 SEV-1, 10 aliases; text appended to it starts on line 11.
BASE = """\
version: 1
project:
  name: shop
people:
  ana: {email: ana@x.id}
channels:
  hook: {type: webhook, url: "${HOOK_URL}"}
severities:
  - name: SEV-1
    aliases: [critical]
"""
ENV = {"HOOK_URL": "https://hooks.example/HOOKSECRET"}


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    line: int
    path: str
    message: str
    env: dict[str, str] = field(default_factory=lambda: dict(ENV))


def _swap(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new)


CASES = [
    Case(
        "unknown key",
        BASE + "routes:\n  - notify: [hook]\n    colour: red\n",
        13,
        "routes[0].colour",
        "unknown key 'colour' (allowed: match, match_re, matchers, notify, escalation, continue, group_by, "
        "group_wait, group_interval, repeat_interval, receiver)",
    ),
    Case("wrong type", BASE + "routes: hook\n", 11, "routes", "expected a list, got a string"),
    Case(
        "string expected",
        BASE + "services:\n  api: {description: [a, b]}\n",
        12,
        "services.api.description",
        "expected a string, got a list",
    ),
    Case(
        "bad duration",
        BASE + "escalations:\n  e:\n    steps:\n      - after: 10x\n        notify: [hook]\n",
        14,
        "escalations.e.steps[0].after",
        "invalid duration '10x': use a number followed by ms, s, m, h or d",
    ),
    Case(
        "unknown severity in route match",
        BASE + "routes:\n  - match: {severity: SEV-9}\n",
        12,
        "routes[0].match.severity",
        "unknown severity 'SEV-9' (not a severity name or alias)",
    ),
    Case(
        "duplicate severity alias",
        BASE + "  - name: SEV-2\n    aliases: [Critical]\n",
        12,
        "severities[1].aliases[0]",
        "duplicate severity name or alias 'Critical' (already used by SEV-1)",
    ),
    Case(
        "missing env var",
        BASE,
        7,
        "channels.hook.url",
        "environment variable HOOK_URL is not set (write ${HOOK_URL:-default} to give a default)",
        env={},
    ),
    Case(
        "duplicate yaml key",
        BASE + "people:\n  bob: {}\n",
        11,
        "people",
        "duplicate key 'people' (first written on line 4)",
    ),
    Case(
        "dangling channel",
        BASE + "routes:\n  - notify: [pager]\n",
        12,
        "routes[0].notify[0]",
        "unknown notify target 'pager': not a channel, person or oncall:schedule",
    ),
    Case(
        "schedule member not a person",
        BASE + "schedules:\n  ops: {rotation: daily, handoff: '09:00', members: [ana, zed]}\n",
        12,
        "schedules.ops.members[1]",
        "unknown person 'zed': schedule members must be people (people defined: ana)",
    ),
    Case(
        "dangling schedule",
        BASE + "routes:\n  - notify: ['oncall:nobody']\n",
        12,
        "routes[0].notify[0]",
        "unknown schedule 'nobody' in 'oncall:nobody' (schedules defined: none)",
    ),
    Case(
        "dangling escalation in route",
        BASE + "routes:\n  - escalation: ghost\n",
        12,
        "routes[0].escalation",
        "unknown escalation 'ghost' (escalations defined: none)",
    ),
    Case(
        "dangling escalation in severity",
        BASE + "    escalation: ghost\n",
        11,
        "severities[0].escalation",
        "unknown escalation 'ghost' (escalations defined: none)",
    ),
    Case(
        "dangling service in depends_on",
        BASE + "services:\n  api: {depends_on: [db]}\n",
        12,
        "services.api.depends_on[0]",
        "unknown service 'db' (services defined: api)",
    ),
    Case(
        "dependency cycle",
        BASE + "services:\n  a: {depends_on: [b]}\n  b: {depends_on: [a]}\n",
        13,
        "services.b.depends_on[0]",
        "dependency cycle: a -> b -> a",
    ),
    Case(
        "self dependency",
        BASE + "services:\n  a: {depends_on: [a]}\n",
        12,
        "services.a.depends_on[0]",
        "service 'a' cannot depend on itself",
    ),
    Case(
        "name both channel and person",
        _swap("  ana: {email: ana@x.id}\n", "  ana: {email: ana@x.id}\n  hook: {email: h@x.id}\n"),
        8,
        "channels.hook",
        "'hook' is both a channel and a person; notify targets would be ambiguous, rename one",
    ),
    Case(
        "yaml syntax error",
        BASE + "routes:\n  - notify: [hook\n  - x: 1\n",
        13,
        "",
        "invalid YAML: expected ',' or ']', but got ':' (while parsing a flow sequence)",
    ),
    Case(
        "tab indentation",
        BASE + "routes:\n\t- notify: [hook]\n",
        12,
        "",
        "tab character found: indent YAML with spaces, not tabs",
    ),
    Case(
        "literal secret",
        _swap('"${HOOK_URL}"', "https://hooks.example/LITERALSECRET"),
        7,
        "channels.hook.url",
        "secrets must come from ${ENV_VAR}, not the spec text",
    ),
    Case(
        "bad timezone",
        _swap("  name: shop\n", "  name: shop\n  timezone: Mars/Olympus\n"),
        4,
        "project.timezone",
        "unknown time zone 'Mars/Olympus': use an IANA name such as 'Asia/Jakarta' or 'UTC'",
    ),
    Case(
        "bad maintenance phrase",
        BASE + "maintenance:\n  - name: w\n    every: second blue moon 01:00\n",
        13,
        "maintenance[0].every",
        "cannot read maintenance phrase 'second blue moon 01:00': write 'every day HH:MM-HH:MM', "
        "'every <weekday> HH:MM-HH:MM' or '<first|second|third|fourth|last> <weekday> of month HH:MM-HH:MM'",
    ),
    Case(
        "bad cron",
        BASE + "maintenance:\n  - name: w\n    cron: '61 * * * *'\n    duration: 1h\n",
        13,
        "maintenance[0].cron",
        "invalid cron '61 * * * *': bad minute field '61' (allowed 0-59)",
    ),
    Case(
        "bad regex in match_re",
        BASE + "routes:\n  - match_re: {service: 'api(('}\n",
        12,
        "routes[0].match_re.service",
        "invalid regular expression 'api((': missing ), unterminated subpattern at position 4",
    ),
    Case(
        "decreasing step delays",
        BASE + "escalations:\n  e:\n    steps:\n      - after: 10m\n        notify: [hook]\n"
        "      - after: 5m\n        notify: [ana]\n",
        16,
        "escalations.e.steps[1].after",
        "step delay '5m' is earlier than the previous step's '10m'; steps must not go back in time",
    ),
    Case(
        "environment not in project.environments",
        BASE + "services:\n  api: {environment: prod}\n",
        12,
        "services.api.environment",
        "unknown environment 'prod' (project.environments: production)",
    ),
    Case(
        "missing required field",
        _swap("  name: shop\n", "  timezone: UTC\n"),
        2,
        "project.name",
        "missing required key 'name'",
    ),
    Case(
        "version 2",
        _swap("version: 1", "version: 2"),
        1,
        "version",
        "unsupported spec version 2: this Siaga reads version 1",
    ),
    Case(
        "unknown channel type",
        _swap("  hook: {type: webhook", "  sms: {type: sms}\n  hook: {type: webhook"),
        7,
        "channels.sms",
        "unknown type 'sms' (allowed: 'slack', 'telegram', 'pagerduty', 'email', 'webhook', 'apprise')",
    ),
    Case(
        "custom rotation needs shift_length",
        BASE + "schedules:\n  ops: {rotation: custom, handoff: '09:00', members: [ana]}\n",
        12,
        "schedules.ops.shift_length",
        "a custom rotation needs shift_length",
    ),
    Case(
        "weekly hand-off needs a weekday",
        BASE + "schedules:\n  ops: {rotation: weekly, handoff: '09:00', members: [ana]}\n",
        12,
        "schedules.ops.handoff",
        "invalid hand-off '09:00' for a weekly rotation: write '<weekday> HH:MM', e.g. 'monday 09:00'",
    ),
    Case(
        "duplicate maintenance name",
        BASE
        + "maintenance:\n"
        + "  - {name: w, every: every day 01:00-02:00}\n"
        + "  - {name: w, every: every day 03:00-04:00}\n",
        13,
        "maintenance[1].name",
        "duplicate maintenance window name 'w'",
    ),
    Case(
        "maintenance for unknown service",
        BASE + "maintenance:\n  - {name: w, every: every monday 01:00-02:00, services: [db]}\n",
        12,
        "maintenance[0].services[0]",
        "unknown service 'db' (services defined: none)",
    ),
    Case(
        "empty step notify",
        BASE + "escalations:\n  e:\n    steps:\n      - notify: []\n",
        14,
        "escalations.e.steps[0].notify",
        "needs at least 1 item",
    ),
    Case("empty file", "", 1, "", "the spec is empty"),
    Case(
        "top level not a mapping", "- a\n- b\n", 1, "", "expected a mapping of sections (version, project, …)"
    ),
    Case(
        "invalid interpolation",
        _swap('"${HOOK_URL}"', '"${HOOK URL}"'),
        7,
        "channels.hook.url",
        "invalid reference '${HOOK URL}': write ${VAR} or ${VAR:-default}",
    ),
]


def _issues(text: str, env: dict[str, str]) -> list[SpecIssue]:
    with pytest.raises(SpecError) as caught:
        parse_spec(text, filename="siaga.yaml", env=env)
    return caught.value.issues


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_broken_spec_reports_line_path_and_message(case: Case) -> None:
    issues = _issues(case.text, case.env)
    assert [(i.line, i.path, i.message) for i in issues] == [(case.line, case.path, case.message)]
    assert issues[0].file == "siaga.yaml"
    assert issues[0].column >= 1


def test_case_count() -> None:
    assert len({c.id for c in CASES}) >= 24


def test_secret_values_never_appear_in_errors() -> None:
    text = _swap('"${HOOK_URL}"', "https://hooks.example/LITERALSECRET") + "routes: hook\n"
    with pytest.raises(SpecError) as caught:
        parse_spec(text, env=ENV)
    assert "LITERALSECRET" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


def test_several_errors_reported_together_sorted_by_line() -> None:
    text = _swap("  name: shop\n", "  name: shop\n  colour: blue\n") + (
        "routes:\n"
        "  - notify: [pager]\n"
        "    escalation: ghost\n"
        "services:\n"
        "  api: {environment: prod, depends_on: [api]}\n"
        "maintenance:\n"
        "  - name: w\n"
        "    every: sometimes\n"
    )
    issues = _issues(text, {})
    assert [(i.line, i.path) for i in issues] == [
        (4, "project.colour"),
        (8, "channels.hook.url"),
        (13, "routes[0].notify[0]"),
        (14, "routes[0].escalation"),
        (16, "services.api.environment"),
        (16, "services.api.depends_on[0]"),
        (19, "maintenance[0].every"),
    ]


def test_issue_and_error_format() -> None:
    issue = SpecIssue("siaga.yaml", 3, 5, "routes[2].escalation", "unknown escalation 'x'")
    assert str(issue) == "siaga.yaml:3:5: routes[2].escalation: unknown escalation 'x'"
    error = SpecError([issue, SpecIssue("siaga.yaml", 1, 1, "version", "bad")])
    assert str(error).splitlines() == ["siaga.yaml:1:1: version: bad", str(issue)]
