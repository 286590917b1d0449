"""``siaga checks list`` and ``siaga slo report|status``: what the probes see and whether promises hold."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer
from rich.table import Table

import siaga.cli as cli  # for cli.backend(): `from siaga.cli import backend` names the submodule to mypy
from siaga.cli import ConfigOpt, JsonOpt, ServerOpt, TokenOpt, UserError, out, print_json
from siaga.cli.backend import when

checks_app = typer.Typer(no_args_is_help=True, help="Checks: the state of every service and its probes.")
slo_app = typer.Typer(no_args_is_help=True, help="SLOs and uptime: error budgets, monthly reports.")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_STATE_STYLE = {"up": "green", "down": "bold red", "degraded": "yellow", "impacted": "magenta"}


@checks_app.command("list")
def list_checks(
    config: ConfigOpt = None, server: ServerOpt = None, token: TokenOpt = None, json_: JsonOpt = False
) -> None:
    """Every service's state (up, degraded, down, impacted, maintenance) and its checks' last runs."""
    services = cli.backend(config, server, token).services()
    if json_:
        print_json({"items": services})
        return
    table = Table("service", "state", "check", "kind", "status", "last run", "latency", "reason / push URL")
    for service in services:
        state = service["state"] + (
            f" (by {', '.join(service['impacted_by'])})" if service["impacted_by"] else ""
        )
        style = _STATE_STYLE.get(service["state"], "")
        if not service["checks"]:
            table.add_row(
                service["name"], f"[{style}]{state}[/]" if style else state, "—", "", "", "", "", ""
            )
        for i, check in enumerate(service["checks"]):
            latency = f"{check['latency_ms']:.0f} ms" if check["latency_ms"] is not None else "—"
            detail = check["reason"] or check["push_path"] or ""
            first = i == 0
            table.add_row(
                service["name"] if first else "",
                (f"[{style}]{state}[/]" if style else state) if first else "",
                check["name"],
                check["kind"],
                check["status"] + (" (alerting)" if check["alerting"] else ""),
                when(check["last_run_at"]),
                latency,
                detail,
            )
    out.print(table)


def _month(text: str) -> tuple[int, int]:
    match = _MONTH.match(text)
    if match is None:
        raise UserError(f"--month must look like 2026-11, not '{text}'")
    return int(match.group(1)), int(match.group(2))


def _fmt(value: Any, suffix: str = "") -> str:
    return "—" if value is None else f"{value}{suffix}"


@slo_app.command("report")
def report(
    month: Annotated[str, typer.Option(help="Calendar month YYYY-MM, in the project time zone.")],
    config: ConfigOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Each service's uptime over a month (maintenance excluded, no data apart) and its SLOs, pass / fail.
    Exits 1 when an objective was missed, so CI or cron can act on it."""
    year, number = _month(month)
    data = cli.backend(config, server, token).slo_report(year, number)
    if json_:
        print_json(data)
    else:
        table = Table("service", "uptime", "down", "no data", "maintenance", "SLOs", "result")
        for service in data["services"]:
            slos = ", ".join(
                f"{o['slo']} {_fmt(o['value_percent'], '%')} / {o['objective']}%" for o in service["slos"]
            )
            result = {True: "[green]pass[/]", False: "[bold red]FAIL[/]", None: "no data"}[service["passed"]]
            table.add_row(
                service["service"],
                _fmt(service["uptime_percent"], " %"),
                f"{service['down_minutes']:g} min",
                f"{service['no_data_minutes']:g} min",
                f"{service['maintenance_minutes']:g} min",
                slos or "—",
                result if service["slos"] else "—",
            )
        out.print(f"{data['month']} ({data['timezone']}, {data['resolution']} resolution)")
        out.print(table)
    if any(service["passed"] is False for service in data["services"]):
        raise typer.Exit(1)


@slo_app.command("status")
def status(
    config: ConfigOpt = None, server: ServerOpt = None, token: TokenOpt = None, json_: JsonOpt = False
) -> None:
    """Every SLO's SLI and remaining error budget over its rolling window."""
    items = cli.backend(config, server, token).slo_budgets()
    if json_:
        print_json({"items": items})
        return
    table = Table("service", "slo", "objective", "SLI", "budget", "consumed", "remaining")
    for item in items:
        table.add_row(
            item["service"],
            f"{item['slo']} ({item['kind']})",
            f"{item['objective']}% / {item['window']}",
            _fmt(item["sli_percent"], " %"),
            f"{item['budget_minutes']:g} min",
            _fmt(item["consumed_percent"], " %"),
            _fmt(item["remaining_minutes"], " min"),
        )
    out.print(table)
