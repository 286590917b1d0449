"""The `siaga` command end to end: every call is the real console script in a subprocess.

Covers spec validation (file:line:col errors), user mistakes (one `siaga: error:` line, exit 2, never a
traceback), the local SQLite workflow (tokens, alerts, incidents, post-mortems, stats) and the same
commands against a running `siaga run` with `--server URL --token T` (401/403 as one line).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import FRAGMENT, ROOT, SPEC_ENV
from tests.e2e.cli_helpers import (
    CLI_ACTOR,
    Run,
    Siaga,
    cli_env,
    free_port,
    no_traceback,
    ok,
    running_server,
    siaga,
    user_error,
)
from tests.unit.spec.test_broken_specs import BASE, ENV

DEMO = ROOT / "examples" / "demo" / "siaga.yaml"
TOKEN_RE = re.compile(r"^siaga_[A-Za-z0-9_-]+$")


# -- 1. siaga validate -----------------------------------------------------------------------------


def test_validate_accepts_the_fragment_and_the_demo(cli: Siaga) -> None:
    fragment = ok(cli("validate", FRAGMENT))
    assert fragment.out.strip() == f"{FRAGMENT}: valid (2 services, 3 severities, 5 channels, 4 routes)"
    assert fragment.err == ""
    # The demo promises to validate with no environment set: every secret has a default.
    demo = ok(cli("validate", DEMO, spec_env=False))
    assert demo.out.strip() == f"{DEMO}: valid (3 services, 3 severities, 2 channels, 3 routes)"


# BASE and its env are shared with the spec tests: text appended to BASE starts on line 11.
HOOK_ENV = dict(ENV)


@dataclass(frozen=True)
class Broken:
    id: str
    text: str
    line: int
    path: str  # the dotted field; "" for YAML-level problems
    message: str
    env: dict[str, str] = field(default_factory=lambda: dict(HOOK_ENV))


BROKEN = [
    Broken(
        "unknown key",
        BASE + "routes:\n  - notify: [hook]\n    colour: red\n",
        13,
        "routes[0].colour",
        "unknown key 'colour'",
    ),
    Broken(
        "bad duration",
        BASE + "escalations:\n  e:\n    steps:\n      - after: 10x\n        notify: [hook]\n",
        14,
        "escalations.e.steps[0].after",
        "invalid duration '10x'",
    ),
    Broken(
        "missing env var",
        BASE,
        7,
        "channels.hook.url",
        "environment variable HOOK_URL is not set",
        env={},
    ),
    Broken(
        "dangling channel",
        BASE + "routes:\n  - notify: [pager]\n",
        12,
        "routes[0].notify[0]",
        "unknown notify target 'pager'",
    ),
    Broken(
        "yaml syntax error",
        BASE + "routes:\n  - notify: [hook\n  - x: 1\n",
        13,
        "",
        "invalid YAML",
    ),
    Broken(
        "tab indentation",
        BASE + "routes:\n\t- notify: [hook]\n",
        12,
        "",
        "tab character found",
    ),
    Broken(
        "duplicate yaml key",
        BASE + "people:\n  bob: {}\n",
        11,
        "people",
        "duplicate key 'people' (first written on line 4)",
    ),
    Broken(
        "literal secret",
        BASE.replace('"${HOOK_URL}"', "https://hooks.example/LITERALSECRET"),
        7,
        "channels.hook.url",
        "secrets must come from ${ENV_VAR}",
    ),
]


@pytest.mark.parametrize("case", BROKEN, ids=lambda c: c.id)
def test_validate_broken_spec_is_file_line_col(tmp_path: Path, data_dir: Path, case: Broken) -> None:
    spec = tmp_path / "broken.yaml"
    spec.write_text(case.text, encoding="utf-8")
    env = cli_env(data_dir, spec_env=False, **case.env)
    run = siaga("validate", spec, env=env, cwd=tmp_path)
    no_traceback(run)
    assert run.code == 2, run
    assert run.out == "", run
    assert len(run.err_lines) == 1, run
    where = f"{case.path}: " if case.path else ""
    pattern = rf"^{re.escape(str(spec))}:{case.line}:\d+: {re.escape(where)}\S"
    assert re.match(pattern, run.err_lines[0]), run
    assert case.message in run.err_lines[0], run
    for secret in ("LITERALSECRET", "HOOKSECRET"):
        assert secret not in run.out + run.err, run


def test_validate_a_missing_file_is_one_line(cli: Siaga) -> None:
    run = cli("validate", "no-such-spec.yaml")
    no_traceback(run)
    assert run.code == 2, run
    assert len(run.err_lines) == 1, run
    assert run.err_lines[0].startswith("no-such-spec.yaml:"), run
    assert "cannot read file" in run.err_lines[0], run


# -- 2. user mistakes: one line on stderr, exit 2, no traceback ------------------------------------


@dataclass(frozen=True)
class Mistake:
    id: str
    args: tuple[str, ...]
    says: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)


MISTAKES = [
    Mistake("unknown command", ("frobnicate",), ("frobnicate",)),
    Mistake("unknown option", ("incidents", "list", "--colour"), ("--colour",)),
    Mistake("id not a number", ("incidents", "ack", "notanumber"), ("incident_id", "integer")),
    Mistake("bad role", ("token", "create", "--role", "superuser", "--name", "x"), ("superuser",)),
    Mistake("label without =", ("alert", "send", "--label", "noequals"), ("noequals", "name=value")),
    Mistake("label without alertname", ("alert", "send", "--label", "service=x"), ("alertname",)),
    Mistake("bad status filter", ("incidents", "list", "--status", "sleeping"), ("sleeping",)),
    Mistake("server without token", ("incidents", "list", "--server", "http://127.0.0.1:9"), ("--token",)),
    Mistake("bad setting", ("incidents", "list"), ("SIAGA_METRICS", "weird"), {"SIAGA_METRICS": "weird"}),
    Mistake("unknown incident", ("incidents", "show", "999"), ("999", "not found")),
    Mistake(
        "unreadable post-mortem file",
        ("incidents", "postmortem", "1", "--attach", "missing.md"),
        ("missing.md",),
    ),
]


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.id)
def test_user_mistake_is_one_line_and_exit_2(cli: Siaga, mistake: Mistake) -> None:
    user_error(cli(*mistake.args, **mistake.env), *mistake.says)


def test_unreachable_server_is_one_line(cli: Siaga) -> None:
    port = free_port()  # nobody listens there
    url = f"http://127.0.0.1:{port}"
    user_error(cli("incidents", "list", "--server", url, "--token", "t"), "cannot reach the server")


def test_no_arguments_prints_usage_not_a_traceback(cli: Siaga) -> None:
    run = cli()
    no_traceback(run)
    assert "Usage: siaga" in run.out + run.err, run
    assert run.code in {0, 2}, run


def test_command_needing_a_spec_without_one_says_which_file(cli: Siaga) -> None:
    """No --config, no $SIAGA_CONFIG and no ./siaga.yaml (cwd is an empty tmp dir)."""
    run = cli("alert", "send", "--label", "alertname=NoSpec")
    no_traceback(run)
    assert run.code == 2, run
    assert len(run.err_lines) == 1, run
    assert run.err_lines[0].startswith("siaga.yaml:"), run
    assert "cannot read file" in run.err_lines[0], run


# -- 3. the local workflow on SQLite ---------------------------------------------------------------


def test_tokens_create_list_revoke(cli: Siaga) -> None:
    created = ok(cli("token", "create", "--name", "ops", "--role", "responder"))
    lines = created.out.splitlines()
    assert len(lines) == 1, created
    assert TOKEN_RE.match(lines[0]), created
    value = lines[0]

    user_error(cli("token", "create", "--name", "ops", "--role", "admin"), "ops", "already exists")

    listed = ok(cli("token", "list", "--json"))
    items = json.loads(listed.out)["items"]
    assert [(i["name"], i["role"], i["revoked_at"]) for i in items] == [("ops", "responder", None)]
    assert value not in listed.out
    assert "siaga_" not in listed.out

    assert ok(cli("token", "revoke", "ops")).out.strip() == "token ops revoked"
    after = json.loads(ok(cli("token", "list", "--json")).out)["items"]
    assert after[0]["name"] == "ops"
    assert after[0]["revoked_at"] is not None
    user_error(cli("token", "revoke", "nobody"), "nobody")


def send_alert(cli: Siaga, alertname: str, title: str, *spec: str | Path) -> int:
    """`siaga alert send` a SEV-1 (severity=critical) for the database; the id of its incident."""
    sent = ok(
        cli(
            "alert", "send", *spec, "--json",
            "--label", f"alertname={alertname}", "--label", "service=database",
            "--label", "severity=critical", "--annotation", f"summary={title}",
        )
    )  # fmt: skip
    result = json.loads(sent.out)
    assert result["accepted"] == 1, sent
    assert len(result["incidents"]) == 1, sent
    incident_id: int = result["incidents"][0]
    return incident_id


def test_incident_lifecycle_on_sqlite(cli: Siaga) -> None:
    title = "Disk full on db-1"
    incident_id = send_alert(cli, "DiskFull", title, "--config", FRAGMENT)
    iid = str(incident_id)

    items = json.loads(ok(cli("incidents", "list", "--json")).out)["items"]
    assert len(items) == 1
    item = items[0]
    assert {k: item[k] for k in ("id", "title", "status", "severity", "service")} == {
        "id": incident_id,
        "title": title,
        "status": "triggered",
        "severity": "SEV-1",
        "service": "database",
    }
    assert datetime.fromisoformat(item["opened_at"]).tzinfo is not None

    table = ok(cli("incidents", "list")).out
    assert title in table
    assert "SEV-1" in table
    assert "triggered" in table

    assert ok(cli("incidents", "ack", iid)).out.strip() == f"incident #{iid}: acknowledged (SEV-1)"
    # A second ack is an invalid transition: one line, exit 2.
    user_error(cli("incidents", "ack", iid), "cannot acknowledge")
    ok(cli("incidents", "note", iid, "checking the disk"))
    ok(cli("incidents", "assign", iid, "andi"))
    resolved = ok(cli("incidents", "resolve", iid, "--reason", "freed space"))
    assert resolved.out.strip() == f"incident #{iid}: resolved (SEV-1)"

    shown = json.loads(ok(cli("incidents", "show", iid, "--json")).out)
    assert shown["status"] == "resolved"
    assert shown["assignee"] == "andi"
    assert shown["acknowledged_by"] == CLI_ACTOR
    assert shown["resolved_by"] == CLI_ACTOR
    timeline = [(e["kind"], e["message"], e["actor"]) for e in shown["timeline"]]
    for entry in [
        ("status", "acknowledged", CLI_ACTOR),
        ("note", "checking the disk", CLI_ACTOR),
        ("assign", "assigned to andi", CLI_ACTOR),
        ("status", "resolved: freed space", CLI_ACTOR),
    ]:
        assert entry in timeline, timeline
    assert [e["seq"] for e in shown["timeline"]] == sorted(e["seq"] for e in shown["timeline"])
    assert shown["alerts"][0]["annotations"] == {"summary": title}

    text = ok(cli("incidents", "show", iid)).out
    assert f"#{iid} {title}" in text
    assert CLI_ACTOR in text
    assert "checking the disk" in text


def test_postmortem_stats_and_reopen_on_sqlite(cli: Siaga, tmp_path: Path) -> None:
    # The spec from ./siaga.yaml this time (cwd is tmp_path), later from $SIAGA_CONFIG.
    local_spec = tmp_path / "siaga.yaml"
    local_spec.write_text(FRAGMENT.read_text(encoding="utf-8"), encoding="utf-8")
    title = "Checkout latency"
    iid = str(send_alert(cli, "CheckoutSlow", title))
    local_spec.unlink()
    ok(cli("incidents", "ack", iid))

    draft = ok(cli("incidents", "postmortem", iid)).out
    assert draft.startswith("# Post-mortem:"), draft
    assert title in draft.splitlines()[0]
    assert "acknowledged" in draft

    report = tmp_path / "pm.md"
    report_text = "# Checkout latency\n\nThe WAL volume filled up; we now alert at 80 %.\n"
    report.write_text(report_text, encoding="utf-8")
    attached = ok(cli("incidents", "postmortem", iid, "--attach", report))
    assert attached.out.strip() == f"incident #{iid}: post-mortem attached"
    assert ok(cli("incidents", "postmortem", iid)).out.strip() == report_text.strip()

    stats = json.loads(ok(cli("incidents", "stats", "--json")).out)
    assert stats["incidents"] == 1
    assert isinstance(stats["mtta_seconds"], int | float)
    assert stats["mtta_seconds"] >= 0

    ok(cli("incidents", "resolve", iid))
    reopened = ok(cli("incidents", "reopen", iid, SIAGA_CONFIG=str(FRAGMENT)))
    assert reopened.out.strip() == f"incident #{iid}: triggered (SEV-1)"


# -- 4. against a running server -------------------------------------------------------------------


def test_server_workflow_with_tokens(cli: Siaga, tmp_path: Path, data_dir: Path) -> None:
    responder = ok(cli("token", "create", "--name", "ops", "--role", "responder")).out.strip()
    viewer = ok(cli("token", "create", "--name", "dash", "--role", "viewer")).out.strip()

    with running_server(data_dir, tmp_path) as server:
        # No spec env for the client: with --server nothing is read locally.
        remote = ("--server", server.url)

        def as_(token: str, *args: str) -> Run:
            return cli(*args, *remote, "--token", token, spec_env=False)

        sent = ok(
            as_(responder, "alert", "send", "--json", "-l", "alertname=HighLatency", "-l", "service=auth-api",
                "-l", "severity=SEV-2", "-a", "summary=Auth API slow")
        )  # fmt: skip
        incident_id = json.loads(sent.out)["incidents"][0]
        iid = str(incident_id)

        items = json.loads(ok(as_(viewer, "incidents", "list", "--json")).out)["items"]
        assert [(i["id"], i["title"], i["status"], i["severity"]) for i in items] == [
            (incident_id, "Auth API slow", "triggered", "SEV-2")
        ]

        user_error(as_(viewer, "incidents", "ack", iid), "403")
        user_error(as_("siaga_not-a-real-token", "incidents", "ack", iid), "401")

        acked = ok(as_(responder, "incidents", "ack", iid))
        assert acked.out.strip() == f"incident #{iid}: acknowledged (SEV-2)"

        # SIAGA_SERVER / SIAGA_TOKEN work like the options.
        remote_env = {"SIAGA_SERVER": server.url, "SIAGA_TOKEN": viewer}
        via_env = ok(cli("incidents", "show", iid, "--json", spec_env=False, **remote_env))
        shown = json.loads(via_env.out)
        assert shown["status"] == "acknowledged"
        assert shown["acknowledged_by"] == "token:ops"
        draft = ok(as_(viewer, "incidents", "postmortem", iid)).out
        assert draft.startswith("# Post-mortem: Auth API slow"), draft

        assert server.process.poll() is None, server.log.read_text()


# -- 5. schema and database ------------------------------------------------------------------------


def test_spec_schema_is_json_with_severities(cli: Siaga) -> None:
    run = ok(cli("spec", "schema"))
    schema = json.loads(run.out)
    assert "severities" in schema["properties"]
    assert "services" in schema["properties"]


def test_db_upgrade_prints_the_revision(cli: Siaga, data_dir: Path) -> None:
    first = ok(cli("db", "upgrade"))
    assert re.fullmatch(r"database at revision \S+\n", first.out), first
    assert any(data_dir.iterdir()), "no database file in SIAGA_DATA_DIR"


def test_spec_env_is_what_the_fragment_needs() -> None:
    """Guard: the fixtures above rely on SPEC_ENV naming every variable the fragment references."""
    text = FRAGMENT.read_text(encoding="utf-8")
    assert set(re.findall(r"\$\{([A-Z_]+)\}", text)) <= set(SPEC_ENV)
