"""Injected failures: each one is recorded as a failed outcome with a clear reason, leaves no snapshot,
and names no secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from siaga.integrations import backup_engines
from siaga.integrations.backup_engines import BackupOutcome
from siaga.integrations.restic import RepoLocation, Restic
from siaga.spec.backups import Source
from tests.integration.backups.conftest import (
    REPO_PASSWORD,
    MariadbServer,
    PgServer,
    assert_no_secret,
    s3_location,
)
from tests.integration.servers import free_port

HERE = Path(__file__).resolve().parent
Shim = Callable[[str, str], None]


@pytest.fixture
def shim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Shim:
    """Put an executable ``name`` with this shell script first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def make(name: str, script: str) -> None:
        path = bin_dir / name
        path.write_text("#!/bin/sh\n" + script)
        path.chmod(0o755)

    return make


def assert_failed(outcome: BackupOutcome, kind: str, *phrases: str) -> None:
    assert not outcome.ok
    assert outcome.kind == kind, outcome.reason
    for phrase in phrases:
        assert phrase in outcome.reason
    assert "\n" not in outcome.reason
    assert outcome.snapshots == {}
    assert_no_secret(outcome.reason, outcome)


def assert_nothing_left(repo: Restic, tag: str) -> None:
    assert repo.snapshots(tags=[tag]) == []


def pg(url: str) -> Source:
    return Source(postgres=SecretStr(url))


# ---------------------------------------------------------------- the dump fails


def test_wrong_database_name(local_repo: Restic, tag: str, pg_server: PgServer) -> None:
    outcome = backup_engines.back_up(pg(pg_server.url("siaga_bk_pg_missing")), [local_repo], [tag])

    assert_failed(outcome, "dump_failed", "postgres 127.0.0.1:5432/siaga_bk_pg_missing", "does not exist")
    assert_nothing_left(local_repo, tag)


def test_pg_dump_that_exits_1_after_writing(
    local_repo: Restic, tag: str, postgres_source: str, shim: Shim
) -> None:
    shim(
        "pg_dump",
        '/usr/bin/pg_dump "$@" | head -c 30000\necho "pg_dump: error: simulated crash" >&2\nexit 1\n',
    )

    outcome = backup_engines.back_up(pg(postgres_source), [local_repo], [tag])

    assert_failed(outcome, "dump_failed", "pg_dump exited with code 1", "simulated crash")
    assert outcome.bytes == 30000
    assert_nothing_left(local_repo, tag)


def test_pg_dump_that_writes_nothing(local_repo: Restic, tag: str, postgres_source: str, shim: Shim) -> None:
    shim("pg_dump", "exit 0\n")

    outcome = backup_engines.back_up(pg(postgres_source), [local_repo], [tag])

    assert_failed(outcome, "dump_empty", "pg_dump wrote nothing")
    assert_nothing_left(local_repo, tag)


def test_dump_without_table_data(local_repo: Restic, tag: str, postgres_source: str, shim: Shim) -> None:
    shim("pg_dump", 'exec /usr/bin/pg_dump --schema-only "$@"\n')

    outcome = backup_engines.back_up(pg(postgres_source), [local_repo], [tag])

    assert_failed(outcome, "dump_empty", "no TABLE DATA though 3 tables exist")
    assert_nothing_left(local_repo, tag)


def test_pg_dump_that_fails_after_several_mib(
    local_repo: Restic, tag: str, postgres_source: str, shim: Shim
) -> None:
    # Past the first MiB the manifest's upload has started too: it must record nothing either.
    shim(
        "pg_dump",
        '/usr/bin/pg_dump "$@" >/dev/null; head -c 3000000 /dev/urandom\n'
        'echo "pg_dump: error: simulated crash" >&2\nexit 1\n',
    )

    outcome = backup_engines.back_up(pg(postgres_source), [local_repo], [tag])

    assert_failed(outcome, "dump_failed", "pg_dump exited with code 1", "simulated crash")
    assert outcome.bytes == 3000000
    assert_nothing_left(local_repo, tag)


def test_truncated_archive_that_exits_0(
    local_repo: Restic, tag: str, postgres_source: str, shim: Shim
) -> None:
    shim("pg_dump", '/usr/bin/pg_dump "$@" | head -c 30000\nexit 0\n')

    outcome = backup_engines.back_up(pg(postgres_source), [local_repo], [tag])

    assert_failed(outcome, "dump_invalid", "could not read the archive to its end")
    assert_nothing_left(local_repo, tag)


def test_mariadb_wrong_database(local_repo: Restic, tag: str, mariadb_server: MariadbServer) -> None:
    source = Source(mariadb=SecretStr(mariadb_server.url("siaga_bk_my_missing")))

    outcome = backup_engines.back_up(source, [local_repo], [tag])

    assert_failed(outcome, "dump_failed", "mariadb 127.0.0.1:3306/siaga_bk_my_missing", "Unknown database")
    assert_nothing_left(local_repo, tag)


def test_mariadb_dump_cut_short(local_repo: Restic, tag: str, mariadb_source: str, shim: Shim) -> None:
    shim("mariadb-dump", '/usr/bin/mariadb-dump "$@" | head -c 4000\n')

    outcome = backup_engines.back_up(Source(mariadb=SecretStr(mariadb_source)), [local_repo], [tag])

    assert_failed(outcome, "dump_invalid", "-- Dump completed")
    assert_nothing_left(local_repo, tag)


