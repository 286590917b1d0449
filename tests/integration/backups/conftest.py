"""Real sources and real repositories for the backup engines.

Each xdist worker gets one local restic repository and one S3 repository on its own moto server, both
initialised once and shared (tests tell their snapshots apart by a unique tag), their key re-wrapped
with cheap scrypt parameters (see ``keys.py``: restic's own cost ~0.5 s of CPU per command). Sources are
fresh per test: a PostgreSQL database owned by a role with a distinctive password, a MariaDB database
and user (password with quotes and backslashes, so the option file's escaping is exercised), a SQLite
file and a directory tree.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import pymysql
import pytest
from psycopg import sql

from siaga.integrations.restic import RepoLocation, Restic
from tests.integration.backups.keys import cheapen_local, cheapen_s3
from tests.integration.servers import free_port, wait_until

PG_ADMIN = os.environ.get("SIAGA_TEST_PG_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")
MARIADB_HOST, MARIADB_PORT = "127.0.0.1", 3306

RUN = uuid.uuid4().hex[:8]
REPO_PASSWORD = f"repo-Pw-{RUN}-s3cr3t"
S3_ACCESS_KEY = f"AKIA{RUN.upper()}SIAGA"
S3_SECRET_KEY = f"s3-SecretKey-{RUN}-zzz"
PG_PASSWORD = f"pg:Pa@ss/{RUN}#x"  # URL-special characters: the URL carries it percent-encoded
MARIADB_PASSWORD = f'my"Pa\\ss#{RUN} x'
SECRETS = (REPO_PASSWORD, S3_ACCESS_KEY, S3_SECRET_KEY, PG_PASSWORD, MARIADB_PASSWORD)


def assert_no_secret(*texts: object) -> None:
    """None of the test secrets (plain or URL-encoded) appears in any of ``texts``."""
    for text in texts:
        for secret in SECRETS:
            for form in {secret, quote(secret, safe=""), quote(secret)}:
                assert form not in str(text), f"a secret leaked into: {text}"


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------- repositories


@pytest.fixture(scope="session")
def restic_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("restic-cache")


@pytest.fixture(scope="session")
def local_repo(tmp_path_factory: pytest.TempPathFactory, restic_cache: Path) -> Restic:
    path = tmp_path_factory.mktemp("repo") / "local"
    restic = Restic(RepoLocation(str(path), REPO_PASSWORD, name="local"), cache_dir=restic_cache)
    restic.init()
    cheapen_local(path, REPO_PASSWORD)
    return restic


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server on a free port (a process of its own); yield its endpoint."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("w")
    server = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    endpoint = f"http://127.0.0.1:{port}"

    def listening() -> bool:
        import socket

        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_until(listening, timeout=20, what="moto_server")
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def s3_location(
    endpoint: str, bucket: str, prefix: str = "siaga", password: str = REPO_PASSWORD
) -> RepoLocation:
    return RepoLocation(
        f"s3:{endpoint}/{bucket}/{prefix}",
        password,
        env={"AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY},
        name="s3",
    )


@pytest.fixture(scope="session")
def s3_repo(moto: str, restic_cache: Path) -> Restic:
    bucket = unique("bkt").replace("_", "-")
    restic = Restic(s3_location(moto, bucket), cache_dir=restic_cache)
    restic.init()
    cheapen_s3(moto, bucket, "siaga", REPO_PASSWORD, S3_ACCESS_KEY, S3_SECRET_KEY)
    return restic


@pytest.fixture(params=["local", "s3"])
def repo(request: pytest.FixtureRequest) -> Restic:
    restic: Restic = request.getfixturevalue(f"{request.param}_repo")
    return restic


@pytest.fixture
def tag() -> str:
    """A tag only this test's snapshots carry."""
    return unique("test")


# ---------------------------------------------------------------- PostgreSQL


@dataclass
class PgServer:
    role: str

    def url(self, database: str) -> str:
        return f"postgresql://{self.role}:{quote(PG_PASSWORD, safe='')}@127.0.0.1:5432/{database}"

    def drop(self, database: str) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    role = unique("siaga_bk")
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(PG_PASSWORD)
            )
        )
    yield PgServer(role)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for (name,) in conn.execute(
            "SELECT datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE r.rolname = %s",
            (role,),
        ).fetchall():
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f"DROP ROLE IF EXISTS {role}")


PG_DATA = """
CREATE SCHEMA shop;
CREATE TABLE shop.orders (
    id bigserial PRIMARY KEY, customer text, total numeric(12, 2), placed timestamptz, note text,
    tags text[], meta jsonb, raw bytea, ratio float8, r int
);
INSERT INTO shop.orders (customer, total, placed, note, tags, meta, raw, ratio, r)
SELECT 'customer ' || g, g * 1.25, timestamptz '2026-01-01 00:00+07' + g * interval '37 minutes',
       CASE WHEN g % 7 = 0 THEN NULL ELSE 'note ' || md5(g::text) || ' ünïcode ✓' END,
       ARRAY['a', 'b' || g], jsonb_build_object('g', g, 'even', g % 2 = 0),
       decode(md5(g::text), 'hex'), g / 3.0, g % 5
FROM generate_series(1, 3000) g;
CREATE TABLE public.empty_table (x int);
CREATE TABLE public."Mixed Case" (k int PRIMARY KEY, "t" text);
INSERT INTO public."Mixed Case" SELECT g, repeat('x', g) FROM generate_series(1, 50) g;
CREATE VIEW shop.big_orders AS SELECT * FROM shop.orders WHERE total > 1000;
"""


