"""SQLite: the online backup API into a scratch copy, checksums from the copy, the copy streamed to restic.

``src.backup(dst)`` in one step copies a consistent state even while the application writes (in WAL mode
writers go on; in rollback-journal mode they wait for the copy, at most their busy timeout). The copy must
pass ``PRAGMA quick_check``; per table the manifest holds the row count and the sum (mod 2**64) of an
8-byte BLAKE2b of each row's ``repr`` — order-independent, computed the same way on the restored file.
The copy is deleted as soon as it is uploaded.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.request import pathname2url

from siaga.integrations.backup_engines.manifest import Manifest, TableDigest
from siaga.integrations.backup_engines.processes import BackupError, failure_kind, os_failure, pump_snapshot
from siaga.integrations.restic import CHUNK, Restic

METHOD = "sqlite-blake2b-sum"
_MODULUS = 1 << 64


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _open(path: Path, kind: str, mode: str) -> sqlite3.Connection:
    # A URI with mode=rw/ro: a missing file is an error instead of a new empty database.
    try:
        return sqlite3.connect(f"file:{pathname2url(str(path))}?mode={mode}", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise BackupError(kind, f"cannot open sqlite {path}: {exc}") from None


def checksums(conn: sqlite3.Connection) -> dict[str, TableDigest]:
    """Row count and checksum of every table."""
    names = [
        str(row[0])
        for row in conn.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    digests: dict[str, TableDigest] = {}
    for name in names:
        rows = total = 0
        for row in conn.execute(f"SELECT * FROM {_quote(name)}"):  # noqa: S608 — quoted identifier
            rows += 1
            total += int.from_bytes(hashlib.blake2b(repr(row).encode(), digest_size=8).digest(), "big")
        digests[name] = TableDigest(rows, str(total % _MODULUS))
    return digests


def measure(target: str) -> Manifest:
    """A manifest of the SQLite file at ``target``."""
    conn = _open(Path(target), "validate_failed", "ro")
    try:
        tables = checksums(conn)
    except sqlite3.Error as exc:
        raise BackupError("validate_failed", f"sqlite {target}: {exc}") from None
    finally:
        conn.close()
    return Manifest("sqlite", str(target), "", datetime.now(UTC), METHOD, tables)


class SqliteDump:
    """A consistent copy of the file, checksummed, then read out; see the module docstring."""

    secrets: Sequence[str] = ()

    def __init__(self, path: str, scratch: Path | None = None) -> None:
        self._path = Path(path)
        self.filename = self._path.name
        self.timings: dict[str, float] = {}
        self._bytes = 0
        try:
            self._scratch = tempfile.TemporaryDirectory(prefix="siaga-sqlite-", dir=scratch)
        except OSError as exc:
            kind = failure_kind(exc.strerror or "", "dump_failed")
            raise BackupError(kind, f"scratch space {scratch}: {exc.strerror}") from None
        self._copy = Path(self._scratch.name) / self.filename
        try:
            started = time.perf_counter()
            self._created = datetime.now(UTC)
            self._take_copy()
            self.timings["copy"] = time.perf_counter() - started
            started = time.perf_counter()
            conn = sqlite3.connect(self._copy)
            try:
                if (verdict := conn.execute("PRAGMA quick_check").fetchone()) != ("ok",):
                    raise BackupError(
                        "dump_invalid", f"the copy of {self._path} fails quick_check: {verdict}"
                    )
                self._tables = checksums(conn)
            finally:
                conn.close()
            self.timings["checksums"] = time.perf_counter() - started
        except sqlite3.Error as exc:
            self.close()
            kind = "disk_full" if "disk is full" in str(exc) else "dump_failed"
            raise BackupError(kind, f"copying sqlite {self._path} failed: {exc}") from None
        except OSError as exc:
            self.close()
            kind = failure_kind(exc.strerror or "", "dump_failed")
            raise BackupError(kind, f"copying sqlite {self._path} failed: {exc.strerror}") from None
        except BaseException:
            self.close()
            raise

    def chunks(self) -> Iterator[bytes]:
        with self._copy.open("rb") as file:
            while chunk := file.read(CHUNK):
                self._bytes += len(chunk)
                yield chunk

    def finish(self) -> Manifest:
        if self._bytes == 0:
            raise BackupError("dump_empty", f"the copy of {self._path} is empty")
        return Manifest(
            "sqlite", str(self._path), self.filename, self._created, METHOD, self._tables, size=self._bytes
        )

    def kill(self) -> None:
        return None

    def close(self) -> None:
        self._scratch.cleanup()

    def _take_copy(self) -> None:
        source = _open(self._path, "dump_failed", "rw")
        try:
            destination = sqlite3.connect(self._copy)
            try:
                source.backup(destination)  # pages=-1: one step, so the copy is one consistent state
            finally:
                destination.close()
        finally:
            source.close()


def restore(restic: Restic, snapshot_id: str, filename: str, target: str) -> int:
    """Write the database file to ``target`` (which must not exist yet); return its size."""
    path = Path(target)
    if path.exists() or Path(f"{target}-wal").exists():
        raise BackupError("restore_failed", f"{path} exists: restore into a new path")
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("xb", buffering=0) as sink:  # unbuffered: a full disk fails the write, not close
            moved = pump_snapshot(restic, snapshot_id, filename, sink)
            os.fsync(sink.fileno())
        partial.replace(path)
    except OSError as exc:
        raise os_failure(exc, f"writing {path}") from None
    finally:
        partial.unlink(missing_ok=True)
    return moved
