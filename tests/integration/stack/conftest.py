"""Real stacks for the supervisor tests: Debian's node_exporter, blackbox_exporter and Prometheus on free
ports in tmp_path. Whatever a test starts is stopped when it ends: the supervisor by ``down``, then any
process still working in the stack directory (a test may have killed the supervisor) by SIGKILL."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from siaga.runtime import stack
from tests.integration.servers import free_port, wait_until

PROMETHEUS = "/usr/bin/prometheus"
BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
NODE = "/usr/bin/prometheus-node-exporter"

Component = dict[str, Any]


def node(port: int | None = None) -> Component:
    port = port or free_port()
    return {
        "name": "node",
        "argv": [NODE, f"--web.listen-address=127.0.0.1:{port}"],
        "health_url": f"http://127.0.0.1:{port}/metrics",
    }


def blackbox(stack_dir: Path) -> Component:
    port = free_port()
    (stack_dir / "blackbox.yml").write_text("modules:\n  tcp_connect:\n    prober: tcp\n")
    return {
        "name": "blackbox",
        "argv": [BLACKBOX, "--config.file=blackbox.yml", f"--web.listen-address=127.0.0.1:{port}"],
        "health_url": f"http://127.0.0.1:{port}/-/healthy",
    }


def prometheus(stack_dir: Path, *scrape: Component) -> Component:
    port = free_port()
    jobs = [
        {"job_name": c["name"], "static_configs": [{"targets": [c["health_url"].split("/")[2]]}]}
        for c in scrape
    ]
    config = {"global": {"scrape_interval": "1s"}, "scrape_configs": jobs}
    (stack_dir / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    return {
        "name": "prometheus",
        "argv": [
            PROMETHEUS,
            "--config.file=prometheus.yml",
            "--storage.tsdb.path=data/prometheus",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1d",
        ],
        "health_url": f"http://127.0.0.1:{port}/-/healthy",
    }


def crasher(name: str = "crasher", code: int = 3) -> Component:
    """A component whose binary exits at once with ``code``."""
    return {
        "name": name,
        "argv": ["/bin/sh", "-c", f"echo boom >&2; exit {code}"],
        "health_url": f"http://127.0.0.1:{free_port()}/",
    }


def write_stack(stack_dir: Path, *components: Component) -> None:
    (stack_dir / stack.STACK_FILE).write_text(json.dumps({"components": list(components)}))


def by_name(status: stack.StackStatus) -> dict[str, stack.ComponentStatus]:
    return {c.name: c for c in status.components}


def wait_for(
    stack_dir: Path, condition: Callable[[stack.StackStatus], bool], what: str, timeout: float = 30.0
) -> stack.StackStatus:
    """Poll ``status(stack_dir)`` until ``condition`` holds; on a timeout show the status and the logs."""
    seen: list[stack.StackStatus] = []

    def check() -> bool:
        seen[:] = [stack.status(stack_dir)]
        return condition(seen[0])

    try:
        wait_until(check, timeout=timeout, what=what)
    except TimeoutError as error:
        logs = {p.name: p.read_text(errors="replace")[-2000:] for p in (stack_dir / "logs").glob("*.log")}
        raise AssertionError(f"{error}\nlast status: {seen}\nlogs: {json.dumps(logs, indent=1)}") from None
    return seen[0]


def healthy(status: stack.StackStatus) -> bool:
    return status.healthy


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def clean_up(stack_dir: Path) -> None:
    with contextlib.suppress(stack.StackError):
        stack.down(stack_dir, timeout=20)
    for process in psutil.process_iter(["cwd"]):
        if process.info["cwd"] == str(stack_dir):
            with contextlib.suppress(psutil.Error):
                os.kill(process.pid, signal.SIGKILL)


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    path = (tmp_path / "stack").resolve()
    path.mkdir()
    try:
        yield path
    finally:
        clean_up(path)
