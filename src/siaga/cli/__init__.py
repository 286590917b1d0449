"""The ``siaga`` command. User mistakes end in one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import gc
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from siaga.cli.backend import Backend, BackendError, when
from siaga.domain.alerts import AlertIn, AlertStatus
from siaga.domain.incidents import IncidentError
from siaga.services.ports import StorageError
from siaga.settings import Settings, SettingsError
from siaga.spec import SpecError

app = typer.Typer(
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None
)
incidents_app = typer.Typer(
    no_args_is_help=True, help="Work incidents: list, show, ack, resolve, note, post-mortem."
)
token_app = typer.Typer(no_args_is_help=True, help="API tokens (stored hashed; the value is shown once).")
db_app = typer.Typer(no_args_is_help=True, help="Database maintenance.")
spec_app = typer.Typer(no_args_is_help=True, help="The siaga.yaml language.")
alert_app = typer.Typer(no_args_is_help=True, help="Send alerts by hand.")
app.add_typer(incidents_app, name="incidents")
app.add_typer(token_app, name="token")
app.add_typer(db_app, name="db")
app.add_typer(spec_app, name="spec")
app.add_typer(alert_app, name="alert")

out = Console(highlight=False, soft_wrap=True)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="Spec file (default: $SIAGA_CONFIG, then ./siaga.yaml).")
]
ServerOpt = Annotated[
    str | None, typer.Option("--server", envvar="SIAGA_SERVER", help="Act on a running server.")
]
TokenOpt = Annotated[
    str | None, typer.Option("--token", envvar="SIAGA_TOKEN", help="API token for --server.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class UserError(Exception):
    """A mistake in what the user asked: one line, exit 2."""


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, default=_json_default, indent=2, ensure_ascii=False))


def settings(config: Path | None = None) -> Settings:
    try:
        return Settings.from_env(config=config)
    except SettingsError as error:
        raise UserError(str(error)) from None


def backend(config: Path | None, server: str | None, token: str | None) -> Backend:
    if server:
        if not token:
            raise UserError("--server needs --token (or SIAGA_TOKEN)")
        from siaga.cli.remote import RemoteBackend  # imported on use: keeps `siaga --help` fast

        return RemoteBackend(server, token)
    from siaga.cli.local import LocalBackend

    return LocalBackend(settings(config))


def parse_pairs(pairs: list[str], what: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UserError(f"{what} '{pair}' must look like name=value")
        found[name] = value
    return found


# -- run, validate, schema -------------------------------------------------------------------------


@app.command()
def run(
    config: ConfigOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
) -> None:
    """Start the server: API, alert intake and the incident sweeper."""
    import uvicorn

    from siaga.api.app import create_app
    from siaga.bootstrap import bootstrap

    container = bootstrap(settings(config))
    asgi_app = create_app(container)
    # What is loaded by now lives as long as the process. Left to the cyclic GC, its full collections
    # scan all of it (~100 ms measured, once or twice a minute under load: a page's p99); frozen, they
    # scan only what came after. (No collection first: it would find ~600 objects and cost 0.1 s of
    # start-up.)
    gc.freeze()
    where = f"http://{host}:{port}"
    typer.echo(
        f"siaga: serving {container.spec.project.name} at {where}  (API docs: {where}/api/docs)", err=True
    )
    uvicorn.run(asgi_app, host=host, port=port, log_level="warning", access_log=False)


@app.command()
def validate(file: Annotated[Path, typer.Argument(help="The spec file to check.")]) -> None:
    """Check a spec; exit 0 when valid, 2 with every problem (file:line:col) otherwise."""
    from siaga.spec import load_spec

    spec = load_spec(file)
    typer.echo(
        f"{file}: valid ({len(spec.services)} services, {len(spec.severities)} severities, "
        f"{len(spec.channels)} channels, {len(spec.routes)} routes)"
    )


@spec_app.command("schema")
def spec_schema() -> None:
    """Print the JSON Schema of siaga.yaml (for editors)."""
    from siaga.spec import Spec

    print_json(Spec.model_json_schema(by_alias=True))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply schema migrations to the database (also done by `siaga run`)."""
    from siaga.adapters.db import migrate
    from siaga.bootstrap import open_database

    db = open_database(settings(), upgrade=False)
    revision = migrate.upgrade(db.engine)
    typer.echo(f"database at revision {revision}")


# -- incidents -------------------------------------------------------------------------------------


