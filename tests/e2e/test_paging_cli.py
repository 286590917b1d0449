"""The paging commands end to end: `siaga silence`, `siaga oncall`, `siaga route test` and `siaga notify test`
as real processes over a temporary data directory, locally and against a running `siaga run`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FRAGMENT
from tests.e2e.cli_helpers import CLI_ACTOR, Run, Siaga, ok, running_server, user_error

SPEC = ("--config", str(FRAGMENT))
MONDAY = "2026-01-05T08:00"  # 15:00 in Jakarta: budi's week (since 09:00 Jakarta, 02:00 UTC)


def later(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S")


def table_rows(text: str) -> list[tuple[str, ...]]:
    """The body rows of every Rich table in ``text``, as tuples of stripped cells."""
    return [
        tuple(cell.strip() for cell in line.split("│")[1:-1]) for line in text.splitlines() if "│" in line
    ]


def row_with(text: str, needle: str) -> str:
    """The one line of a printed table that contains ``needle``."""
    lines = [line for line in text.splitlines() if needle in line]
    assert len(lines) == 1, text
    return lines[0]


# -- silences -------------------------------------------------------------------------------------------


def test_silence_add_list_expire(cli: Siaga) -> None:
    added = ok(
        cli("silence", "add", "--match", "service=database", "-m", "severity=~SEV-[12]", "--for", "2h",
            "--comment", "failover drill", "--json")
    )  # fmt: skip
    silence = json.loads(added.out)
    assert (silence["id"], silence["state"], silence["created_by"]) == (1, "active", CLI_ACTOR)
    assert silence["matchers"] == ["service=database", "severity=~SEV-[12]"]
    length = datetime.fromisoformat(silence["ends_at"]) - datetime.fromisoformat(silence["starts_at"])
    assert length == timedelta(hours=2)

    until = ok(cli("silence", "add", "-m", "alertname=DiskFull", "--until", later(3), "--comment", "resize"))
    assert until.out.startswith("silence #2 active: alertname=DiskFull from "), until

    table = ok(cli("silence", "list")).out
    assert "failover drill" in row_with(table, "service=database")
    assert "resize" in row_with(table, "alertname=DiskFull")
    assert [s["id"] for s in json.loads(ok(cli("silence", "list", "--json")).out)["items"]] == [1, 2]

    assert ok(cli("silence", "expire", "1")).out.strip() == "silence #1 expired"
    assert [s["id"] for s in json.loads(ok(cli("silence", "list", "--json")).out)["items"]] == [2]
    everything = json.loads(ok(cli("silence", "list", "--all", "--json")).out)["items"]
    assert [(s["id"], s["state"]) for s in everything] == [(1, "expired"), (2, "active")]


MISTAKES = [
    ("matcher without operator", ("silence", "add", "--match", "service", "--for", "2h", "--comment", "x"),
     ("--match", "not a matcher")),
    ("bad regex", ("silence", "add", "-m", "a=~(", "--for", "2h", "--comment", "x"),
     ("--match", "regular expression")),
    ("bad duration", ("silence", "add", "-m", "a=b", "--for", "soon", "--comment", "x"),
     ("--for", "invalid duration")),
    ("no end", ("silence", "add", "-m", "a=b", "--comment", "x"), ("exactly one of",)),
    ("two ends", ("silence", "add", "-m", "a=b", "--for", "1h", "--until", "now", "--comment", "x"),
     ("exactly one of",)),
    ("bad time", ("silence", "add", "-m", "a=b", "--until", "tomorrow", "--comment", "x"),
     ("--until", "not a time")),
    ("no comment", ("silence", "add", "-m", "a=b", "--for", "1h"), ("--comment",)),
    ("ends in the past", ("silence", "add", "-m", "a=b", "--until", "2020-01-01T00:00", "--comment", "x"),
     ("after",)),
    ("unknown silence", ("silence", "expire", "7"), ("silence 7 not found",)),
    ("unknown schedule", ("oncall", "now", "nights", *SPEC), ("schedule 'nights' not found",)),
    ("backwards range", ("oncall", "show", "devops", "--from", "2026-02-01", "--to", "2026-01-01", *SPEC),
     ("--to",)),
    ("unknown person", ("oncall", "override", "devops", "zed", "--from", "now", "--to", "2099-01-01", *SPEC),
     ("unknown person",)),
    ("label without =", ("route", "test", "--label", "severity", *SPEC), ("--label", "name=value")),
    ("unknown channel", ("notify", "test", "carrier-pigeon", *SPEC), ("carrier-pigeon", "ops-hook")),
]  # fmt: skip


@pytest.mark.parametrize(("args", "says"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_paging_mistakes_are_one_line_and_exit_2(
    cli: Siaga, args: tuple[str, ...], says: tuple[str, ...]
) -> None:
    user_error(cli(*args), *says)


# -- on call --------------------------------------------------------------------------------------------


def test_oncall_now_show_and_override(cli: Siaga) -> None:
    now = ok(cli("oncall", "now", "devops", "--at", MONDAY, *SPEC)).out.splitlines()
    assert now == [
        "devops: on call budi from 2026-01-05 02:00 until 2026-01-12 02:00 UTC",
        "devops: next    andi from 2026-01-12 02:00 until 2026-01-19 02:00 UTC",
    ]

    shown = ok(cli("oncall", "show", "devops", "--from", "2026-01-05T00:00", "--to", "2026-01-19", *SPEC)).out
    assert table_rows(shown) == [
        ("andi", "2026-01-05 00:00", "2026-01-05 02:00", ""),
        ("budi", "2026-01-05 02:00", "2026-01-12 02:00", ""),
        ("andi", "2026-01-12 02:00", "2026-01-19 00:00", ""),
    ]
    shifts = json.loads(
        ok(cli("oncall", "show", "devops", "--from", MONDAY, "--to", "2026-01-12T08:00", "--json", *SPEC)).out
    )["items"]
    assert [(s["person"], s["starts_at"][:16]) for s in shifts] == [
        ("budi", "2026-01-05T08:00"),
        ("andi", "2026-01-12T02:00"),
    ]

    # An override only counts when it has not ended: it is made around the real clock.
    before = json.loads(ok(cli("oncall", "now", "devops", "--json", *SPEC)).out)
    other = "andi" if before["on_call"]["person"] == "budi" else "budi"
    made = ok(cli("oncall", "override", "devops", other, "--from", "now", "--to", later(3), *SPEC))
    assert made.out.startswith(f"override #1: {other} on call for devops from "), made
    after = json.loads(ok(cli("oncall", "now", "devops", "--json", *SPEC)).out)
    assert (after["on_call"]["person"], after["on_call"]["override"]) == (other, True)
    assert f"{other} (override)" in ok(cli("oncall", "now", "devops", *SPEC)).out


# -- route test -----------------------------------------------------------------------------------------


def test_route_test_prints_routes_and_timeline(cli: Siaga) -> None:
    labels = ("-l", "alertname=DatabaseDown", "-l", "severity=critical", "-l", "category=security")
    run = ok(cli("route", "test", *labels, "--at", MONDAY, *SPEC))
    text = run.out
    assert "severity SEV-1 · escalation critical" in text
    assert "not muted" in text
    rows = table_rows(text)
    assert ("0", 'category="security"', "security-alerts", "—", "yes") in rows  # continue: the next one too
    assert ("1", 'severity="SEV-1"', "—", "critical", "") in rows
    timeline = [row for row in rows if row[0].startswith("2026-")]
    assert timeline == [
        ("2026-01-05 08:00", "0s", "1", "—", "security-alerts", "security-alerts"),
        ("2026-01-05 08:00", "0s", "1", "—", "alerts", "alerts"),
        ("2026-01-05 08:00", "0s", "1", "—", "pagerduty", "pagerduty"),
        ("2026-01-05 08:10", "10m", "2", "budi", "oncall:devops", "management"),
        ("2026-01-05 08:30", "30m", "3", "cto", "cto", "management"),
        ("2026-01-05 08:30", "30m", "3", "—", "management", "management"),
    ]

    data = json.loads(ok(cli("route", "test", *labels, "--at", MONDAY, "--json", *SPEC)).out)
    assert [(f["step"], f["after"]) for f in data["timeline"]] == [(1, 0), (2, 600), (3, 1800)]
    assert data["timeline"][1]["notify"] == [
        {"target": "oncall:devops", "channel": "management", "person": "budi"}
    ]

    # The first Sunday of the month, 02:30 in Jakarta: the patching window mutes paging.
    muted = ok(cli("route", "test", *labels, "--at", "2026-01-31T19:30:00Z", *SPEC)).out
    assert "muted: in maintenance window 'monthly-patching'" in muted


# -- notify test ----------------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A tiny HTTP server on 127.0.0.1: answers 200 on /hook and 400 elsewhere, and keeps every request."""

    requests: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    received = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.requests.append((self.path, dict(self.headers), json.loads(body)))
            status = 200 if self.path == "/hook" else 400
            answer = b"ok" if status == 200 else b"no such hook"
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    received.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_notify_test_sends_one_real_message(cli: Siaga, receiver: Receiver) -> None:
    run = ok(cli("notify", "test", "ops-hook", *SPEC, OPS_WEBHOOK_URL=f"{receiver.url}/hook"))
    assert run.out.startswith("channel ops-hook (webhook): delivered (200, "), run
    assert len(receiver.requests) == 1
    path, headers, body = receiver.requests[0]
    assert path == "/hook"
    assert body["kind"] == "test"
    assert body["project"] == "luxima-core"
    assert body["incident"] is None
    assert headers["Idempotency-Key"] == body["idempotency_key"]

    refused = cli("notify", "test", "ops-hook", "--json", *SPEC, OPS_WEBHOOK_URL=f"{receiver.url}/gone")
    assert refused.code == 1, refused
    receipt = json.loads(refused.out)
    assert (receipt["delivered"], receipt["outcome"], receipt["status_code"]) == (False, "permanent", 400)
    assert receipt["detail"] == "HTTP 400: no such hook"
    assert len(receiver.requests) == 2


