"""`siaga run` probes for real: a target that fails becomes an incident; `siaga checks list`, the heartbeat
push URL and `siaga slo report|status` work against the server and on the local data directory."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

from tests.e2e.cli_helpers import SIAGA, USER_ERROR, Siaga
from tests.e2e.conftest import SiagaServer
from tests.integration.checks.targets import http_target
from tests.integration.servers import wait_until

SPEC = """
version: 1
project: {{name: e2e-checks, timezone: Asia/Jakarta}}
severities:
  - {{name: SEV-1, aliases: [critical]}}
  - {{name: SEV-2}}
services:
  shop:
    public: true
    checks:
      - {{name: health, http: {{url: "{base}/health"}}, every: 1s, timeout: 1s, severity: SEV-1}}
    slos:
      - {{name: availability, objective: 99.9, window: 30d}}
  nightly:
    checks:
      - {{name: cron, heartbeat: {{period: 1d, grace: 1h}}, severity: SEV-2}}
"""


def _json(server: SiagaServer, token: str, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [str(SIAGA), *args, "--json", "--server", server.base_url, "--token", token],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    data: dict[str, object] = json.loads(done.stdout)
    return data


def test_a_failing_target_becomes_an_incident_and_the_cli_shows_it(
    siaga_server: SiagaServer, tmp_path: Path
) -> None:
    with http_target() as (base, target):
        spec = tmp_path / "siaga.yaml"
        spec.write_text(SPEC.format(base=base))
        siaga_server.config = spec
        siaga_server.start()
        token = siaga_server.create_token("e2e", "admin")

        def states() -> dict[str, str]:
            items = _json(siaga_server, token, "checks", "list")["items"]
            return {item["name"]: item["state"] for item in items}  # type: ignore[index, union-attr]

        wait_until(lambda: states().get("shop") == "up", what="the first probe")
        target.mode = "error"
        wait_until(lambda: states().get("shop") == "down", what="the failing probe")
        incidents = _json(siaga_server, token, "incidents", "list")["items"]
        assert [(i["service"], i["severity"]) for i in incidents] == [("shop", "SEV-1")]  # type: ignore[index, union-attr]

        items = _json(siaga_server, token, "checks", "list")["items"]
        [nightly] = [item for item in items if item["name"] == "nightly"]  # type: ignore[index, union-attr]
        push = nightly["checks"][0]["push_path"]  # type: ignore[index]
        assert (
            httpx.post(f"{siaga_server.base_url}{push}").text == "OK\n"
        )  # open: the token is the credential
        assert httpx.post(f"{siaga_server.base_url}/api/v1/heartbeat/{'x' * 32}").status_code == 404

        budgets = _json(siaga_server, token, "slo", "status")["items"]
        [budget] = budgets  # type: ignore[misc]
        assert budget["budget_minutes"] == 43.2  # type: ignore[index]
        target.mode = "healthy"
        wait_until(lambda: states().get("shop") == "up", what="recovery")


def test_slo_report_rejects_a_bad_month_in_one_line(cli: Siaga, tmp_path: Path) -> None:
    spec = tmp_path / "siaga.yaml"
    spec.write_text(SPEC.format(base="http://127.0.0.1:1"))
    done = cli("slo", "report", "--month", "2026-13", "--config", str(spec))
    assert done.code == 2
    assert USER_ERROR.match(done.err_lines[0])
    assert "--month must look like 2026-11" in done.err
    report = cli("slo", "report", "--month", "2026-11", "--config", str(spec), "--json")
    assert report.code == 0, report
    data = json.loads(report.out)
    assert [s["service"] for s in data["services"]] == ["shop", "nightly"]
    assert data["services"][0]["uptime_percent"] is None  # no data yet: not "down"
    listing = cli("checks", "list", "--config", str(spec))
    assert listing.code == 0, listing
    assert "health" in listing.out
    assert "/api/v1/heartbeat/" in listing.out
