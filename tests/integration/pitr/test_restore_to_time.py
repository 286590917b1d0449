"""Point-in-time recovery end to end: archive WAL, take base backups, restore into a scratch cluster."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from siaga.integrations.pitr import RestoreTargetError, ScratchClusterError

from .conftest import PASSPHRASE, Cluster, free_port, switch_wal_and_wait


def insert(conn: psycopg.Connection, first: int, last: int) -> None:
    conn.execute("INSERT INTO items (id) SELECT generate_series(%s::int, %s::int)", (first, last))


def now_on(conn: psycopg.Connection) -> datetime:
    row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    moment: datetime = row[0]
    return moment


def test_restore_to_time_keeps_exactly_the_rows_committed_before_the_target(cluster: Cluster) -> None:
    with cluster.connect() as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY)")
        insert(conn, 1, 10)
        full = cluster.pitr.base_backup(type="full")
        insert(conn, 11, 20)
        incr = cluster.pitr.base_backup(type="incr")
        while datetime.now(UTC) < incr.consistent_at:  # the target must lie after the backup's end
            time.sleep(0.05)
        insert(conn, 21, 30)
        target = now_on(conn)
        switch_wal_and_wait(conn)
        insert(conn, 31, 40)
        switch_wal_and_wait(conn)

    info = cluster.pitr.info()
    assert [(b.label, b.type) for b in info.backups] == [(full.label, "full"), (incr.label, "incr")]
    assert all(b.started_at <= b.stopped_at and b.wal_start <= b.wal_stop for b in info.backups)
    assert {b.pg_version for b in info.backups} == {"15"}
    assert info.wal_min is not None
    assert info.wal_min <= full.wal_start
    assert info.wal_max is not None
    assert info.wal_max >= incr.wal_stop

    scratch = cluster.root / "scratch"
    restored = cluster.pitr.restore_to_time(target_time=target, scratch_data_dir=scratch, port=free_port())
    try:
        assert restored.backup_label == incr.label
        with psycopg.connect(restored.url, autocommit=True) as conn:
            ids = [row[0] for row in conn.execute("SELECT id FROM items ORDER BY id")]
            in_recovery = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            archive_mode = conn.execute("SHOW archive_mode").fetchone()
        assert ids == list(range(1, 31))
        assert in_recovery == (False,)  # promoted
        assert archive_mode == ("off",)  # never pushes into the production repository
    finally:
        cluster.pitr.stop_scratch(restored)
    assert not scratch.exists()


def test_a_target_before_the_base_backup_ended_is_refused(cluster: Cluster) -> None:
    with cluster.connect() as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY)")
        insert(conn, 1, 10)
        before = now_on(conn)
    backup = cluster.pitr.base_backup(type="full")

    scratch = cluster.root / "scratch"
    with pytest.raises(RestoreTargetError, match="before the end of the earliest base backup") as refused:
        cluster.pitr.restore_to_time(target_time=before, scratch_data_dir=scratch, port=free_port())
    assert backup.label in str(refused.value)
    assert PASSPHRASE not in str(refused.value)
    assert not scratch.exists()  # refused before anything was restored


def test_a_target_past_the_archived_wal_fails_with_postgres_reason_and_stops_the_scratch(
    cluster: Cluster,
) -> None:
    with cluster.connect() as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY)")
    backup = cluster.pitr.base_backup(type="full")

    scratch = cluster.root / "scratch"
    later = backup.consistent_at + timedelta(hours=1)  # no WAL reaches that far
    with pytest.raises(
        ScratchClusterError, match="recovery ended before configured recovery target"
    ) as failed:
        cluster.pitr.restore_to_time(target_time=later, scratch_data_dir=scratch, port=free_port())
    assert "recovery ended before configured recovery target was reached" in str(failed.value).splitlines()[0]
    assert not scratch.exists()  # nothing left behind: no process, no copy of the data