@pytest.fixture
def postgres_source(pg_server: PgServer) -> Iterator[str]:
    """A fresh database with data; its URL (carrying the role's password)."""
    name = unique("siaga_bk_pg")
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" OWNER {pg_server.role}')
    url = pg_server.url(name)
    with psycopg.connect(url) as conn:
        conn.execute(PG_DATA)
    yield url
    pg_server.drop(name)


# ---------------------------------------------------------------- MariaDB


@dataclass
class MariadbServer:
    user: str

    def url(self, database: str) -> str:
        return (
            f"mysql://{self.user}:{quote(MARIADB_PASSWORD, safe='')}@{MARIADB_HOST}:{MARIADB_PORT}/{database}"
        )

    def connect(self, database: str) -> pymysql.connections.Connection:
        return pymysql.connect(
            host=MARIADB_HOST,
            port=MARIADB_PORT,
            user=self.user,
            password=MARIADB_PASSWORD,
            database=database,
            autocommit=True,
            charset="utf8mb4",
        )

    def drop(self, database: str) -> None:
        with root_mariadb() as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")


def root_mariadb(database: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(
        host=MARIADB_HOST,
        port=MARIADB_PORT,
        user="root",
        database=database,
        autocommit=True,
        charset="utf8mb4",
    )


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariadbServer]:
    user = unique("siaga_bk")
    with root_mariadb() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (MARIADB_PASSWORD,))
        cursor.execute(f"GRANT ALL ON `siaga\\_bk\\_my\\_%`.* TO '{user}'@'%'")
        cursor.execute(f"GRANT RELOAD ON *.* TO '{user}'@'%'")
    yield MariadbServer(user)
    with root_mariadb() as conn, conn.cursor() as cursor:
        cursor.execute(f"DROP USER IF EXISTS '{user}'@'%'")


MARIADB_DATA = [
    """CREATE TABLE orders (
        id INT AUTO_INCREMENT PRIMARY KEY, customer VARCHAR(100), total DECIMAL(12, 2), ratio DOUBLE,
        placed DATETIME(3), seen TIMESTAMP NULL, note TEXT, raw BLOB, `order` INT
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """INSERT INTO orders (customer, total, ratio, placed, seen, note, raw, `order`)
       SELECT CONCAT('customer ', seq), seq * 1.25, seq / 3, '2026-01-01 00:00:00' + INTERVAL seq MINUTE,
              FROM_UNIXTIME(1767225600 + seq), IF(seq % 7 = 0, NULL, CONCAT('note ✓ 🎉 ', MD5(seq))),
              UNHEX(MD5(seq)), seq % 5
       FROM seq_1_to_2000""",
    "CREATE TABLE empty_table (x INT) ENGINE=InnoDB",
    "CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, order_id INT) ENGINE=InnoDB",
    "CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW"
    " INSERT INTO audit (order_id) VALUES (NEW.id)",
    "CREATE PROCEDURE order_count() SELECT COUNT(*) FROM orders",
]


@pytest.fixture
def mariadb_source(mariadb_server: MariadbServer) -> Iterator[str]:
    name = unique("siaga_bk_my")
    with root_mariadb() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}`")
    with mariadb_server.connect(name) as conn, conn.cursor() as cursor:  # the user defines the trigger
        for statement in MARIADB_DATA:
            cursor.execute(statement)
    yield mariadb_server.url(name)
    mariadb_server.drop(name)


# ---------------------------------------------------------------- SQLite and directories


def make_sqlite(path: Path, rows: int = 2000) -> Path:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, name TEXT, weight REAL, payload BLOB, note)"
        )
        conn.executemany(
            "INSERT INTO events (name, weight, payload, note) VALUES (?, ?, ?, ?)",
            [(f"event {i} ✓", i / 7, os.urandom(32), None if i % 5 else i) for i in range(rows)],
        )
        conn.execute('CREATE TABLE "odd name" (k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID')
        conn.executemany('INSERT INTO "odd name" VALUES (?, ?)', [(f"k{i}", i) for i in range(100)])
        conn.execute("CREATE TABLE empty_table (x)")
    conn.close()
    return path


@pytest.fixture
def sqlite_source(tmp_path: Path) -> Path:
    return make_sqlite(tmp_path / "app.db")


def make_tree(root: Path) -> Path:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "readme.txt").write_text("hello\n")
    (root / "empty").write_bytes(b"")
    (root / "sub" / "data.bin").write_bytes(os.urandom(200_000))
    (root / "sub" / "deeper" / "ünï cøde.txt").write_text("✓" * 1000)
    (root / "link").symlink_to("readme.txt")
    return root


@pytest.fixture
def directory_source(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "files")
