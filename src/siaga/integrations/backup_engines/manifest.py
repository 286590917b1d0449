"""What a backup held, taken at backup time, and the comparison a restore is judged by.

A manifest is a small JSON document stored next to the data as its own snapshot
(see ``docs/backups-engines.md``)::

    {"version": 1, "kind": "postgres", "source": "postgres 127.0.0.1:5432/shop", "filename": "shop.pgdump",
     "created": "2026-01-05T08:00:00+00:00", "method": "pg-hashtext-sum", "consistent": true,
     "tables": {"public.orders": {"rows": 1200, "checksum": "-81236472341"}},
     "files": null, "size": 48213, "digest": null}

Databases fill ``tables`` (row count and an order-independent checksum per table); directories fill
``files``, ``size`` (their total bytes) and ``digest`` (sha256 over every file's path and sha256).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

MANIFEST_VERSION = 1
MANIFEST_FILENAME = "manifest.json"


@dataclass(frozen=True)
class TableDigest:
    """A table's row count and checksum (decimal text: the sums outgrow 64 bits)."""

    rows: int
    checksum: str


@dataclass(frozen=True)
class Manifest:
    """Counts and checksums of what a backup held; ``consistent`` is False when they were not taken in the
    same snapshot as the dump (a MariaDB user without the RELOAD privilege)."""

    kind: str
    source: str  # a label without secrets
    filename: str  # the file in the data snapshot ("" for a directory: the snapshot is the tree)
    created: datetime
    method: str  # how checksums were computed, so a validator never compares two methods
    tables: Mapping[str, TableDigest] = field(default_factory=dict)
    files: int | None = None
    size: int = 0  # databases: bytes of the dump; directories: total bytes of the files
    digest: str | None = None
    consistent: bool = True

    def to_json(self) -> bytes:
        document: dict[str, Any] = {
            "version": MANIFEST_VERSION,
            "kind": self.kind,
            "source": self.source,
            "filename": self.filename,
            "created": self.created.isoformat(),
            "method": self.method,
            "consistent": self.consistent,
            "tables": {
                name: {"rows": digest.rows, "checksum": digest.checksum}
                for name, digest in sorted(self.tables.items())
            },
            "files": self.files,
            "size": self.size,
            "digest": self.digest,
        }
        return json.dumps(document, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> Manifest:
        """Parse ``to_json`` output; raises ValueError for anything else."""
        try:
            document = json.loads(data)
            if document.get("version") != MANIFEST_VERSION:
                raise ValueError(f"unsupported manifest version {document.get('version')!r}")
            return cls(
                kind=str(document["kind"]),
                source=str(document["source"]),
                filename=str(document["filename"]),
                created=datetime.fromisoformat(document["created"]),
                method=str(document["method"]),
                tables={
                    str(name): TableDigest(int(item["rows"]), str(item["checksum"]))
                    for name, item in document["tables"].items()
                },
                files=None if document["files"] is None else int(document["files"]),
                size=int(document["size"]),
                digest=document["digest"],
                consistent=bool(document["consistent"]),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a siaga manifest: {exc}") from None


@dataclass(frozen=True)
class Mismatch:
    """One difference between a manifest and what a restore produced."""

    item: str  # table name, or "tree" for a directory
    field: str  # rows · checksum · missing · unexpected · files · size · digest
    expected: str
    actual: str

    def __str__(self) -> str:
        return f"{self.item}: {self.field} expected {self.expected}, found {self.actual}"


def compare(expected: Manifest, actual: Manifest) -> list[Mismatch]:
    """Every difference between the manifest taken at backup time and one measured on restored data."""
    if expected.method != actual.method:
        return [Mismatch("manifest", "method", expected.method, actual.method)]
    mismatches: list[Mismatch] = []
    for name, want in sorted(expected.tables.items()):
        got = actual.tables.get(name)
        if got is None:
            mismatches.append(Mismatch(name, "missing", "present", "absent"))
            continue
        if got.rows != want.rows:
            mismatches.append(Mismatch(name, "rows", str(want.rows), str(got.rows)))
        if got.checksum != want.checksum:
            mismatches.append(Mismatch(name, "checksum", want.checksum, got.checksum))
    for name in sorted(set(actual.tables) - set(expected.tables)):
        mismatches.append(Mismatch(name, "unexpected", "absent", "present"))
    if expected.files is not None:
        if actual.files != expected.files:
            mismatches.append(Mismatch("tree", "files", str(expected.files), str(actual.files)))
        if actual.size != expected.size:
            mismatches.append(Mismatch("tree", "size", str(expected.size), str(actual.size)))
        if actual.digest != expected.digest:
            mismatches.append(Mismatch("tree", "digest", str(expected.digest), str(actual.digest)))
    return mismatches
