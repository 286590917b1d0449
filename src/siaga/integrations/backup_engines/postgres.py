"""PostgreSQL: ``pg_dump -Fc`` in an exported snapshot, counted and checksummed as it streams.

Backup: a REPEATABLE READ, READ ONLY transaction exports its snapshot (``pg_export_snapshot()``) and
``pg_dump --snapshot --compress=1`` dumps exactly that state. Its bytes go to restic, to ``pg_restore
--list`` (the archive header and table of contents must parse, and hold TABLE DATA entries when tables
exist) and to a reader in this process (``pgarchive``) that inflates every data block to its end and
records each table's row count and the CRC-32 and length of its COPY text — the manifest, taken from the
very bytes stored, at no cost to the database. Validation reads ``pg_dump --data-only`` of the restored
database the same way. (zlib level 1: the dump is bound by the server's COPY, not by compression, and
the cheapest level leaves the second core to the reader and restic; level 6 saved 2 % of the size of a
pgbench dump for 70 % more CPU.)

An archive the reader does not know (a pg_dump newer than it) is still stored: the transaction that
exported the snapshot then counts rows and sums ``hashtext(row::text)`` per table in that same snapshot
(``pg-hashtext-sum``, the method of manifests written before this reader; validation follows the
manifest's method).

Restore: ``restic dump | pg_restore --clean --if-exists --no-owner`` into the target, created when missing.
Passwords reach the tools through ``PGPASSWORD``, never the command line.
"""

from __future__ import annotations

import queue
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
import psycopg.conninfo
from psycopg import sql

from siaga.integrations.backup_engines.manifest import Manifest, TableDigest
from siaga.integrations.backup_engines.pgarchive import (
    ArchiveDigest,
    ArchiveError,
    UnsupportedArchive,
    read_archive,
)
from siaga.integrations.backup_engines.processes import (
    BackupError,
    Child,
    failure_kind,
    pump_snapshot,
    tool_env,
)
from siaga.integrations.restic import CHUNK, Restic, scrub

METHOD = "pg-copy-crc32"
METHOD_SQL = "pg-hashtext-sum"
_DUMP_OPTIONS = ("--format=custom", "--no-password")
_SESSION = (
    "SET TimeZone TO 'UTC'",
    "SET DateStyle TO 'ISO, YMD'",
    "SET IntervalStyle TO 'postgres'",
    "SET extra_float_digits TO 3",
    "SET bytea_output TO 'hex'",
)
# Ordinary tables pg_dump writes data for: not catalogs, temp or TOAST schemas, nor extension members.
_TABLES = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
  AND NOT EXISTS (
    SELECT 1 FROM pg_depend d
    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  )
ORDER BY 1, 2
"""
_TABLE_DATA = re.compile(r"^\d+; \d+ \d+ TABLE DATA ", re.MULTILINE)


class Target:
    """A PostgreSQL URL split into what psycopg, the tools and messages each need."""

    def __init__(self, url: str, kind: str = "dump_failed") -> None:
        self.url = url
        try:
            params: dict[str, Any] = psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError:
            raise BackupError(kind, "the postgres URL does not parse") from None
        self.password: str | None = params.pop("password", None)
        self.params = params
        self.dbname = str(params.get("dbname") or params.get("user") or "postgres")
        self.label = f"postgres {params.get('host', 'localhost')}:{params.get('port', 5432)}/{self.dbname}"
        self.conninfo = psycopg.conninfo.make_conninfo("", **params)  # no password: it goes in PGPASSWORD

    @property
    def secrets(self) -> list[str]:
        return [self.password] if self.password else []

    def env(self) -> dict[str, str]:
        return tool_env(PGPASSWORD=self.password)

    def connect(self, kind: str, dbname: str | None = None, **kwargs: Any) -> psycopg.Connection[Any]:
        params = {**self.params, "password": self.password, "connect_timeout": 10}
        if dbname is not None:
            params["dbname"] = dbname
        try:
            return psycopg.connect(psycopg.conninfo.make_conninfo("", **params), **kwargs)
        except psycopg.Error as exc:
            raise BackupError(
                kind, f"cannot connect to {self.label}: {scrub(str(exc), self.secrets)}"
            ) from None


def checksums(conn: psycopg.Connection[Any]) -> dict[str, TableDigest]:
    """Row count and checksum of every table, in the connection's current transaction."""
    for statement in _SESSION:
        conn.execute(statement)
    tables = conn.execute(_TABLES).fetchall()
    digests: dict[str, TableDigest] = {}
    for schema, table in tables:
        query = sql.SQL(
            "SELECT count(*), coalesce(sum(hashtext(ROW(r.*)::text)::bigint), 0)::text FROM {}.{} AS r"
        ).format(sql.Identifier(schema), sql.Identifier(table))
        rows, checksum = conn.execute(query).fetchone() or (0, "0")
        digests[f"{schema}.{table}"] = TableDigest(int(rows), str(checksum))
    return digests


