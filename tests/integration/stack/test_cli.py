"""`siaga stack up|down|status` as a real process: exit codes, JSON, one-line user errors."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import FRAGMENT
from tests.e2e.cli_helpers import Run, cli_env, ok, siaga, user_error
from tests.integration.servers import free_port, wait_until
from tests.integration.stack.conftest import blackbox, node, write_stack


def status_json(stack_dir: Path, cwd: Path) -> tuple[Run, dict[str, object]]:
    run = siaga("stack", "status", "--dir", stack_dir, "--json", env=cli_env(cwd / "data"), cwd=cwd)
    assert run.code in {0, 1}, run
    return run, json.loads(run.out)


def test_stack_commands_end_to_end(stack_dir: Path, tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data")

    # Nothing there yet: not running (exit 1); up without a stack.json is a user error.
    run, data = status_json(stack_dir, tmp_path)
    assert (run.code, data["running"], data["healthy"], data["components"]) == (1, False, False, [])
    user_error(siaga("stack", "up", "--dir", stack_dir, env=env, cwd=tmp_path), "stack.json", "--config")

    write_stack(stack_dir, node(), blackbox(stack_dir))
    started = ok(siaga("stack", "up", "--dir", stack_dir, env=env, cwd=tmp_path))
    assert "node, blackbox" in started.out

    found: dict[str, object] = {}

    def exit_zero() -> bool:
        run, data = status_json(stack_dir, tmp_path)
        found.update(data)
        return run.code == 0

    wait_until(exit_zero, timeout=30, what="siaga stack status to exit 0")
    assert found["running"] is True
    assert found["healthy"] is True
    components = found["components"]
    assert isinstance(components, list)
    assert {c["name"]: (c["state"], c["health"]["state"]) for c in components} == {
        "node": ("running", "ok"),
        "blackbox": ("running", "ok"),
    }
    assert all(c["pid"] and c["uptime_seconds"] is not None for c in components)

    table = ok(siaga("stack", "status", "--dir", stack_dir, env=env, cwd=tmp_path))
    assert "running" in table.out
    assert "blackbox" in table.out
    assert "ok" in table.out

    user_error(siaga("stack", "up", "--dir", stack_dir, env=env, cwd=tmp_path), "already up")

    assert "stopped" in ok(siaga("stack", "down", "--dir", stack_dir, env=env, cwd=tmp_path)).out
    run, data = status_json(stack_dir, tmp_path)
    assert (run.code, data["running"], data["healthy"]) == (1, False, False)
    assert "no stack running" in ok(siaga("stack", "down", "--dir", stack_dir, env=env, cwd=tmp_path)).out


def test_status_defaults_to_the_data_directory(tmp_path: Path) -> None:
    run = siaga("stack", "status", "--json", env=cli_env(tmp_path / "data"), cwd=tmp_path)
    assert run.code == 1, run
    assert json.loads(run.out)["stack_dir"] == str((tmp_path / "data" / "stack").resolve())
    table = siaga("stack", "status", env=cli_env(tmp_path / "data"), cwd=tmp_path)
    assert table.code == 1, table
    assert "not running" in table.out, table


def test_a_malformed_stack_json_is_one_line(stack_dir: Path, tmp_path: Path) -> None:
    (stack_dir / "stack.json").write_text('{"components": [{"name": "x"}]}')
    run = siaga("stack", "up", "--dir", stack_dir, env=cli_env(tmp_path / "data"), cwd=tmp_path)
    user_error(run, "components[0]")


def test_up_with_a_config_renders_then_runs_it(stack_dir: Path, tmp_path: Path) -> None:
    spec = tmp_path / "siaga.yaml"
    spec.write_text(
        FRAGMENT.read_text()
        + "\nprometheus:\n"
        + f"  listen: 127.0.0.1:{free_port()}\n"
        + f"  node_exporter: 127.0.0.1:{free_port()}\n"
        + f"  alertmanager: {{listen: '127.0.0.1:{free_port()}'}}\n"
    )
    env = cli_env(tmp_path / "data")

    started = ok(siaga("stack", "up", "--dir", stack_dir, "-c", spec, env=env, cwd=tmp_path))

    assert "prometheus, alertmanager, node" in started.out
    assert (stack_dir / "prometheus.yml").is_file()
    assert (stack_dir / "alertmanager.yml").is_file()
    wait_until(
        lambda: status_json(stack_dir, tmp_path)[0].code == 0, timeout=30, what="the rendered stack healthy"
    )
    ok(siaga("stack", "down", "--dir", stack_dir, env=env, cwd=tmp_path))