@incidents_app.command("list")
def incidents_list(
    status: Annotated[
        list[str] | None, typer.Option("--status", help="triggered|acknowledged|resolved|open")
    ] = None,
    severity: Annotated[list[str] | None, typer.Option("--severity")] = None,
    service: Annotated[str | None, typer.Option("--service")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """List incidents, newest first."""
    statuses: list[str] = []
    for item in status or []:
        if item not in {"triggered", "acknowledged", "resolved", "open"}:
            raise UserError(f"--status '{item}' is not one of triggered, acknowledged, resolved, open")
        statuses += ["triggered", "acknowledged"] if item == "open" else [item]
    items = backend(config, server, token).list_incidents(
        statuses=statuses, severities=severity or [], service=service, limit=limit
    )
    if as_json:
        print_json({"items": items})
        return
    table = Table("ID", "Severity", "Status", "Service", "Title", "Opened (UTC)", "Assignee")
    for incident in items:
        table.add_row(
            str(incident["id"]),
            incident["severity"],
            incident["status"],
            incident["service"] or "—",
            incident["title"],
            when(incident["opened_at"]),
            incident["assignee"] or "—",
        )
    out.print(table)


@incidents_app.command("show")
def incidents_show(
    incident_id: int,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Show one incident with its timeline and alerts."""
    data = backend(config, server, token).get_incident(incident_id)
    if as_json:
        print_json(data)
        return
    out.print(f"[bold]#{data['id']} {data['title']}[/bold]")
    out.print(
        f"{data['severity']} · {data['status']} · service {data['service'] or '—'}"
        f" · opened {when(data['opened_at'])}"
        f" · ack due {when(data['ack_due_at'])} · resolve due {when(data['resolve_due_at'])}"
        f" · post-mortem {data['postmortem']}"
    )
    table = Table("#", "Time (UTC)", "Actor", "Event")
    for event in data["timeline"]:
        table.add_row(str(event["seq"]), when(event["at"]), event["actor"], event["message"])
    out.print(table)


def _act(incident_id: int, action: str, body: dict[str, Any] | None, as_json: bool, b: Backend) -> None:
    data = b.act(incident_id, action, body)
    if as_json:
        print_json(data)
    else:
        typer.echo(f"incident #{incident_id}: {data['status']} ({data['severity']})")


@incidents_app.command("ack")
def incidents_ack(
    incident_id: int,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Acknowledge an incident."""
    _act(incident_id, "ack", None, as_json, backend(config, server, token))


@incidents_app.command("resolve")
def incidents_resolve(
    incident_id: int,
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Resolve an incident."""
    _act(incident_id, "resolve", {"reason": reason}, as_json, backend(config, server, token))


@incidents_app.command("reopen")
def incidents_reopen(
    incident_id: int,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Reopen a resolved incident."""
    _act(incident_id, "reopen", None, as_json, backend(config, server, token))


@incidents_app.command("note")
def incidents_note(
    incident_id: int,
    text: str,
    public: Annotated[
        bool, typer.Option("--public", help="Also show it on the public status page as an update.")
    ] = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Add a note to an incident's timeline (--public: also a status page update)."""
    if not text.strip():
        raise UserError("the note is empty")
    body: dict[str, Any] = {"text": text, "public": True} if public else {"text": text}
    _act(incident_id, "notes", body, as_json, backend(config, server, token))


@incidents_app.command("assign")
def incidents_assign(
    incident_id: int,
    assignee: str,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Assign an incident to someone ('-' unassigns)."""
    _act(
        incident_id,
        "assign",
        {"assignee": None if assignee == "-" else assignee},
        as_json,
        backend(config, server, token),
    )


@incidents_app.command("postmortem")
def incidents_postmortem(
    incident_id: int,
    attach: Annotated[
        Path | None, typer.Option("--attach", help="Attach this Markdown file as the post-mortem.")
    ] = None,
    config: ConfigOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Print the post-mortem (a draft from the timeline until one is attached), or attach one."""
    b = backend(config, server, token)
    if attach is None:
        typer.echo(b.postmortem(incident_id))
        return
    try:
        text = attach.read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"cannot read {attach}: {error.strerror}") from None
    b.attach_postmortem(incident_id, text)
    typer.echo(f"incident #{incident_id}: post-mortem attached")


@incidents_app.command("stats")
def incidents_stats(
    as_json: JsonOpt = False, config: ConfigOpt = None, server: ServerOpt = None, token: TokenOpt = None
) -> None:
    """MTTA, MTTR, breaches and pending post-mortems."""
    data = backend(config, server, token).stats()
    if as_json:
        print_json(data)
        return

    def minutes(value: float | None) -> str:
        return "—" if value is None else f"{value / 60:.1f} min"

    table = Table("Severity", "Incidents", "MTTA", "MTTR", "Open")
    for severity, row in data["by_severity"].items():
        table.add_row(
            severity,
            str(row["incidents"]),
            minutes(row["mtta_seconds"]),
            minutes(row["mttr_seconds"]),
            str(data["open"].get(severity, 0)),
        )
    table.add_row(
        "all",
        str(data["incidents"]),
        minutes(data["mtta_seconds"]),
        minutes(data["mttr_seconds"]),
        str(sum(data["open"].values())),
    )
    out.print(table)
    out.print(
        f"breaches: ack {data['breaches']['ack']}, resolve {data['breaches']['resolve']} · "
        f"post-mortems pending: {data['postmortems_pending']}"
    )


# -- alerts ----------------------------------------------------------------------------------------


@alert_app.command("send")
def alert_send(
    label: Annotated[list[str], typer.Option("--label", "-l", help="name=value; alertname is required.")],
    annotation: Annotated[list[str] | None, typer.Option("--annotation", "-a", help="name=value")] = None,
    resolved: Annotated[bool, typer.Option("--resolved", help="Send it as resolved.")] = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Send a test alert through the same path as real ones."""
    labels = parse_pairs(label, "--label")
    if not labels.get("alertname"):
        raise UserError("--label alertname=NAME is required")
    now = datetime.now(UTC)
    alert = AlertIn(
        labels=labels,
        annotations=parse_pairs(annotation or [], "--annotation"),
        status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
        starts_at=now,
        ends_at=now if resolved else None,
    )
    result = backend(config, server, token).send_alerts([alert])
    if as_json:
        print_json(result)
    else:
        typer.echo(f"accepted {result['accepted']} alert; incidents {result['incidents']}")


# -- tokens ----------------------------------------------------------------------------------------


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option("--name", help="Who or what uses it, e.g. alertmanager.")],
    role: Annotated[str, typer.Option("--role", help="viewer | responder | admin")],
) -> None:
    """Create a token and print only its value on stdout."""
    from siaga.bootstrap import open_database
    from siaga.services import tokens

    if role not in {"viewer", "responder", "admin"}:
        raise UserError(f"--role '{role}' is not one of viewer, responder, admin")
    db = open_database(settings())
    try:
        value = tokens.create(uow=db, name=name, role=tokens.Role(role), now=datetime.now(UTC))
    except tokens.TokenError as error:
        raise UserError(str(error)) from None
    typer.echo(value)


@token_app.command("list")
def token_list(as_json: JsonOpt = False) -> None:
    """List tokens (names and roles; never values)."""
    from siaga.bootstrap import open_database
    from siaga.services import tokens

    items = tokens.list_tokens(uow=open_database(settings()))
    if as_json:
        print_json({"items": items})
        return
    table = Table("Name", "Role", "Created (UTC)", "Revoked")
    for item in items:
        table.add_row(item["name"], item["role"], when(item["created_at"]), when(item["revoked_at"]))
    out.print(table)


@token_app.command("revoke")
def token_revoke(name: str) -> None:
    """Revoke a token by name."""
    from siaga.bootstrap import open_database
    from siaga.services import tokens

    try:
        tokens.revoke(uow=open_database(settings()), name=name, now=datetime.now(UTC))
    except tokens.TokenError as error:
        raise UserError(str(error)) from None
    typer.echo(f"token {name} revoked")


# Imported here, not at the top: these commands use the helpers defined above.
from siaga.cli.audit import audit  # noqa: E402
from siaga.cli.backup import backup_app  # noqa: E402
from siaga.cli.checks import checks_app, slo_app  # noqa: E402
from siaga.cli.importing import import_app  # noqa: E402
from siaga.cli.paging import notify_app, oncall_app, route_app, silence_app  # noqa: E402
from siaga.cli.render import render  # noqa: E402
from siaga.cli.stack import stack_app  # noqa: E402
from siaga.cli.users import user_app  # noqa: E402

app.add_typer(silence_app, name="silence")
app.add_typer(oncall_app, name="oncall")
app.add_typer(route_app, name="route")
app.add_typer(notify_app, name="notify")
app.add_typer(checks_app, name="checks")
app.add_typer(slo_app, name="slo")
app.add_typer(user_app, name="user")
app.add_typer(import_app, name="import")
app.command("render")(render)
app.command("audit")(audit)
app.add_typer(stack_app, name="stack")
app.add_typer(backup_app, name="backup")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning user mistakes into one line and exit code 2."""
    command = typer.main.get_command(app)
    args = argv if argv is not None else sys.argv[1:]
    try:
        code = command.main(args=args, prog_name="siaga", standalone_mode=False)
    except typer.Abort:
        sys.exit(130)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.TyperException as error:
        # Typer's own usage errors (it bundles click); with no arguments the "message" is the help text.
        message = str(error.format_message())
        if not args:
            typer.echo(message, err=True)
            sys.exit(2)
        _die(message)
    except SpecError as error:
        typer.echo(str(error), err=True)
        sys.exit(2)
    except (UserError, BackendError, IncidentError) as error:
        _die(str(error))
    except StorageError as error:
        _die(f"storage: {error}", code=1)
    # Without standalone mode, typer returns the code of a raised typer.Exit instead of exiting.
    sys.exit(code if isinstance(code, int) else 0)


def _die(message: str, code: int = 2) -> NoReturn:
    message = " ".join(message.split())
    sys.stderr.write(f"siaga: error: {message}\n")
    sys.exit(code)
