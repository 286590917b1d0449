"""PITR wired into a backup job: the heartbeat, setup on the database host, drills recorded as runs."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from siaga.adapters.clock import ManualClock
from siaga.adapters.db.engine import Database
from siaga.integrations.pitr import Host
from siaga.services import backups, incidents, pitr_jobs
from siaga.services.backups import BackupUsageError, Context
from siaga.services.policy import Policy
from siaga.spec import Spec, parse_spec

from .conftest import PlainCluster, free_port, switch_wal_and_wait

JOB = "orders-db"
DB_PASSWORD = "src-Db/Pw-4b9e"  # '/' is percent-encoded in the URL: both forms must stay out of messages
REPO_PASSWORD = "restic-Repo-Pw-51d2"
SECRETS = (DB_PASSWORD, DB_PASSWORD.replace("/", "%2F"), REPO_PASSWORD)
ARCHIVE_TIMEOUT = timedelta(seconds=2)


def job_spec(root: Path, url: str, *, rpo: str = "30s") -> Spec:
    text = f"""
version: 1
project: {{name: pitr-test, timezone: Asia/Jakarta, resolve_after: 5m}}
severities:
  - {{name: SEV-1, aliases: [critical]}}
  - {{name: SEV-2, aliases: [warning]}}
services: {{}}
backups:
  repositories:
    offsite: {{path: "{root}/restic", password: "${{RESTIC_PASSWORD}}"}}
  jobs:
    {JOB}:
      source: {{postgres: "${{ORDERS_DB_URL}}"}}
      schedule: daily
      repositories: [offsite]
      pitr: true
      drill: {{every: weekly, rto: 2m, rpo: {rpo}}}
    orders-dump:
      source: {{postgres: "${{ORDERS_DB_URL}}"}}
      schedule: daily
      repositories: [offsite]
