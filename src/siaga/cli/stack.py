"""``siaga stack up|down|status``: run Prometheus, Alertmanager and exporters on the rendered configs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from siaga.cli import ConfigOpt, JsonOpt, UserError, out, print_json, settings

if TYPE_CHECKING:
    from siaga.runtime.stack import ComponentStatus

stack_app = typer.Typer(no_args_is_help=True, help="Run and supervise the Prometheus stack on one box.")

DirOpt = Annotated[
    Path | None,
    typer.Option("--dir", help="The stack directory (default: $SIAGA_DATA_DIR/stack).", show_default=False),
]
_STATE_STYLE = {"running": "green", "restarting": "yellow", "failed": "bold red", "stopped": "dim"}
_HEALTH_STYLE = {"ok": "green", "failing": "bold red", "unknown": "dim"}


def _stack_dir(directory: Path | None) -> Path:
    return directory if directory is not None else settings().data_dir / "stack"


@stack_app.command("up")
def up(directory: DirOpt = None, config: ConfigOpt = None) -> None:
    """Start the stack in the background under a supervisor that restarts what exits. With --config, render
    the spec into the directory first; without, run the stack.json already there."""
    from siaga.runtime import stack

    stack_dir = _stack_dir(directory)
    if (pid := stack.running_pid(stack_dir)) is not None:
        raise UserError(f"the stack in {stack_dir} is already up (supervisor pid {pid}); stop it first")
    if config is not None:
        from siaga.render.files import render_directory

        try:
            rendered = render_directory(config, stack_dir)
        except OSError as error:
            raise UserError(f"cannot render into {stack_dir}: {error.strerror or error}") from None
        for note in rendered.notes:
            typer.echo(f"note: {note}", err=True)
        _ensure_webhook_token(config, stack_dir)
    elif not (stack_dir / stack.STACK_FILE).is_file():
        raise UserError(f"no {stack_dir / stack.STACK_FILE}: pass --config to render the spec there")
    try:
        pid = stack.up(stack_dir)
        components = stack.load_stack(stack_dir)
    except stack.StackError as error:
        raise UserError(str(error)) from None
    names = ", ".join(c.name for c in components)
    typer.echo(f"stack up in {stack_dir}: supervisor pid {pid} runs {names}")


WEBHOOK_TOKEN_NAME = "stack-alertmanager"  # noqa: S105 (a token's name, not its value)


def _ensure_webhook_token(config: Path, stack_dir: Path) -> None:
    """The responder token Alertmanager sends to Siaga's webhook, in the file the rendered config names
    (mode 0600; made once, and again only when the file is gone)."""
    from siaga.bootstrap import open_database
    from siaga.render.files import load_for_render
    from siaga.services import tokens

    token_file = stack_dir / load_for_render(config).prometheus.alertmanager.token_file
    if token_file.is_file():
        return
    db = open_database(settings(config))
    now = datetime.now(UTC)
    # Token names are never reused: the one whose file was lost is revoked, the new one is dated.
    for old in tokens.list_tokens(uow=db):
        if str(old["name"]).startswith(WEBHOOK_TOKEN_NAME) and old.get("revoked_at") is None:
            tokens.revoke(uow=db, name=str(old["name"]), now=now)
    name = f"{WEBHOOK_TOKEN_NAME}-{now:%Y%m%d%H%M%S}"
    value = tokens.create(uow=db, name=name, role=tokens.Role.RESPONDER, now=now)
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.touch(mode=0o600)
    token_file.write_text(value + "\n")
    typer.echo(f"made the Alertmanager webhook token ({name}) in {token_file}", err=True)


@stack_app.command("down")
def down(directory: DirOpt = None) -> None:
    """Stop the supervisor and every component it runs (SIGTERM, then SIGKILL after a grace period)."""
    from siaga.runtime import stack

    stack_dir = _stack_dir(directory)
    try:
        was_running = stack.down(stack_dir)
    except stack.StackError as error:
        raise UserError(str(error)) from None
    typer.echo(f"stack in {stack_dir} stopped" if was_running else f"no stack running in {stack_dir}")


def _uptime(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s" if whole >= 60 else f"{whole}s"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d {whole % 86400 // 3600}h"


def _health(component: ComponentStatus) -> str:
    state = component.health.state.value
    text = f"{state} ({component.health.detail})" if component.health.detail else state
    return f"[{_HEALTH_STYLE[state]}]{escape(text)}[/]"


@stack_app.command("status")
def status(directory: DirOpt = None, json_: JsonOpt = False) -> None:
    """Each component's state, pid, restarts, health and uptime. Exits 1 unless the supervisor runs and
    every component is running and healthy, so scripts can wait on it."""
    from siaga.runtime import stack

    stack_dir = _stack_dir(directory)
    now = datetime.now(UTC)
    try:
        current = stack.status(stack_dir, now=now)
    except stack.StackError as error:
        raise UserError(str(error)) from None
    if json_:
        print_json({"stack_dir": str(stack_dir.resolve()), **stack.status_to_json(current, now=now)})
    else:
        if current.running:
            out.print(f"{stack_dir}: supervisor pid {current.supervisor_pid}")
        else:
            out.print(f"{stack_dir}: [bold red]not running[/] (no supervisor; siaga stack up starts one)")
        if current.components:
            table = Table("name", "state", "pid", "restarts", "health", "uptime", "last exit")
            for c in current.components:
                table.add_row(
                    c.name,
                    f"[{_STATE_STYLE[c.state.value]}]{c.state.value}[/]",
                    str(c.pid) if c.pid else "—",
                    str(c.restarts),
                    _health(c),
                    _uptime(c.uptime(now)),
                    escape(c.error or ("—" if c.last_exit_code is None else str(c.last_exit_code))),
                )
            out.print(table)
    if not current.healthy:
        raise typer.Exit(1)
