"""Backup → wipe → restore → the same data, for every source kind, into a local and an S3 repository."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

from siaga.integrations import backup_engines
from siaga.integrations.backup_engines import TAG_MANIFEST, load_manifest
from siaga.integrations.restic import Restic
from siaga.spec.backups import Source
from tests.integration.backups.conftest import (
    MARIADB_PASSWORD,
    MariadbServer,
    PgServer,
    assert_no_secret,
    make_sqlite,
    root_mariadb,
    unique,
)

MAIN_TABLE = {"postgres": "shop.orders", "mariadb": "orders", "sqlite": "events"}


def _source(kind: str, value: str | Path) -> Source:
    if kind in ("postgres", "mariadb"):
        return Source.model_validate({kind: SecretStr(str(value))})
    return Source.model_validate({kind: str(value)})


def _wipe(kind: str, value: str | Path, pg: PgServer, my: MariadbServer) -> None:
    if kind == "postgres":
        pg.drop(str(value).rsplit("/", 1)[1])
    elif kind == "mariadb":
        my.drop(str(value).rsplit("/", 1)[1])
    elif kind == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{value}{suffix}").unlink(missing_ok=True)
    else:
        shutil.rmtree(value)


@pytest.mark.parametrize("kind", ["postgres", "mariadb", "sqlite", "directory"])
def test_backup_wipe_restore_gives_identical_data(
    kind: str,
    repo: Restic,
    tag: str,
    request: pytest.FixtureRequest,
    pg_server: PgServer,
    mariadb_server: MariadbServer,
) -> None:
    value = request.getfixturevalue(f"{kind}_source")

    outcome = backup_engines.back_up(_source(kind, value), [repo], [tag])

    assert outcome.ok, outcome.reason
    assert outcome.kind is None
    assert outcome.manifest is not None
    assert outcome.bytes > 0
    assert {"dump", "upload", "checksums"} <= set(outcome.durations)
    snapshot = outcome.snapshots[repo.label]
    assert re.fullmatch(r"[0-9a-f]{8,64}", snapshot)  # restic's own id: the short form in 0.14
    if kind == "directory":
        assert outcome.manifest.files == 5
    else:
        assert outcome.manifest.tables[MAIN_TABLE[kind]].rows >= 2000
        assert outcome.manifest.consistent
    # The manifest describes the source as it was (nothing wrote to it since).
    assert backup_engines.validate(value, outcome.manifest) == []
    tagged = repo.snapshots(tags=[tag])
    assert {info.id[: len(snapshot)] for info in tagged} == {snapshot, outcome.manifest_snapshots[repo.label]}
    [data] = backup_engines.data_snapshots(tagged)
    assert data.id.startswith(snapshot)
    assert TAG_MANIFEST in next(info for info in tagged if info.id != data.id).tags

    _wipe(kind, value, pg_server, mariadb_server)
    restored = backup_engines.restore(repo, snapshot, value)

    assert restored.ok, restored.reason
    assert restored.mismatches == ()
    assert restored.snapshot_id == data.id
    assert restored.bytes > 0
    assert set(restored.durations) == {"restore", "validate"}
    assert restored.manifest == outcome.manifest
    assert backup_engines.validate(value, outcome.manifest) == []
    assert_no_secret(restored.target, restored.reason)


def test_validate_reports_what_differs(local_repo: Restic, tag: str, sqlite_source: Path) -> None:
    outcome = backup_engines.back_up(_source("sqlite", sqlite_source), [local_repo], [tag])
    assert outcome.ok, outcome.reason
    assert outcome.manifest is not None
    with sqlite3.connect(sqlite_source) as conn:
        conn.execute("DELETE FROM events WHERE id = 1")
        conn.execute("UPDATE \"odd name\" SET v = v + 1 WHERE k = 'k3'")
        conn.execute("CREATE TABLE newcomer (x)")
    conn.close()

    mismatches = backup_engines.validate(sqlite_source, outcome.manifest)

    assert {(m.item, m.field) for m in mismatches} == {
        ("events", "rows"),
        ("events", "checksum"),
        ("odd name", "checksum"),
        ("newcomer", "unexpected"),
    }
    assert "events: rows expected 2000, found 1999" in [str(m) for m in mismatches]


def test_sqlite_written_during_the_backup_restores_a_consistent_state(
    local_repo: Restic, tag: str, tmp_path: Path
) -> None:
    path = make_sqlite(tmp_path / "live.db", rows=30_000)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE totals (n INTEGER)")
        conn.execute("INSERT INTO totals SELECT count(*) FROM events")
    conn.close()
    stop = threading.Event()
    writes = [0]

    def writer() -> None:
        # Every transaction adds a row and counts it: any consistent state has totals.n == count(events).
        conn = sqlite3.connect(path, timeout=30)
        while not stop.is_set():
            with conn:
                conn.execute("INSERT INTO events (name, payload) VALUES ('live', randomblob(64))")
                conn.execute("UPDATE totals SET n = n + 1")
            writes[0] += 1
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while writes[0] < 20:
            time.sleep(0.01)
        before = writes[0]
        outcome = backup_engines.back_up(_source("sqlite", path), [local_repo], [tag], scratch=tmp_path)
        during = writes[0] - before
    finally:
        stop.set()
        thread.join()

    assert outcome.ok, outcome.reason
    assert during > 0, "the writer should have kept writing while the backup ran"
    assert outcome.manifest is not None
    backed_up = outcome.manifest.tables["events"].rows
    assert 30_000 + before <= backed_up <= 30_000 + before + during
    assert not any(name.startswith("siaga-sqlite-") for name in os.listdir(tmp_path))  # copy deleted

    target = tmp_path / "restored.db"
    restored = backup_engines.restore(local_repo, outcome.snapshots["local"], target)

    assert restored.ok, restored.reason
    with sqlite3.connect(target) as conn:
        (total,) = conn.execute("SELECT n FROM totals").fetchone()
        (count,) = conn.execute("SELECT count(*) FROM events").fetchone()
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    assert total == count == backed_up


def test_one_dump_goes_to_several_repositories(
    local_repo: Restic, s3_repo: Restic, tag: str, postgres_source: str, pg_server: PgServer
) -> None:
    outcome = backup_engines.back_up(_source("postgres", postgres_source), [local_repo, s3_repo], [tag])

    assert outcome.ok, outcome.reason
    assert set(outcome.snapshots) == {"local", "s3"}
    manifests = [load_manifest(restic, outcome.snapshots[restic.label]) for restic in (local_repo, s3_repo)]
    assert manifests[0] == manifests[1] == outcome.manifest

    target = pg_server.url(postgres_source.rsplit("/", 1)[1] + "_copy")
    restored = backup_engines.restore(s3_repo, outcome.snapshots["s3"], target)
    try:
        assert restored.ok, restored.reason
        assert restored.target.startswith("postgres 127.0.0.1:5432/siaga_bk_pg_")
    finally:
        pg_server.drop(target.rsplit("/", 1)[1])


def test_forget_backups_removes_data_and_manifest(
    local_repo: Restic, tag: str, directory_source: Path
) -> None:
    first = backup_engines.back_up(_source("directory", directory_source), [local_repo], [tag])
    (directory_source / "new.txt").write_text("more")
    second = backup_engines.back_up(_source("directory", directory_source), [local_repo], [tag])
    assert first.ok
    assert second.ok

    backup_engines.forget_backups(local_repo, [first.snapshots["local"]])

    left = local_repo.snapshots(tags=[tag])
    assert {info.short_id for info in left} == {second.snapshots["local"], second.manifest_snapshots["local"]}


def test_mariadb_user_without_reload_gets_a_manifest_marked_inconsistent(
    local_repo: Restic, tag: str, mariadb_source: str
) -> None:
    # Without RELOAD there is no FLUSH TABLES WITH READ LOCK to line the two snapshots up.
    database = mariadb_source.rsplit("/", 1)[1]
    user = unique("siaga_bk_nr")
    with root_mariadb() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (MARIADB_PASSWORD,))
        cursor.execute(f"GRANT ALL ON `{database}`.* TO '{user}'@'%'")
        cursor.execute(f"GRANT SELECT ON mysql.proc TO '{user}'@'%'")  # another user's routine: SHOW CREATE
    try:
        url = mariadb_source.replace(mariadb_source.split("//", 1)[1].split(":", 1)[0], user, 1)
        outcome = backup_engines.back_up(_source("mariadb", url), [local_repo], [tag])
    finally:
        with root_mariadb() as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP USER '{user}'@'%'")

    assert outcome.ok, outcome.reason
    assert outcome.manifest is not None
    assert outcome.manifest.consistent is False
    assert outcome.manifest.tables["orders"].rows == 2000


def test_a_dump_of_several_mib_writes_its_manifest_while_streaming(
    local_repo: Restic, tag: str, postgres_source: str
) -> None:
    # Random text compresses to ~half: a few MiB of archive, so the manifest's upload starts early.
    with psycopg.connect(postgres_source) as conn:
        conn.execute(
            "CREATE TABLE shop.blobs AS SELECT g AS id, md5(random()::text) || md5(random()::text) AS v "
            "FROM generate_series(1, 80000) g"
        )

    outcome = backup_engines.back_up(_source("postgres", postgres_source), [local_repo], [tag])

    assert outcome.ok, outcome.reason
    assert outcome.bytes > 2 * 1024 * 1024
    assert outcome.manifest is not None
    assert outcome.manifest.tables["shop.blobs"].rows == 80000
    tagged = local_repo.snapshots(tags=[tag])
    assert sorted(info.short_id for info in tagged) == sorted(
        [outcome.snapshots["local"], outcome.manifest_snapshots["local"]]
    )
    assert load_manifest(local_repo, outcome.snapshots["local"]) == outcome.manifest
    with psycopg.connect(postgres_source) as conn:
        conn.execute("UPDATE shop.blobs SET v = 'changed' WHERE id = 40000")
    mismatches = backup_engines.validate(postgres_source, outcome.manifest)
    assert [(m.item, m.field) for m in mismatches] == [("shop.blobs", "checksum")]