"""
    env = {"RESTIC_PASSWORD": REPO_PASSWORD, "ORDERS_DB_URL": url}
    return parse_spec(text, filename="pitr-test.yaml", env=env)


def context(spec: Spec, db: Database, clock: ManualClock, tmp_path: Path) -> Context:
    return Context(spec=spec, uow=db, policy=Policy.from_spec(spec), clock=clock, data_dir=tmp_path)


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in str(text), f"a secret leaked into: {text}"


def beat(ctx: Context, count: int, every: float = 1.0) -> list[datetime]:
    """Write ``count`` heartbeats with real times, ``every`` seconds apart (Siaga's minute, shortened)."""
    written = []
    for index in range(count):
        if index:
            time.sleep(every)
        now = datetime.now(UTC)
        pitr_jobs.heartbeat(ctx, JOB, now)
        written.append(now)
    return written


def sleep_until(moment: datetime) -> None:
    while datetime.now(UTC) < moment:
        time.sleep(0.05)


def test_drills_measure_the_rpo_from_the_heartbeat_and_record_hits_and_misses(
    plain_cluster: PlainCluster, siaga_db: Database, tmp_path: Path
) -> None:
    cluster = plain_cluster
    url = cluster.url(DB_PASSWORD)
    clock = ManualClock(datetime.now(UTC))
    ctx = context(job_spec(cluster.root, url), siaga_db, clock, tmp_path)

    early = beat(ctx, 2, every=0.1)  # the first beat creates the table
    with cluster.connect() as conn:
        rows = [row[0] for row in conn.execute("SELECT beat_at FROM siaga_heartbeat ORDER BY beat_at")]
    assert rows == early

    # What the DBA applies: the data directory comes from SHOW data_directory; no secret in it.
    text = pitr_jobs.setup_text(ctx, JOB, None, host=cluster.host, archive_timeout=ARCHIVE_TIMEOUT)
    assert_no_secret(text)
    for line in (
        f"[{JOB}]",
        f"pg1-path={cluster.data}",
        f"pg1-port={cluster.port}",
        f"pg1-socket-path={cluster.root}",
        f"repo1-path={cluster.root}/restic-pitr",
        "repo1-cipher-type=aes-256-cbc",
        "repo1-cipher-pass=<the password of restic repository 'offsite'>",
        "archive_mode = 'on'",
        "wal_level = 'replica'",
        "archive_timeout = '2s'",
        f"pgbackrest --config-path={cluster.host.config_path} --stanza={JOB} stanza-create",
    ):
        assert line in text.splitlines()
    settings = re.findall(r"^(?:wal_level|archive_mode|archive_command|archive_timeout) = .*\n", text, re.M)
    assert len(settings) == 4
    cluster.apply("".join(settings))  # pasted into postgresql.conf, then a restart

    backup = pitr_jobs.setup(ctx, JOB, host=cluster.host)
    assert backup.type == "full"
    sleep_until(backup.consistent_at)

    # A drill to a moment between two heartbeats recovers exactly up to the one before it.
    before = beat(ctx, 3)[-1]
    time.sleep(0.5)
    target = datetime.now(UTC)
    after = beat(ctx, 2, every=0.2)
    with cluster.connect() as conn:
        switch_wal_and_wait(conn)
    clock.set(datetime.now(UTC))
    scratch = cluster.root / "scratch-hit"
    hit = pitr_jobs.drill(ctx, JOB, host=cluster.host, scratch_dir=scratch, port=free_port(), to_time=target)
    assert hit.ok, hit.reason
    assert hit.kind == "drill"
    assert hit.detail["pitr"] is True
    assert hit.detail["to_time"] == target.isoformat()
    assert hit.detail["rpo_seconds"] == round((target - before).total_seconds(), 3)
    assert hit.detail["rpo_seconds"] <= ARCHIVE_TIMEOUT.total_seconds() + 3
    assert hit.detail["last_heartbeat"] == before.isoformat()  # not after[0]: committed after the target
    assert after[0] > target
    assert hit.detail["backup_label"] == backup.label
    phases = hit.detail["phases"]
    assert set(phases) == {"fetch", "replay", "validate"}
    assert all(seconds >= 0 for seconds in phases.values())
    assert sum(phases.values()) == pytest.approx(hit.detail["rto_seconds"], abs=0.01)
    assert hit.detail["rto_target_seconds"] == 120
    assert not scratch.exists()  # the scratch cluster is stopped and its copy deleted
    [recorded] = backups.history(ctx, JOB)
    assert (recorded["kind"], recorded["ok"]) == ("drill", True)
    assert recorded["detail"]["rpo_seconds"] == hit.detail["rpo_seconds"]

    # Heartbeats stop for 2.5 s (Siaga down, say); a drill right after the gap misses an RPO of 1 s.
    strict = context(job_spec(cluster.root, url, rpo="1s"), siaga_db, clock, tmp_path)
    time.sleep(2.5)
    gap_end = datetime.now(UTC)
    beat(ctx, 1)
    with cluster.connect() as conn:
        switch_wal_and_wait(conn)
    clock.set(datetime.now(UTC))
    scratch = cluster.root / "scratch-miss"
    miss = pitr_jobs.drill(
        strict, JOB, host=cluster.host, scratch_dir=scratch, port=free_port(), to_time=gap_end
    )
    assert not miss.ok
    assert miss.reason is not None
    assert miss.reason.startswith("RPO ")
    assert re.search(r"\(RPO \d+\.\d s / target 1 s, RTO \d+\.\d s / target 120 s\)$", miss.reason)
    assert miss.detail["rpo_seconds"] >= 2.5
    assert miss.detail["last_heartbeat"] == after[-1].isoformat()
    assert not scratch.exists()
    [incident] = [i for i in incidents.list_incidents(uow=siaga_db) if i["status"] != "resolved"]
    assert f"restore drill of {JOB} missed its targets" in str(incident["title"])
    assert_no_secret(miss, incident, backups.history(ctx, JOB))

    # Without a target time the drill restores to now, once the WAL past now is archived
    # (archive_timeout, 2 s here, switches the segment): what a disaster now would get back.
    clock.set(datetime.now(UTC))
    scratch = cluster.root / "scratch-now"
    now = pitr_jobs.drill(ctx, JOB, host=cluster.host, scratch_dir=scratch, port=free_port())
    assert now.ok, now.reason
    assert now.detail["to_time"] == clock.now().isoformat()
    assert now.detail["archive_wait_seconds"] <= ARCHIVE_TIMEOUT.total_seconds() + 5
    assert 0 < now.detail["rpo_seconds"] <= 30
    assert not scratch.exists()
    assert [run["ok"] for run in backups.history(ctx, JOB)] == [True, False, True]


def test_jobs_without_pitr_and_unreachable_sources_get_one_line_errors(
    siaga_db: Database, tmp_path: Path
) -> None:
    url = f"postgresql://siaga:{DB_PASSWORD.replace('/', '%2F')}@127.0.0.1:1/orders?connect_timeout=2"
    clock = ManualClock(datetime.now(UTC))
    ctx = context(job_spec(tmp_path, url), siaga_db, clock, tmp_path)
    host = Host(config_path=tmp_path / "pgbackrest")

    with pytest.raises(BackupUsageError, match="job 'orders-dump' has no `pitr: true`") as refused:
        pitr_jobs.restore_to_time(
            ctx, "orders-dump", clock.now(), host=host, scratch_dir=tmp_path / "s", port=free_port()
        )
    assert "\n" not in str(refused.value)
    with pytest.raises(BackupUsageError, match="has no `pitr: true`"):
        pitr_jobs.drill(ctx, "orders-dump", host=host, scratch_dir=tmp_path / "s", port=free_port())
    with pytest.raises(BackupUsageError, match="has no `pitr: true`"):
        pitr_jobs.setup_text(ctx, "orders-dump", tmp_path / "data")
    with pytest.raises(BackupUsageError, match="no backup job 'nope'"):
        pitr_jobs.heartbeat(ctx, "nope", clock.now())
    assert backups.history(ctx) == []  # refusals are not drills

    with pytest.raises(pitr_jobs.PitrJobError, match=f"heartbeat of job '{JOB}' failed") as failed:
        pitr_jobs.heartbeat(ctx, JOB, clock.now())
    with pytest.raises(pitr_jobs.PitrJobError, match="cannot read the data directory") as unknown:
        pitr_jobs.setup_text(ctx, JOB, None)
    for error in (failed.value, unknown.value):
        assert "\n" not in str(error)
        assert_no_secret(error)
    # Given the data directory, the text needs no connection (it is shown before archiving is on).
    text = pitr_jobs.setup_text(ctx, JOB, Path("/var/lib/postgresql/15/main"))
    assert "pg1-path=/var/lib/postgresql/15/main" in text.splitlines()
    assert "pg1-socket-path=/var/run/postgresql" in text.splitlines()  # a TCP source: Debian's socket
    assert f"pgbackrest --stanza={JOB} check" in text.splitlines()
    assert_no_secret(text)