def measure(target: str, method: str = METHOD) -> Manifest:
    """A manifest of the database at ``target`` as it is now, by ``method`` (one consistent snapshot)."""
    where = Target(target, "validate_failed")
    if method == METHOD:
        return Manifest("postgres", where.label, "", datetime.now(UTC), METHOD, _read_data(where))
    with where.connect("validate_failed") as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        try:
            tables = checksums(conn)
        except psycopg.Error as exc:
            raise BackupError("validate_failed", f"{where.label}: {scrub(str(exc), where.secrets)}") from None
    return Manifest("postgres", where.label, "", datetime.now(UTC), method, tables)


def _read_data(where: Target) -> dict[str, TableDigest]:
    """Counts and checksums of ``pg_dump --data-only`` of the database, read as the backup reads."""
    where.connect("validate_failed").close()  # a clear message when the database cannot be reached
    dumper = shutil.which("pg_dump") or "pg_dump"
    child = Child(
        "pg_dump --data-only",
        [dumper, *_DUMP_OPTIONS, "--compress=1", "--data-only", "--dbname", where.conninfo],
        env=where.env(),
    )
    try:
        try:
            digest: ArchiveDigest | ArchiveError = read_archive(iter(lambda: child.stdout.read(CHUNK), b""))
        except ArchiveError as exc:
            digest = exc
        returncode = child.wait()
        if returncode != 0:
            complaint = child.complaint(where.secrets)
            raise BackupError(
                "validate_failed", f"pg_dump of {where.label} exited with code {returncode}: {complaint}"
            )
        if not isinstance(digest, ArchiveDigest):
            raise BackupError("validate_failed", f"reading pg_dump of {where.label}: {digest}")
        return _digests(digest)
    finally:
        child.stop()


class PostgresDump:
    """``pg_dump -Fc --snapshot`` of an exported snapshot; see the module docstring."""

    def __init__(self, url: str, *, deduplicate: bool = False) -> None:
        self._target = Target(url)
        self._deduplicate = deduplicate
        self.secrets: Sequence[str] = self._target.secrets
        self.filename = f"{self._target.dbname}.pgdump"
        self.timings: dict[str, float] = {}
        self._bytes = 0
        self._children: list[Child] = []
        self._digest = _DigestThread()
        self._counted: dict[str, TableDigest] | BackupError | None = None
        self._counter = threading.Thread(target=self._count, daemon=True)
        self._conn = self._target.connect("dump_failed")
        try:
            self._conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            self._conn.read_only = True
            row = self._conn.execute("SELECT pg_export_snapshot()").fetchone()
            snapshot = str(row[0]) if row else ""
            self._created = datetime.now(UTC)
            self._table_count = len(self._conn.execute(_TABLES).fetchall())
            dumper = shutil.which("pg_dump") or "pg_dump"
            restorer = shutil.which("pg_restore") or "pg_restore"
            options = [*_DUMP_OPTIONS, "--compress=0"] if deduplicate else [*_DUMP_OPTIONS, "--compress=1"]
            self._dump = Child(
                "pg_dump",
                [dumper, *options, f"--snapshot={snapshot}", "--dbname", self._target.conninfo],
                env=self._target.env(),
            )
            self._children.append(self._dump)
            self._toc = Child(
                "pg_restore --list", [restorer, "--list"], stdin=subprocess.PIPE, capture_stdout=True
            )
            self._children.append(self._toc)
        except BaseException:
            self.close()
            raise
        # Deduplicated, the archive is uncompressed (a chunk per row, too many to read here), so the
        # exporting transaction counts and checksums beside the dump instead.
        (self._counter if deduplicate else self._digest).start()

    def chunks(self) -> Iterator[bytes]:
        stdout = self._dump.stdout
        while chunk := stdout.read(CHUNK):
            self._bytes += len(chunk)
            self._toc.feed(chunk)
            if not self._deduplicate:
                self._digest.feed(chunk)
            yield chunk

    def finish(self) -> Manifest:
        returncode = self._dump.wait()
        if returncode != 0:
            raise BackupError(
                "dump_failed", f"pg_dump exited with code {returncode}: {self._dump.complaint(self.secrets)}"
            )
        if self._bytes == 0:
            raise BackupError("dump_empty", "pg_dump wrote nothing")
        if self._toc.wait() != 0:
            raise BackupError(
                "dump_invalid", f"pg_restore --list rejected the archive: {self._toc.complaint(self.secrets)}"
            )
        if self._table_count and not _TABLE_DATA.search(self._toc.stdout_text()):
            raise BackupError(
                "dump_empty", f"the archive holds no TABLE DATA though {self._table_count} tables exist"
            )
        method, tables = self._tables()
        return Manifest(
            "postgres",
            self._target.label,
            self.filename,
            self._created,
            method,
            tables,
            size=self._bytes,
        )

    def _tables(self) -> tuple[str, dict[str, TableDigest]]:
        """The manifest's method and tables: from the archive reader, else from the snapshot."""
        if self._deduplicate:
            self._counter.join()
            counted = self._counted
        else:
            digest = self._digest.result()
            self.timings["checksums"] = self._digest.cpu_seconds
            if not isinstance(digest, ArchiveError):
                return METHOD, _digests(digest)
            if not isinstance(digest, UnsupportedArchive):
                raise BackupError("dump_invalid", f"the archive is not whole: {digest}")
            self._count()  # a pg_dump newer than the reader: count in the snapshot, after the dump
            counted = self._counted
        if isinstance(counted, BackupError) or counted is None:
            raise counted or BackupError("dump_failed", "counting rows stopped")
        return METHOD_SQL, counted

    def _count(self) -> None:
        started = time.perf_counter()
        try:
            self._counted = checksums(self._conn)
        except psycopg.Error as exc:
            self._counted = BackupError(
                "dump_failed", f"counting rows failed: {scrub(str(exc), self.secrets)}"
            )
        finally:
            self.timings["checksums"] = time.perf_counter() - started

    def kill(self) -> None:
        for child in self._children:
            child.kill()

    def close(self) -> None:
        self.kill()
        for child in self._children:
            child.stop()
        self._children.clear()
        self._digest.close()
        if self._conn.closed:
            return
        if self._counter.is_alive():
            self._conn.cancel_safe()
            self._counter.join()
        self._conn.close()


