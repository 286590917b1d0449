"""MariaDB / MySQL: ``mariadb-dump --single-transaction``, checksums in the same consistent snapshot.

MariaDB cannot hand a snapshot to another session, so the two are lined up the way ``mariadb-dump
--master-data`` does it: ``FLUSH TABLES WITH READ LOCK`` (writes wait), our ``START TRANSACTION WITH
CONSISTENT SNAPSHOT``, then the dump starts its own; once its output shows it is past that point (the
first "-- Table structure" comment) the lock is released. Without the RELOAD privilege (or when the lock
is not granted within 5 s) it is skipped and the manifest says ``consistent: false``. Per table:
``COUNT(*)`` and the sum of ``CRC32(CONCAT_WS('|', ISNULL(c), CAST(c AS BINARY), …))`` (order-independent;
TIMESTAMPs read in UTC).

The dump names no database (no ``--databases``): without its ``CREATE DATABASE`` / ``USE`` lines it
restores into any database, which restore drills need. It must be non-empty and end with
mariadb-dump's "-- Dump completed" trailer. Credentials reach the tools in a 0600 option file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pymysql
import pymysql.constants.ER

from siaga.integrations.backup_engines.manifest import Manifest, TableDigest
from siaga.integrations.backup_engines.processes import (
    BackupError,
    Child,
    failure_kind,
    pump_snapshot,
    read_some,
)
from siaga.integrations.restic import CHUNK, Restic, scrub

METHOD = "mariadb-crc32-sum"
_STARTED = (
    b"-- Table structure for table",
    b"-- Dumping routines",
    b"-- Dumping events",
    b"-- Dump completed",
)
_DATA = b"-- Dumping data for table"
_TRAILER = b"-- Dump completed"
# No RELOAD privilege, or a long statement holds tables past lock_wait_timeout: go on without the lock
# (writers queue behind a waiting FLUSH, so it may wait only briefly).
_NO_LOCK = {
    pymysql.constants.ER.SPECIFIC_ACCESS_DENIED_ERROR,
    pymysql.constants.ER.DBACCESS_DENIED_ERROR,
    pymysql.constants.ER.LOCK_WAIT_TIMEOUT,
}


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _option(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Target:
    """A mysql:// or mariadb:// URL split into what PyMySQL, the tools and messages each need."""

    def __init__(self, url: str, kind: str = "dump_failed") -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mysql", "mariadb") or not parts.path.strip("/"):
            raise BackupError(kind, "the mariadb URL must read mysql://user:password@host:port/database")
        self.host = parts.hostname or "localhost"
        self.port = parts.port or 3306
        self.user = unquote(parts.username or "root")
        self.password = unquote(parts.password) if parts.password else None
        self.database = unquote(parts.path.strip("/"))
        self.label = f"mariadb {self.host}:{self.port}/{self.database}"

    @property
    def secrets(self) -> list[str]:
        return [self.password] if self.password else []

    def connect(self, kind: str, database: str | None = None) -> pymysql.connections.Connection[Any]:
        try:
            return pymysql.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password or "",
                database=database,
                autocommit=True,
                connect_timeout=10,
                charset="utf8mb4",
            )
        except pymysql.MySQLError as exc:
            raise BackupError(
                kind, f"cannot connect to {self.label}: {scrub(str(exc), self.secrets)}"
            ) from None

    def option_file(self, directory: Path) -> Path:
        """Write the connection options (with the password) to a 0600 file for the command-line tools."""
        path = directory / "client.cnf"
        lines = ["[client]", f"user={_option(self.user)}", f"host={_option(self.host)}", f"port={self.port}"]
        if self.password:
            lines.append(f"password={_option(self.password)}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write("\n".join(lines) + "\n")
        return path


def _tool(*names: str) -> str:
    return next((found for name in names if (found := shutil.which(name))), names[0])


def _columns(cursor: Any, database: str) -> dict[str, list[str]]:
    cursor.execute(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c"
        " JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name"
        " WHERE c.table_schema = %s AND t.table_type = 'BASE TABLE'"
        " ORDER BY c.table_name, c.ordinal_position",
        (database,),
    )
    columns: dict[str, list[str]] = {}
    for table, column in cursor.fetchall():
        columns.setdefault(str(table), []).append(str(column))
    return columns


def checksums(cursor: Any, columns: dict[str, list[str]]) -> dict[str, TableDigest]:
    """Row count and checksum of each table, in the cursor's current transaction."""
    digests: dict[str, TableDigest] = {}
    for table, names in sorted(columns.items()):
        parts = ", ".join(f"ISNULL({_quote(n)}), CAST({_quote(n)} AS BINARY)" for n in names)
        cursor.execute(
            f"SELECT COUNT(*), CAST(COALESCE(SUM(CRC32(CONCAT_WS('|', {parts}))), 0) AS CHAR)"  # noqa: S608 — quoted identifiers
            f" FROM {_quote(table)}"
        )
        rows, checksum = cursor.fetchone()
        digests[table] = TableDigest(int(rows), str(checksum))
    return digests


def _begin_snapshot(cursor: Any) -> None:
    cursor.execute("SET SESSION time_zone = '+00:00'")
    cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")


def measure(target: str) -> Manifest:
    """A manifest of the database at ``target`` as it is now."""
    where = Target(target, "validate_failed")
    conn = where.connect("validate_failed", where.database)
    try:
        with conn.cursor() as cursor:
            _begin_snapshot(cursor)
            tables = checksums(cursor, _columns(cursor, where.database))
            conn.rollback()
    except pymysql.MySQLError as exc:
        raise BackupError("validate_failed", f"{where.label}: {scrub(str(exc), where.secrets)}") from None
    finally:
        conn.close()
    return Manifest("mariadb", where.label, "", datetime.now(UTC), METHOD, tables)


class MariadbDump:
    """``mariadb-dump --single-transaction`` lined up with our snapshot; see the module docstring."""

    def __init__(self, url: str) -> None:
        self._target = Target(url)
        self.secrets: Sequence[str] = self._target.secrets
        self.filename = f"{self._target.database}.sql"
        self.timings: dict[str, float] = {}
        self._bytes = 0
        self._sections = 0
        self._tail = b""
        self._tables: dict[str, TableDigest] | None = None
        self._checksum_error: str | None = None
        self._checksummer: threading.Thread | None = None
        self._dump: Child | None = None
        self._end = b""
        self._conn = self._target.connect("dump_failed", self._target.database)
        self._scratch = tempfile.TemporaryDirectory(prefix="siaga-mariadb-")
        try:
            self._cursor = self._conn.cursor()
            self._cursor.execute("SELECT CONNECTION_ID()")
            self._connection_id = int(self._cursor.fetchone()[0])
            self._cursor.execute("SET SESSION lock_wait_timeout = 5")
            self._locked = self._lock()
            _begin_snapshot(self._cursor)
            self._columns = _columns(self._cursor, self._target.database)
            self._created = datetime.now(UTC)
            options = self._target.option_file(Path(self._scratch.name))
            argv = [_tool("mariadb-dump", "mysqldump"), f"--defaults-extra-file={options}"]
            argv += ["--single-transaction", "--routines", "--triggers", "--hex-blob", self._target.database]
            self._dump = Child("mariadb-dump", argv)
        except pymysql.MySQLError as exc:
            self.close()
            raise BackupError(
                "dump_failed", f"{self._target.label}: {scrub(str(exc), self.secrets)}"
            ) from None
        except BaseException:
            self.close()
            raise
        if not self._locked:
            self._start_checksums()

    def chunks(self) -> Iterator[bytes]:
        assert self._dump is not None  # noqa: S101 — set in __init__
        stdout = self._dump.stdout
        waiting = self._locked
        while True:
            # While writers wait on our lock, take whatever the pipe has instead of filling 1 MiB.
            chunk = read_some(stdout) if waiting else stdout.read(CHUNK)
            if not chunk:
                break
            window = self._tail + chunk
            self._sections += window.count(_DATA) - self._tail.count(_DATA)
            if waiting and any(marker in window for marker in _STARTED):
                self._release()
                waiting = False
            self._tail = window[-64:]
            self._end = (self._end + chunk[-256:])[-256:]
            self._bytes += len(chunk)
            yield chunk
        if waiting:
            self._release()

    def finish(self) -> Manifest:
        assert self._dump is not None  # noqa: S101 — set in __init__
        returncode = self._dump.wait()
        if returncode != 0:
            complaint = self._dump.complaint(self.secrets)
            raise BackupError("dump_failed", f"mariadb-dump exited with code {returncode}: {complaint}")
        if self._bytes == 0:
            raise BackupError("dump_empty", "mariadb-dump wrote nothing")
        if self._checksummer is not None:
            self._checksummer.join()
        if self._checksum_error is not None or self._tables is None:
            raise BackupError("dump_failed", f"counting rows failed: {self._checksum_error}")
        if not self._end.rstrip().rsplit(b"\n", 1)[-1].startswith(_TRAILER):
            raise BackupError("dump_invalid", "the dump does not end with mariadb-dump's '-- Dump completed'")
        if self._tables and self._sections == 0:
            raise BackupError(
                "dump_empty", f"the dump holds no table data though {len(self._tables)} tables exist"
            )
        return Manifest(
            "mariadb",
            self._target.label,
            self.filename,
            self._created,
            METHOD,
            self._tables,
            size=self._bytes,
            consistent=self._locked,
        )

    def kill(self) -> None:
        if self._dump is not None:
            self._dump.kill()

    def close(self) -> None:
        if self._dump is not None:
            self._dump.stop()
        if self._conn.open:
            if self._checksummer is not None and self._checksummer.is_alive():
                self._kill_query()
                self._checksummer.join()
            self._conn.close()
        self._scratch.cleanup()

    def _lock(self) -> bool:
        try:
            self._cursor.execute("FLUSH TABLES WITH READ LOCK")
        except pymysql.OperationalError as exc:
            if exc.args and exc.args[0] in _NO_LOCK:
                return False
            raise
        return True

    def _release(self) -> None:
        self._cursor.execute("UNLOCK TABLES")
        self._start_checksums()

    def _start_checksums(self) -> None:
        self._checksummer = threading.Thread(target=self._checksum, daemon=True)
        self._checksummer.start()

    def _checksum(self) -> None:
        started = time.perf_counter()
        try:
            self._tables = checksums(self._cursor, self._columns)
        except pymysql.MySQLError as exc:
            self._checksum_error = scrub(str(exc), self.secrets)
        finally:
            self.timings["checksums"] = time.perf_counter() - started

    def _kill_query(self) -> None:
        try:
            killer = self._target.connect("dump_failed")
        except BackupError:
            return
        with killer.cursor() as cursor:
            cursor.execute(f"KILL QUERY {self._connection_id}")
        killer.close()


def restore(restic: Restic, snapshot_id: str, filename: str, target: str) -> int:
    """Restore the dump into the database at ``target`` (created when missing); return the bytes read."""
    where = Target(target, "restore_failed")
    conn = where.connect("restore_failed")
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS {_quote(where.database)}")
    except pymysql.MySQLError as exc:
        raise BackupError(
            "restore_failed", f"cannot create {where.label}: {scrub(str(exc), where.secrets)}"
        ) from None
    finally:
        conn.close()
    with tempfile.TemporaryDirectory(prefix="siaga-mariadb-") as scratch:
        options = where.option_file(Path(scratch))
        argv = [_tool("mariadb", "mysql"), f"--defaults-extra-file={options}", "--batch", where.database]
        child = Child("mariadb", argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        try:
            assert child.process.stdin is not None  # noqa: S101 — a pipe, asked for above
            try:
                moved = pump_snapshot(restic, snapshot_id, filename, child.process.stdin)
            except BackupError as exc:
                if exc.kind != "restore_failed":
                    raise
                moved = 0  # the client stopped reading: its own message below says why
            returncode = child.wait()
            if returncode != 0:
                complaint = child.complaint(where.secrets)
                kind = failure_kind(child.stderr_text(), "restore_failed")
                raise BackupError(
                    kind, f"mariadb into {where.label} exited with code {returncode}: {complaint}"
                )
            return moved
        finally:
            child.stop()
