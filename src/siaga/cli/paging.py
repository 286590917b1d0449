"""``siaga silence``, ``siaga oncall``, ``siaga route test`` and ``siaga notify test``.

Times are ISO 8601 (no zone means UTC) or the word ``now``; durations read like the spec's (``90m``, ``2h``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

import siaga.cli as cli  # for cli.backend(): `from siaga.cli import backend` names the submodule to mypy
from siaga.cli import (
    ConfigOpt,
    JsonOpt,
    ServerOpt,
    TokenOpt,
    UserError,
    out,
    parse_pairs,
    print_json,
    settings,
)
from siaga.cli.backend import when
from siaga.domain.routing import parse_matcher
from siaga.spec.durations import format_duration, parse_duration

silence_app = typer.Typer(
    no_args_is_help=True,
    help="Silences: stop paging for matching alerts a while (alerts are still recorded).",
)
oncall_app = typer.Typer(no_args_is_help=True, help="On-call schedules: who is on call, shifts, overrides.")
route_app = typer.Typer(no_args_is_help=True, help="Dry runs of routing and escalation.")
notify_app = typer.Typer(no_args_is_help=True, help="Notification channels.")

TIME_HELP = "ISO 8601 (no zone: UTC) or 'now'."


def parse_time(text: str, option: str) -> datetime:
    """Given ``now`` or ISO 8601 text (naive = UTC), return an aware UTC datetime; raise UserError."""
    value = text.strip()
    if value.lower() == "now":
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise UserError(f"{option} '{text}' is not a time: {TIME_HELP}") from None
    if not 1970 <= parsed.year < 9000:
        raise UserError(f"{option} '{text}' must lie between the years 1970 and 9000")
    return parsed


def optional_time(text: str | None, option: str) -> datetime | None:
    return None if text is None else parse_time(text, option)


def parse_length(text: str, option: str) -> timedelta:
    try:
        length = parse_duration(text)
    except (ValueError, OverflowError) as error:
        raise UserError(f"{option}: {error}") from None
    if length <= timedelta(0):
        raise UserError(f"{option} '{text}' must be longer than 0s")
    return length


def _seconds(value: Any) -> str:
    return format_duration(timedelta(seconds=int(value)))


# -- silences -------------------------------------------------------------------------------------------


@silence_app.command("add")
def silence_add(
    match: Annotated[
        list[str],
        typer.Option(
            "--match",
            "-m",
            help="name=value, name!=value, name=~regex or name!~regex; repeat: all must hold.",
        ),
    ],
    comment: Annotated[str, typer.Option("--comment", help="Why paging is silenced.")],
    length: Annotated[str | None, typer.Option("--for", help="How long, e.g. 2h or 1d12h.")] = None,
    until: Annotated[str | None, typer.Option("--until", help=f"When it ends: {TIME_HELP}")] = None,
    start: Annotated[
        str | None, typer.Option("--from", help=f"When it starts (default now): {TIME_HELP}")
    ] = None,
    until_resolved: Annotated[
        int | None, typer.Option("--until-resolved", min=1, help="Also end it when this incident resolves.")
    ] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Silence paging for alerts that match every --match, --for a while or --until a time."""
    for text in match:
        try:
            parse_matcher(text)
        except ValueError as error:
            raise UserError(f"--match: {error}") from None
    if (length is None) == (until is None):
        raise UserError("give exactly one of --for DURATION and --until TIME")
    if not comment.strip():
        raise UserError("--comment must say why paging is silenced")
    created = cli.backend(config, server, token).add_silence(
        matchers=match,
        comment=comment,
        starts_at=optional_time(start, "--from"),
        ends_at=optional_time(until, "--until"),
        duration=None if length is None else parse_length(length, "--for"),
        until_resolved=until_resolved,
    )
    if as_json:
        print_json(created)
        return
    typer.echo(
        f"silence #{created['id']} {created['state']}: {', '.join(created['matchers'])}"
        f" from {when(created['starts_at'])} until {when(created['ends_at'])} UTC"
    )


