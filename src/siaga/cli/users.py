"""``siaga user create|list|disable``: dashboard users, on the local data directory.

A password is never an argument (it would sit in the shell history and in `ps`): it comes from
``--password-file``, the SIAGA_USER_PASSWORD variable, or a prompt typed twice.
"""

from __future__ import annotations

import getpass
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from siaga.cli import JsonOpt, UserError, out, print_json, settings
from siaga.cli.backend import when

PASSWORD_ENV = "SIAGA_USER_PASSWORD"  # noqa: S105 (the variable's name, not a password)
ROLES = ("viewer", "responder", "admin")

user_app = typer.Typer(no_args_is_help=True, help="Dashboard users (passwords stored as argon2id hashes).")


def _password(password_file: Path | None) -> str:
    """The new user's password: from the file (one line), the environment, or typed twice at a prompt."""
    if password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            raise UserError(f"cannot read {password_file}: {reason}") from None
        return text.rstrip("\r\n")
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env is not None:
        return from_env
    if not sys.stdin.isatty():
        raise UserError(f"no password: give --password-file FILE, set {PASSWORD_ENV}, or run in a terminal")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise UserError("the two passwords differ")
    return first


@user_app.command("create")
def user_create(
    name: Annotated[str, typer.Argument(help="Sign-in name: 1-64 of a-z, 0-9, '.', '_', '-'.")],
    role: Annotated[str, typer.Option("--role", help="viewer | responder | admin")],
    password_file: Annotated[
        Path | None,
        typer.Option(
            "--password-file", help=f"Read the password from this file (else ${PASSWORD_ENV}, else a prompt)."
        ),
    ] = None,
) -> None:
    """Create a user who can sign in to the dashboard."""
    from siaga.bootstrap import open_database
    from siaga.services import users
    from siaga.services.tokens import Role

    if role not in ROLES:
        raise UserError(f"--role '{role}' is not one of {', '.join(ROLES)}")
    try:
        users.check_name(name)
        password = _password(password_file)
        users.create(
            uow=open_database(settings()),
            name=name,
            password=password,
            role=Role(role),
            now=datetime.now(UTC),
        )
    except users.UserError as error:
        raise UserError(str(error)) from None
    typer.echo(f"user {name} created ({role})")


@user_app.command("list")
def user_list(as_json: JsonOpt = False) -> None:
    """List users: names, roles, when created and disabled (never passwords)."""
    from siaga.bootstrap import open_database
    from siaga.services import users

    items = users.list_users(uow=open_database(settings()))
    if as_json:
        print_json({"items": items})
        return
    table = Table("Name", "Role", "Created (UTC)", "Disabled")
    for item in items:
        table.add_row(item["name"], item["role"], when(item["created_at"]), when(item["disabled_at"]))
    out.print(table)


@user_app.command("disable")
def user_disable(name: str) -> None:
    """Stop a user signing in and end their sessions."""
    from siaga.bootstrap import open_database
    from siaga.services import users

    try:
        users.disable(uow=open_database(settings()), name=name, now=datetime.now(UTC))
    except users.UserError as error:
        raise UserError(str(error)) from None
    typer.echo(f"user {name} disabled")