# -- against a running server ---------------------------------------------------------------------------


def test_paging_commands_against_a_server(cli: Siaga, tmp_path: Path, data_dir: Path) -> None:
    responder = ok(cli("token", "create", "--name", "ops", "--role", "responder")).out.strip()
    viewer = ok(cli("token", "create", "--name", "dash", "--role", "viewer")).out.strip()
    with running_server(data_dir, tmp_path) as server:

        def as_(token: str, *args: str) -> Run:
            return cli(*args, "--server", server.url, "--token", token, spec_env=False)

        silence = ("silence", "add", "-m", "service=database", "--for", "90m", "--comment", "drill", "--json")
        added = json.loads(ok(as_(responder, *silence)).out)
        assert (added["state"], added["created_by"]) == ("active", "token:ops")
        length = datetime.fromisoformat(added["ends_at"]) - datetime.fromisoformat(added["starts_at"])
        assert length == timedelta(minutes=90)
        user_error(as_(viewer, "silence", "add", "-m", "a=b", "--for", "1h", "--comment", "x"), "403")
        listed = json.loads(ok(as_(viewer, "silence", "list", "--json")).out)["items"]
        assert [s["id"] for s in listed] == [added["id"]]

        assert "budi" in ok(as_(viewer, "oncall", "now", "devops", "--at", MONDAY)).out.splitlines()[0]
        shown = ok(as_(viewer, "oncall", "show", "devops", "--from", MONDAY, "--to", "2026-01-13")).out
        assert "2026-01-12 02:00" in row_with(shown, "andi")
        other = json.loads(ok(as_(viewer, "oncall", "now", "devops", "--json")).out)["next"]["person"]
        ok(as_(responder, "oncall", "override", "devops", other, "--from", "now", "--to", later(2)))
        assert (
            json.loads(ok(as_(viewer, "oncall", "now", "devops", "--json")).out)["on_call"]["person"] == other
        )

        routed = ok(as_(viewer, "route", "test", "-l", "alertname=DatabaseDown", "-l", "service=database",
                        "-l", "severity=critical"))  # fmt: skip
        assert f"silenced by silence {added['id']} (drill)" in routed.out
        assert "pagerduty" in routed.out

        ok(as_(responder, "silence", "expire", str(added["id"])))
        assert json.loads(ok(as_(viewer, "silence", "list", "--json")).out)["items"] == []
        assert server.process.poll() is None, server.log.read_text()
