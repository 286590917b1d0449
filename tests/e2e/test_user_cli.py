"""`siaga user create|list|disable` as a real process, on SQLite and PostgreSQL: the password comes from a
file, the environment or a prompt, never from the command line; mistakes are one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from siaga.adapters.db import engine as db_engine
from tests.e2e.cli_helpers import Siaga, ok, user_error

PASSWORD = "correct horse battery staple"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, data_dir: Path) -> dict[str, str]:
    """Extra environment for the CLI: the default SQLite file in the data dir, or a fresh PostgreSQL."""
    if request.param == "sqlite":
        return {}
    url: str = request.getfixturevalue("fresh_pg_url")
    return {"SIAGA_DATABASE_URL": url}


def stored_hashes(database: dict[str, str], data_dir: Path) -> dict[str, str]:
    url = database.get("SIAGA_DATABASE_URL") or db_engine.sqlite_url(data_dir)
    engine = db_engine.create(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT name, password_hash FROM users")).all()
            return {str(name): str(value) for name, value in rows}
    finally:
        engine.dispose()


def test_create_list_and_disable_users(
    cli: Siaga, database: dict[str, str], data_dir: Path, tmp_path: Path
) -> None:
    created = ok(cli("user", "create", "ana", "--role", "admin", SIAGA_USER_PASSWORD=PASSWORD, **database))
    assert created.out.strip() == "user ana created (admin)"
    assert PASSWORD not in created.out + created.err

    secret_file = tmp_path / "budi.pw"
    secret_file.write_text("another long password\n")
    ok(cli("user", "create", "budi", "--role", "viewer", "--password-file", secret_file, **database))

    listed = json.loads(ok(cli("user", "list", "--json", **database)).out)
    assert [(u["name"], u["role"], u["disabled_at"]) for u in listed["items"]] == [
        ("ana", "admin", None),
        ("budi", "viewer", None),
    ]
    assert set(listed["items"][0]) == {"name", "role", "created_at", "disabled_at"}

    hashes = stored_hashes(database, data_dir)
    assert all(value.startswith("$argon2id$") for value in hashes.values())
    assert PASSWORD not in repr(hashes)
    assert "another long password" not in repr(hashes)

    assert ok(cli("user", "disable", "budi", **database)).out.strip() == "user budi disabled"
    listed = json.loads(ok(cli("user", "list", "--json", **database)).out)
    assert [u["disabled_at"] is not None for u in listed["items"]] == [False, True]
    table = ok(cli("user", "list", **database)).out
    assert "ana" in table
    assert "admin" in table

    user_error(
        cli("user", "create", "ana", "--role", "viewer", SIAGA_USER_PASSWORD=PASSWORD, **database), "ana"
    )
    user_error(cli("user", "disable", "nobody", **database), "no user named 'nobody'")


def test_a_bad_role_is_one_line_and_exit_2(cli: Siaga) -> None:
    user_error(cli("user", "create", "ana", "--role", "root", SIAGA_USER_PASSWORD=PASSWORD), "--role", "root")


def test_a_password_cannot_be_given_on_the_command_line(cli: Siaga) -> None:
    run = cli("user", "create", "ana", "--role", "viewer", "--password", PASSWORD)
    user_error(run, "no such option")
    assert PASSWORD not in run.err
    help_text = ok(cli("user", "create", "--help")).out
    assert "--password-file" in help_text
    assert "--password " not in help_text


@pytest.mark.parametrize(
    ("name", "password", "fragment"),
    [
        ("Ana", PASSWORD, "a-z"),
        ("ana", "short", "at least 10"),
    ],
)
def test_bad_names_and_passwords_are_one_line(cli: Siaga, name: str, password: str, fragment: str) -> None:
    user_error(cli("user", "create", name, "--role", "viewer", SIAGA_USER_PASSWORD=password), fragment)


def test_without_a_password_source_or_terminal_it_says_where_to_give_one(cli: Siaga, tmp_path: Path) -> None:
    user_error(cli("user", "create", "ana", "--role", "viewer"), "--password-file", "SIAGA_USER_PASSWORD")
    user_error(
        cli("user", "create", "ana", "--role", "viewer", "--password-file", tmp_path / "missing"),
        "cannot read",
    )
    assert json.loads(ok(cli("user", "list", "--json")).out) == {"items": []}
