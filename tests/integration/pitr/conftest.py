"""A throwaway PostgreSQL 15 cluster archiving its WAL into an encrypted pgBackRest repository.

Everything lives in one directory under /tmp owned by the postgres OS user (initdb and pgBackRest refuse to
run as root); the cluster listens on its Unix socket only, on a port no other worker uses.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from pydantic import SecretStr

from siaga.adapters.db import engine as db_engine
from siaga.adapters.db import migrate
from siaga.adapters.db.engine import Database
from siaga.integrations.pitr import (
    Host,
    PgBackRest,
    StanzaSetup,
    WalRepository,
    postgresql_settings,
    render_postgresql_conf,
    write_config,
)

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PASSPHRASE = "pitr-test-Passphrase-7c1e93"


@dataclass(frozen=True)
class Cluster:
    root: Path
    data: Path
    port: int
    host: Host
    stanza: StanzaSetup
    pitr: PgBackRest

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(host=str(self.root), port=self.port, user="postgres", autocommit=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def as_postgres(*argv: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True, capture_output=True, timeout=60)


def switch_wal_and_wait(conn: psycopg.Connection, timeout: float = 20) -> None:
    """Close the current WAL segment and wait until PostgreSQL has archived it."""
    row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
    assert row is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        archived = conn.execute("SELECT last_archived_wal, last_failed_wal FROM pg_stat_archiver").fetchone()
        if archived is not None and archived[0] is not None and archived[0] >= row[0]:
            return
        time.sleep(0.05)
    raise TimeoutError(f"WAL segment {row[0]} was not archived within {timeout}s (archiver: {archived})")


@pytest.fixture
def workdir() -> Iterator[Path]:
    for needed in (PG_BIN / "initdb", Path(shutil.which("pgbackrest") or "/usr/bin/pgbackrest")):
        if not needed.exists():
            raise RuntimeError(f"{needed} is missing: install postgresql-15 and pgbackrest (Debian)")
    root = Path(tempfile.mkdtemp(prefix="siaga-pitr-", dir="/tmp"))
    owner = pwd.getpwnam("postgres")
    os.chown(root, owner.pw_uid, owner.pw_gid)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def cluster(workdir: Path) -> Iterator[Cluster]:
    """A running cluster with archiving on and its stanza created (no base backup yet)."""
    data, port = workdir / "data", free_port()
    host = Host(config_path=workdir / "pgbackrest", pg_bin_dir=PG_BIN, log_path=workdir, lock_path=workdir)
    stanza = StanzaSetup(
        name=f"test-{port}",
        pg_data_dir=data,
        pg_port=port,
        pg_socket_dir=workdir,
        repositories=(WalRepository(path=str(workdir / "repo"), cipher_pass=SecretStr(PASSPHRASE)),),
        archive_timeout=timedelta(seconds=60),
    )
    write_config(host=host, stanzas=[stanza])
    as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync")
    settings = postgresql_settings(host=host, stanza=stanza) | {
        "listen_addresses": "",
        "unix_socket_directories": str(workdir),
        "port": str(port),
        "fsync": "off",  # a throwaway cluster: durability is not under test, speed is welcome
    }
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(render_postgresql_conf(settings))
    pg_ctl = str(PG_BIN / "pg_ctl")
    as_postgres(pg_ctl, "start", "-D", str(data), "-l", str(workdir / "postgres.log"), "-w")
    try:
        pitr = PgBackRest(host=host, stanza=stanza)
        pitr.stanza_create()
        yield Cluster(root=workdir, data=data, port=port, host=host, stanza=stanza, pitr=pitr)
    finally:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", pg_ctl, "stop", "-D", str(data), "-m", "immediate", "-w"],
            capture_output=True,
            timeout=60,
            check=False,
        )


# ---------------------------------------------------------------- for backup jobs with pitr: true


@dataclass(frozen=True)
class PlainCluster:
    """A running cluster that does not archive yet: what a DBA has before applying Siaga's settings."""

    root: Path
    data: Path
    port: int
    host: Host

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(host=str(self.root), port=self.port, user="postgres", autocommit=True)

    def url(self, password: str) -> str:
        """A postgres:// URL on the Unix socket (trust: the password is never asked for)."""
        return (
            f"postgresql://postgres:{quote(password, safe='')}@/postgres"
            f"?host={quote(str(self.root), safe='')}&port={self.port}"
        )

    def apply(self, conf_lines: str) -> None:
        """Append ``postgresql.conf`` lines and restart (``archive_mode`` needs it)."""
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(conf_lines)
        log = str(self.root / "postgres.log")
        as_postgres(str(PG_BIN / "pg_ctl"), "restart", "-D", str(self.data), "-l", log, "-m", "fast", "-w")


@pytest.fixture
def plain_cluster(workdir: Path) -> Iterator[PlainCluster]:
    """A running PostgreSQL 15 on a Unix socket in ``workdir``, archiving off, no pgBackRest stanza."""
    data, port = workdir / "data", free_port()
    host = Host(config_path=workdir / "pgbackrest", pg_bin_dir=PG_BIN, log_path=workdir, lock_path=workdir)
    as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync")
    settings = {"listen_addresses": "", "unix_socket_directories": str(workdir), "port": str(port)}
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(render_postgresql_conf(settings | {"fsync": "off"}))
    pg_ctl = str(PG_BIN / "pg_ctl")
    as_postgres(pg_ctl, "start", "-D", str(data), "-l", str(workdir / "postgres.log"), "-w")
    try:
        yield PlainCluster(root=workdir, data=data, port=port, host=host)
    finally:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", pg_ctl, "stop", "-D", str(data), "-m", "immediate", "-w"],
            capture_output=True,
            timeout=60,
            check=False,
        )


@pytest.fixture
def siaga_db(tmp_path: Path) -> Iterator[Database]:
    """Siaga's own store, on SQLite: where drill runs and their incidents are recorded."""
    engine = db_engine.create(db_engine.sqlite_url(tmp_path))
    migrate.upgrade(engine)
    database = Database(engine)
    yield database
    database.dispose()
