"""The Pustani header standard against a real nginx: what the static audit of the configuration says is what
the running server sends.

Debian's nginx runs from a temporary prefix (pid, logs and temp paths inside it) on a free loopback port,
in the foreground, and is stopped, workers included, whatever the test's outcome.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

from siaga.audit.nginx import audit_nginx
from tests.integration.servers import free_port, wait_until

NGINX = Path("/usr/sbin/nginx")
PUSTANI = {"X-Frame-Options": "SAMEORIGIN", "X-XSS-Protection": "1; mode=block"}
FRAME_OPTIONS = '        add_header X-Frame-Options "SAMEORIGIN" always;\n'

CONFIG = """\
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;

events {{
    worker_connections 64;
}}

http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server_tokens off;
    limit_req_zone $binary_remote_addr zone=perip:1m rate=100r/s;

    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        limit_req zone=perip burst=50 nodelay;

{frame_options}\
        add_header X-Content-Type-Options "nosniff" always;
        add_header X-XSS-Protection "1; mode=block" always;
        add_header Content-Security-Policy "default-src 'self'" always;
        add_header Referrer-Policy "strict-origin-when-cross-origin" always;

        location / {{
            default_type text/plain;
            return 200 "pustani\\n";
        }}

        location = /gone {{
            return 404;
        }}
    }}
}}
"""


def write_config(prefix: Path, port: int, *, frame_options: bool) -> Path:
    config = prefix / "nginx.conf"
    config.write_text(
        CONFIG.format(prefix=prefix, port=port, frame_options=FRAME_OPTIONS if frame_options else ""),
        encoding="utf-8",
    )
    return config


@contextmanager
def running_nginx(prefix: Path, config: Path, port: int) -> Iterator[str]:
    """Run Debian's nginx on ``config`` in the foreground; yield its base URL; stop master and workers."""
    if not NGINX.exists():
        raise RuntimeError("nginx is not installed at /usr/sbin/nginx (apt-get install nginx-light)")
    process = subprocess.Popen(
        [
            str(NGINX),
            "-p",
            f"{prefix}/",
            "-c",
            str(config),
            "-e",
            str(prefix / "error.log"),
            "-g",
            "daemon off;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    workers: list[psutil.Process] = []

    def answering() -> bool:
        if process.poll() is not None:
            log = (prefix / "error.log").read_text(encoding="utf-8", errors="replace")
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"nginx exited with {process.returncode}: {stderr}{log}")
        try:
            httpx.get(url, timeout=1.0)
        except httpx.TransportError:
            return False
        return True

    try:
        wait_until(answering, timeout=15.0, what="nginx to answer")
        workers = psutil.Process(process.pid).children(recursive=True)
        yield url
    finally:
        process.terminate()  # SIGTERM: nginx's fast shutdown stops the workers first
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        for worker in workers:
            if worker.is_running():
                worker.kill()
        if process.stderr:
            process.stderr.close()


def test_pustani_headers_pass_the_audit_and_are_sent(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port, frame_options=True)

    findings = audit_nginx(config, PUSTANI)
    assert findings == [], [(f.rule, f.location, f.message) for f in findings]

    with running_nginx(tmp_path, config, port) as url:
        for path, status in (("/", 200), ("/gone", 404)):  # `always`: error responses carry them too
            response = httpx.get(url + path, timeout=5.0)
            assert response.status_code == status
            assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
            assert response.headers["X-XSS-Protection"] == "1; mode=block"
        assert response.headers["Server"] == "nginx"  # server_tokens off: no version


def test_without_x_frame_options_the_audit_fails_and_names_the_fix(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port, frame_options=False)

    findings = audit_nginx(config, PUSTANI)
    assert [f.rule for f in findings] == ["nginx.missing-x-frame-options"]
    (finding,) = findings
    assert "X-Frame-Options" in finding.message
    assert 'add_header X-Frame-Options "SAMEORIGIN" always;' in finding.fix
    server_line = next(i for i, line in enumerate(config.read_text().splitlines(), 1) if "server {" in line)
    assert finding.location == f"{config}:{server_line}"

    with running_nginx(tmp_path, config, port) as url:
        response = httpx.get(url, timeout=5.0)
        assert response.status_code == 200
        assert "X-Frame-Options" not in response.headers
        assert response.headers["X-XSS-Protection"] == "1; mode=block"