class _DigestThread(threading.Thread):
    """Reads the archive (``pgarchive.read_archive``) from the chunks it is fed, beside the upload."""

    def __init__(self) -> None:
        super().__init__(name="pg-archive-digest", daemon=True)
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._ended = False  # the reader has taken the end marker
        self._closed = False
        self._outcome: ArchiveDigest | ArchiveError | None = None
        self.cpu_seconds = 0.0

    def feed(self, chunk: bytes) -> None:
        if not self._closed:
            self._queue.put(chunk)

    def close(self) -> None:
        """No more chunks; waits for the reader to finish (it always drains what it was fed)."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
        if self.is_alive():
            self.join()

    def result(self) -> ArchiveDigest | ArchiveError:
        self.close()
        if self._outcome is None:
            return ArchiveError("the archive reader stopped")
        return self._outcome

    def run(self) -> None:
        started = time.thread_time()
        try:
            self._outcome = read_archive(self._chunks())
        except ArchiveError as exc:
            self._outcome = exc
        finally:
            self.cpu_seconds = time.thread_time() - started
            while not self._ended:  # keep taking chunks, so the pump never blocks on a full queue
                self._ended = self._queue.get() is None

    def _chunks(self) -> Iterator[bytes]:
        while (chunk := self._queue.get()) is not None:
            yield chunk
        self._ended = True


def _digests(digest: ArchiveDigest | ArchiveError) -> dict[str, TableDigest]:
    if not isinstance(digest, ArchiveDigest):
        return {}
    return {name: TableDigest(text.rows, text.checksum) for name, text in digest.tables.items()}


def restore(restic: Restic, snapshot_id: str, filename: str, target: str) -> int:
    """Restore the dump into the database at ``target`` (created when missing); return the bytes read."""
    where = Target(target, "restore_failed")
    _create_database(where)
    restorer = shutil.which("pg_restore") or "pg_restore"
    child = Child(
        "pg_restore",
        [restorer, "--clean", "--if-exists", "--no-owner", "--no-password", "--dbname", where.conninfo],
        env=where.env(),
        stdin=subprocess.PIPE,
        stdout=None,
    )
    try:
        assert child.process.stdin is not None  # noqa: S101 — a pipe, asked for above
        try:
            moved = pump_snapshot(restic, snapshot_id, filename, child.process.stdin)
        except BackupError as exc:
            if exc.kind != "restore_failed":
                raise
            moved = 0  # pg_restore stopped reading: its own message below says why
        returncode = child.wait()
        if returncode != 0:
            complaint = child.complaint(where.secrets)
            kind = failure_kind(child.stderr_text(), "restore_failed")
            raise BackupError(
                kind, f"pg_restore into {where.label} exited with code {returncode}: {complaint}"
            )
        return moved
    finally:
        child.stop()


def _create_database(where: Target) -> None:
    try:
        maintenance = where.connect("restore_failed", dbname="postgres", autocommit=True)
    except BackupError:
        where.connect("restore_failed").close()  # no maintenance access: fine if the target exists
        return
    try:
        with maintenance as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (where.dbname,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(where.dbname)))
    except psycopg.Error as exc:
        raise BackupError(
            "restore_failed", f"cannot create {where.label}: {scrub(str(exc), where.secrets)}"
        ) from None
