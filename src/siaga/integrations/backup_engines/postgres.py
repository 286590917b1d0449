"""PostgreSQL: ``pg_dump -Fc`` in an exported snapshot, checksums taken in that same snapshot.

Backup: a REPEATABLE READ, READ ONLY transaction exports its snapshot (``pg_export_snapshot()``);
``pg_dump --snapshot`` dumps exactly that state while the same transaction counts rows and sums
``hashtext(row::text)`` per table (order-independent, one pass; the session pins TimeZone, DateStyle,
IntervalStyle, extra_float_digits and bytea_output so a row's text is the same on the restored copy).
The dump's bytes are teed into ``pg_restore --list`` (the archive header and table of contents must
parse, and hold TABLE DATA entries when tables exist) and ``pg_restore --file=/dev/null`` (every data block
must read to the end).

Restore: ``restic dump | pg_restore --clean --if-exists --no-owner`` into the target, created when missing.
Passwords reach the tools through ``PGPASSWORD``, never the command line.
"""

from __future__ import annotations

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
from siaga.integrations.backup_engines.processes import (
    BackupError,
    Child,
    failure_kind,
    pump_snapshot,
    tool_env,
)
from siaga.integrations.restic import CHUNK, Restic, scrub

METHOD = "pg-hashtext-sum"
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


def measure(target: str) -> Manifest:
    """A manifest of the database at ``target`` as it is now (one REPEATABLE READ snapshot)."""
    where = Target(target, "validate_failed")
    with where.connect("validate_failed") as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        try:
            tables = checksums(conn)
        except psycopg.Error as exc:
            raise BackupError("validate_failed", f"{where.label}: {scrub(str(exc), where.secrets)}") from None
    return Manifest("postgres", where.label, "", datetime.now(UTC), METHOD, tables)


class PostgresDump:
    """``pg_dump -Fc --snapshot`` of an exported snapshot; see the module docstring."""

    def __init__(self, url: str) -> None:
        self._target = Target(url)
        self.secrets: Sequence[str] = self._target.secrets
        self.filename = f"{self._target.dbname}.pgdump"
        self.timings: dict[str, float] = {}
        self._bytes = 0
        self._tables: dict[str, TableDigest] | None = None
        self._checksum_error: str | None = None
        self._children: list[Child] = []
        self._conn = self._target.connect("dump_failed")
        try:
            self._conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            self._conn.read_only = True
            row = self._conn.execute("SELECT pg_export_snapshot()").fetchone()
            snapshot = str(row[0]) if row else ""
            self._created = datetime.now(UTC)
            env = self._target.env()
            dumper = shutil.which("pg_dump") or "pg_dump"
            restorer = shutil.which("pg_restore") or "pg_restore"
            self._dump = Child(
                "pg_dump",
                [
                    dumper,
                    "--format=custom",
                    "--compress=0",  # restic compresses, and deduplicates only what pg_dump did not
                    f"--snapshot={snapshot}",
                    "--no-password",
                    "--dbname",
                    self._target.conninfo,
                ],
                env=env,
            )
            self._children.append(self._dump)
            self._toc = Child(
                "pg_restore --list", [restorer, "--list"], stdin=subprocess.PIPE, capture_stdout=True
            )
            self._reader = Child(
                "pg_restore", [restorer, "--file=/dev/null"], stdin=subprocess.PIPE, stdout=None
            )
            self._children += [self._toc, self._reader]
        except BaseException:
            self.close()
            raise
        self._checksummer = threading.Thread(target=self._checksum, daemon=True)
        self._checksummer.start()

    def chunks(self) -> Iterator[bytes]:
        stdout = self._dump.stdout
        while chunk := stdout.read(CHUNK):
            self._bytes += len(chunk)
            self._toc.feed(chunk)
            self._reader.feed(chunk)
            yield chunk

    def finish(self) -> Manifest:
        returncode = self._dump.wait()
        if returncode != 0:
            raise BackupError(
                "dump_failed", f"pg_dump exited with code {returncode}: {self._dump.complaint(self.secrets)}"
            )
        if self._bytes == 0:
            raise BackupError("dump_empty", "pg_dump wrote nothing")
        self._checksummer.join()
        if self._checksum_error is not None or self._tables is None:
            raise BackupError("dump_failed", f"counting rows failed: {self._checksum_error}")
        if self._toc.wait() != 0:
            raise BackupError(
                "dump_invalid", f"pg_restore --list rejected the archive: {self._toc.complaint(self.secrets)}"
            )
        if self._tables and not _TABLE_DATA.search(self._toc.stdout_text()):
            raise BackupError(
                "dump_empty", f"the archive holds no TABLE DATA though {len(self._tables)} tables exist"
            )
        if self._reader.wait() != 0:
            raise BackupError(
                "dump_invalid",
                f"pg_restore could not read the archive to its end: {self._reader.complaint(self.secrets)}",
            )
        return Manifest(
            "postgres",
            self._target.label,
            self.filename,
            self._created,
            METHOD,
            self._tables,
            size=self._bytes,
        )

    def kill(self) -> None:
        for child in self._children:
            child.kill()

    def close(self) -> None:
        self.kill()
        for child in self._children:
            child.stop()
        self._children.clear()
        if self._conn.closed:
            return
        checksummer: threading.Thread | None = getattr(self, "_checksummer", None)
        if checksummer is not None and checksummer.is_alive():
            self._conn.cancel_safe()
            checksummer.join()
        self._conn.close()

    def _checksum(self) -> None:
        started = time.perf_counter()
        try:
            self._tables = checksums(self._conn)
        except psycopg.Error as exc:
            self._checksum_error = scrub(str(exc), self.secrets)
        finally:
            self.timings["checksums"] = time.perf_counter() - started


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
