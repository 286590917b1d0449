"""`siaga audit` as a user runs it: real HTTP and TCP listeners, a planted directory, every output format,
exit codes for CI, bad input as one line, and the spec's audit recorded with what is new and fixed."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.e2e.cli_helpers import cli_env, no_traceback, siaga, user_error

GOOD_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "no-referrer",
}


@contextmanager
def web(headers: dict[str, str]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def listener() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def _planted(root: Path) -> Path:
    deploy = root / "deploy"
    deploy.mkdir()
    (deploy / "docker-compose.yml").write_text(
        "services:\n  db:\n    image: mariadb:latest\n    ports: ['3306:3306']\n"
        "    environment:\n      MYSQL_ROOT_PASSWORD: hunter2hunter2\n"
    )
    return deploy


def test_ad_hoc_audit_formats_and_exit_codes(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data")
    deploy = _planted(tmp_path)
    with web(GOOD_HEADERS) as url, listener() as open_port:
        args = [
            "audit",
            "--url",
            url,
            "--host",
            "127.0.0.1",
            "--allow-ports",
            "1",
            "--check-ports",
            str(open_port),
        ]
        args += ["--path", str(deploy)]
        table = siaga(*args, env=env, cwd=tmp_path)
        no_traceback(table)
        assert table.code == 1, table  # the planted problems put the score under the default 70
        assert "ports.forbidden-open" in table.out
        assert "overall" in table.out

        as_json = siaga(*args, "--format", "json", env=env, cwd=tmp_path)
        data = json.loads(as_json.out)
        assert data["schema"] == 1
        assert set(data["areas"]) == {"headers", "tls", "ports", "secrets", "containers", "nginx"}
        rules = {f["rule"] for f in data["findings"]}
        assert "ports.forbidden-open" in rules
        assert any(r.startswith("containers.") for r in rules)
        assert any(r.startswith("secrets.") for r in rules)
        assert "hunter2hunter2" not in as_json.out  # a secret's value never appears

        sarif = json.loads(siaga(*args, "--format", "sarif", env=env, cwd=tmp_path).out)
        assert sarif["version"] == "2.1.0"
        assert sarif["runs"][0]["results"]
        report = tmp_path / "report.html"
        siaga(*args, "--format", "html", "--out", report, env=env, cwd=tmp_path)
        assert "Security posture" in report.read_text()

        # Only the clean web server: passes the threshold, fails on a severity gate it reaches.
        clean = siaga("audit", "--url", url, "--fail-under", "0", env=env, cwd=tmp_path)
        assert clean.code == 0, clean
        gated = siaga("audit", "--url", url, "--fail-under", "0", "--fail-on", "info", env=env, cwd=tmp_path)
        assert gated.code in (0, 1)

    user_error(siaga("audit", env=env, cwd=tmp_path), "nothing to audit")
    user_error(siaga("audit", "--allow-ports", "22", env=env, cwd=tmp_path), "need --host")
    user_error(siaga("audit", "--host", "h", "--allow-ports", "x", env=env, cwd=tmp_path), "--allow-ports")
    user_error(siaga("audit", "--url", "http://x", "--format", "xml", env=env, cwd=tmp_path), "--format")
    user_error(siaga("audit", "--path", tmp_path / "missing", env=env, cwd=tmp_path), "does not exist")
    # An unreachable URL is a finding, not a traceback.
    down = siaga("audit", "--url", "http://127.0.0.1:1/", "--format", "json", env=env, cwd=tmp_path)
    no_traceback(down)
    assert json.loads(down.out)["findings"]


SPEC = """
version: 1
project: {{name: pustani, timezone: Asia/Jakarta}}
severities: [{{name: SEV-1}}, {{name: SEV-2}}, {{name: SEV-3}}]
security:
  headers:
    require: {{X-Frame-Options: SAMEORIGIN}}
  targets:
    hosts:
      - {{host: 127.0.0.1, allow_ports: [1], check_ports: [{port}]}}
  scan_paths: [deploy]
"""


def test_spec_audit_records_history_and_pages(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data", spec_env=False)
    _planted(tmp_path)
    with listener() as port:
        spec = tmp_path / "siaga.yaml"
        spec.write_text(SPEC.format(port=port))
        first = siaga("audit", "--config", spec, "--format", "json", env=env, cwd=tmp_path)
        no_traceback(first)
        data = json.loads(first.out)
        assert data["new"]  # everything is new at the first audit
        listed = siaga("incidents", "list", "--json", "--config", spec, env=env, cwd=tmp_path)
        titles = [i["title"] for i in json.loads(listed.out)["items"]]
        assert any(str(port) in t for t in titles), titles  # the open port paged
    # The port is closed now: the next audit reports it fixed.
    second = json.loads(siaga("audit", "--config", spec, "--format", "json", env=env, cwd=tmp_path).out)
    assert second["fixed"]
    assert not second["new"]