def test_a_dump_that_hangs_times_out(local_repo: Restic, tag: str, postgres_source: str, shim: Shim) -> None:
    shim("pg_dump", "exec sleep 30\n")
    started = time.monotonic()

    outcome = backup_engines.back_up(pg(postgres_source), [local_repo], [tag], timeout=1.5)

    assert_failed(outcome, "timeout", "longer than 1.5s")
    assert time.monotonic() - started < 10
    assert_nothing_left(local_repo, tag)


# ---------------------------------------------------------------- the repository fails


def test_repository_unreachable(tmp_path: Path, tag: str, sqlite_source: Path) -> None:
    closed = Restic(s3_location(f"http://127.0.0.1:{free_port()}", "nowhere"), cache_dir=tmp_path)

    outcome = backup_engines.back_up(Source(sqlite=str(sqlite_source)), [closed], [tag])

    assert_failed(outcome, "unreachable", "s3:", "connection refused")


def test_wrong_password(local_repo: Restic, tag: str, directory_source: Path, sqlite_source: Path) -> None:
    location = local_repo.repository
    wrong = Restic(RepoLocation(location.url, "not-" + REPO_PASSWORD, name="local"))

    for source in (Source(directory=str(directory_source)), Source(sqlite=str(sqlite_source))):
        outcome = backup_engines.back_up(source, [wrong], [tag])
        assert_failed(outcome, "wrong_password", "local: wrong password")
        assert "not-" + REPO_PASSWORD not in outcome.reason
    assert_nothing_left(local_repo, tag)


def test_no_repository(tmp_path: Path, tag: str, sqlite_source: Path) -> None:
    missing = Restic(RepoLocation(str(tmp_path / "never-initialised"), REPO_PASSWORD))

    outcome = backup_engines.back_up(Source(sqlite=str(sqlite_source)), [missing], [tag])

    assert_failed(outcome, "no_repository", "never-initialised")


def test_one_repository_down_keeps_the_other(
    local_repo: Restic, tag: str, postgres_source: str, tmp_path: Path
) -> None:
    closed = Restic(s3_location(f"http://127.0.0.1:{free_port()}", "nowhere"), cache_dir=tmp_path)

    outcome = backup_engines.back_up(pg(postgres_source), [local_repo, closed], [tag])

    assert not outcome.ok
    assert outcome.kind == "unreachable"
    assert outcome.reason.startswith("s3: ")
    assert list(outcome.snapshots) == ["local"]
    assert backup_engines.load_manifest(local_repo, outcome.snapshots["local"]) == outcome.manifest
    assert_no_secret(outcome.reason)


# ---------------------------------------------------------------- the restore fails


def _restore_with_file_limit(
    repo: Restic, snapshot: str, target: Path, limit: int, cache: Path
) -> dict[str, Any]:
    request = {
        "url": repo.repository.url,
        "password": repo.repository.password,
        "snapshot": snapshot,
        "target": str(target),
        "limit": limit,
        "cache": str(cache),
    }
    child = subprocess.run(
        [sys.executable, str(HERE / "restore_child.py")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )
    assert child.returncode == 0, child.stderr
    result: dict[str, Any] = json.loads(child.stdout)
    return result


@pytest.mark.parametrize("kind", ["sqlite", "directory"])
def test_restore_onto_a_full_disk(
    kind: str, local_repo: Restic, tag: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    value = request.getfixturevalue(f"{kind}_source")
    outcome = backup_engines.back_up(Source.model_validate({kind: str(value)}), [local_repo], [tag])
    assert outcome.ok, outcome.reason
    target = tmp_path / "restored"

    # Writes past 64 KiB fail with EFBIG, as on a full scratch disk (see restore_child.py).
    result = _restore_with_file_limit(
        local_repo, outcome.snapshots["local"], target, 64 * 1024, tmp_path / "c"
    )

    assert result["ok"] is False
    assert result["kind"] == "disk_full", result["reason"]
    assert "too large" in result["reason"].lower()
    assert_no_secret(result["reason"])
    if kind == "sqlite":
        assert not target.exists()
        assert not (tmp_path / "restored.partial").exists()


def test_restore_of_an_unknown_snapshot(local_repo: Restic, tmp_path: Path) -> None:
    restored = backup_engines.restore(local_repo, "deadbeef", tmp_path / "x")

    assert not restored.ok
    assert restored.kind == "not_found"
    assert "deadbeef" in restored.reason


def test_restore_into_an_unreachable_database(local_repo: Restic, tag: str, postgres_source: str) -> None:
    outcome = backup_engines.back_up(pg(postgres_source), [local_repo], [tag])
    assert outcome.ok, outcome.reason
    target = postgres_source.replace("127.0.0.1:5432", f"127.0.0.1:{free_port()}")

    restored = backup_engines.restore(local_repo, outcome.snapshots["local"], target)

    assert not restored.ok
    assert restored.kind == "restore_failed"
    assert "cannot connect to postgres 127.0.0.1:" in restored.reason
    assert_no_secret(restored.reason, restored.target)


@pytest.mark.parametrize("kind", ["sqlite", "directory"])
def test_a_missing_source(kind: str, local_repo: Restic, tag: str, tmp_path: Path) -> None:
    source = Source.model_validate({kind: str(tmp_path / "gone")})

    outcome = backup_engines.back_up(source, [local_repo], [tag], scratch=tmp_path)

    assert_failed(outcome, "dump_failed", str(tmp_path / "gone"))
    assert os.listdir(tmp_path) == []  # no scratch copy left behind