@silence_app.command("list")
def silence_list(
    include_expired: Annotated[bool, typer.Option("--all", help="Include expired silences.")] = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """List active and pending silences (--all: expired ones too)."""
    items = cli.backend(config, server, token).list_silences(include_expired=include_expired)
    if as_json:
        print_json({"items": items})
        return
    table = Table("ID", "State", "Matchers", "From (UTC)", "Until (UTC)", "By", "Comment")
    for item in items:
        table.add_row(
            str(item["id"]),
            item["state"],
            ", ".join(item["matchers"]),
            when(item["starts_at"]),
            when(item["ends_at"]),
            item["created_by"],
            item["comment"],
        )
    out.print(table)


@silence_app.command("expire")
def silence_expire(
    silence_id: Annotated[int, typer.Argument(min=1, help="The silence's id.")],
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """End a silence now."""
    expired = cli.backend(config, server, token).expire_silence(silence_id)
    if as_json:
        print_json(expired)
    else:
        typer.echo(f"silence #{expired['id']} expired")


# -- on call --------------------------------------------------------------------------------------------


def _shift_text(shift: dict[str, Any]) -> str:
    extra = " (override)" if shift["override"] else ""
    return f"{shift['person']}{extra} from {when(shift['starts_at'])} until {when(shift['ends_at'])} UTC"


@oncall_app.command("now")
def oncall_now(
    schedule: Annotated[str, typer.Argument(help="A schedule of the spec.")],
    at: Annotated[str | None, typer.Option("--at", help=f"Ask about this instant: {TIME_HELP}")] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Who is on call for SCHEDULE now (or --at a time), and who is next."""
    data = cli.backend(config, server, token).on_call(schedule, optional_time(at, "--at"))
    if as_json:
        print_json(data)
        return
    typer.echo(f"{schedule}: on call {_shift_text(data['on_call'])}")
    typer.echo(f"{schedule}: next    {_shift_text(data['next'])}")


@oncall_app.command("show")
def oncall_show(
    schedule: Annotated[str, typer.Argument(help="A schedule of the spec.")],
    start: Annotated[str | None, typer.Option("--from", help=f"Default now: {TIME_HELP}")] = None,
    end: Annotated[str | None, typer.Option("--to", help=f"Default --from + 14 days: {TIME_HELP}")] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """The shifts of SCHEDULE between --from and --to (at most a year)."""
    begins, ends = optional_time(start, "--from"), optional_time(end, "--to")
    if begins is not None and ends is not None and ends <= begins:
        raise UserError("--to must be after --from")
    items = cli.backend(config, server, token).shifts(schedule, begins, ends)
    if as_json:
        print_json({"schedule": schedule, "items": items})
        return
    table = Table("Person", "From (UTC)", "Until (UTC)", "Override")
    for shift in items:
        table.add_row(
            shift["person"],
            when(shift["starts_at"]),
            when(shift["ends_at"]),
            "yes" if shift["override"] else "",
        )
    out.print(table)


@oncall_app.command("override")
def oncall_override(
    schedule: Annotated[str, typer.Argument(help="A schedule of the spec.")],
    person: Annotated[str, typer.Argument(help="Who covers it: a person of the spec.")],
    start: Annotated[str, typer.Option("--from", help=f"When the cover starts: {TIME_HELP}")],
    end: Annotated[str, typer.Option("--to", help=f"When it ends: {TIME_HELP}")],
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Put PERSON on call for SCHEDULE from --from to --to, whoever the rotation says."""
    begins, ends = parse_time(start, "--from"), parse_time(end, "--to")
    if ends <= begins:
        raise UserError("--to must be after --from")
    created = cli.backend(config, server, token).add_override(schedule, person, begins, ends)
    if as_json:
        print_json(created)
        return
    typer.echo(
        f"override #{created['id']}: {person} on call for {schedule}"
        f" from {when(created['starts_at'])} until {when(created['ends_at'])} UTC"
    )


# -- route test -----------------------------------------------------------------------------------------


@route_app.command("test")
def route_test(
    label: Annotated[list[str], typer.Option("--label", "-l", help="name=value; severity picks the level.")],
    at: Annotated[
        str | None, typer.Option("--at", help=f"When the alert fires (default now): {TIME_HELP}")
    ] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """What would happen to an alert with these labels: the routes it follows, what mutes it, and who is
    notified when, through which channel, if nobody acknowledges. Nothing is sent or stored. Reads the local
    spec and data directory; with --server, the server's spec and state answer."""
    labels = parse_pairs(label, "--label")
    result = cli.backend(config, server, token).route_test(labels, optional_time(at, "--at"))
    if as_json:
        print_json(result)
        return
    known = "" if result["severity_known"] else " (unknown severity: the least urgent level)"
    escalation = result["escalation"] or "none"
    out.print(f"severity {result['severity']}{known} · escalation {escalation}", markup=False)
    if result["muted"]:
        out.print(f"muted: {'; '.join(result['muted'])} (nobody is paged now)", markup=False)
    else:
        out.print("not muted: paging goes out", markup=False)
    routes = Table("Route", "Matchers", "Notify", "Escalation", "Continue", title="Matching routes")
    for route in result["routes"]:
        routes.add_row(
            str(route["index"]),
            " ".join(route["matchers"]) or "(any)",
            ", ".join(route["notify"]) or "—",
            route["escalation"] or "—",
            "yes" if route["continue"] else "",
        )
    if not result["routes"]:
        out.print("no route matches: nobody is paged", markup=False)
    else:
        out.print(routes)
    timeline = Table("When (UTC)", "After", "Step", "Who", "Target", "Channel", title="Escalation timeline")
    problems: list[str] = []
    for fire in result["timeline"]:
        step = str(fire["step"]) + (f" (repeat {fire['repeat']})" if fire["repeat"] else "")
        for notify in fire["notify"]:
            timeline.add_row(
                when(fire["at"]),
                _seconds(fire["after"]),
                step,
                notify["person"] or "—",
                notify["target"],
                notify["channel"],
            )
        problems += fire["problems"]
    out.print(timeline)
    for problem in problems:
        out.print(f"problem: {problem}", markup=False)


# -- notify test ----------------------------------------------------------------------------------------


@notify_app.command("test")
def notify_test(
    channel: Annotated[str, typer.Argument(help="A channel of the spec.")],
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Send one real message of kind 'test' through CHANNEL as the spec configures it, and print the
    receipt; exit 1 when it was not delivered. Runs locally only (it needs the spec and its secrets)."""
    from siaga.cli.local import LocalBackend

    receipt = LocalBackend(settings(config)).notify_test(channel)
    if as_json:
        print_json(receipt)
    else:
        code = f"{receipt['status_code']}, " if receipt["status_code"] else ""
        took = f"({code}{receipt['latency_ms']} ms)"
        if receipt["delivered"]:
            state = f"delivered {took}"
        else:
            detail = f": {receipt['detail']}" if receipt["detail"] else ""
            state = f"not delivered, {receipt['outcome']} failure {took}{detail}"
        typer.echo(f"channel {channel} ({receipt['type']}): {state}")
    if not receipt["delivered"]:
        raise typer.Exit(1)
