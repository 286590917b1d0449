"""The custom-format archive reader against real pg_dump output."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from siaga.integrations import backup_engines
from siaga.integrations.backup_engines import pgarchive, postgres
from siaga.integrations.restic import Restic
from siaga.spec.backups import Source


def _dump(url: str, *options: str) -> bytes:
    target = postgres.Target(url)
    return subprocess.run(
        ["pg_dump", "--format=custom", *options, "--dbname", target.conninfo],
        env=target.env(),
        check=True,
        capture_output=True,
    ).stdout


def _chunks(data: bytes, size: int = 4096) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


def test_counts_every_table_and_agrees_across_compression_levels(postgres_source: str) -> None:
    compressed = pgarchive.read_archive(_chunks(_dump(postgres_source, "--compress=1")))
    plain = pgarchive.read_archive(_chunks(_dump(postgres_source, "--compress=0"), 1000))
    data_only = pgarchive.read_archive(_chunks(_dump(postgres_source, "--compress=6", "--data-only"), 7))

    rows = {name: text.rows for name, text in compressed.tables.items()}
    assert rows == {"shop.orders": 3000, "public.empty_table": 0, "public.Mixed Case": 50}
    assert compressed.version >= (1, 14, 0)
    # The checksum is of the COPY text itself: the same whatever the compression or chunking.
    assert plain.tables == compressed.tables == data_only.tables
    assert len({text.checksum for text in compressed.tables.values()}) == 3


def test_a_cut_or_corrupt_archive_is_an_error(postgres_source: str) -> None:
    whole = _dump(postgres_source, "--compress=1")
    with pytest.raises(pgarchive.ArchiveError, match="could not read the archive to its end"):
        pgarchive.read_archive(_chunks(whole[: len(whole) - 100]))
    corrupt = bytearray(whole)
    corrupt[len(whole) - 2000 : len(whole) - 1900] = bytes(100)
    with pytest.raises(pgarchive.ArchiveError):
        pgarchive.read_archive(_chunks(bytes(corrupt)))
    with pytest.raises(pgarchive.ArchiveError, match="no PGDMP header"):
        pgarchive.read_archive(iter([b"-- a plain SQL dump\n"]))
    newer = bytearray(whole)
    newer[6] = 99  # the minor version: an archive from a pg_dump this reader does not know
    with pytest.raises(pgarchive.UnsupportedArchive, match=r"archive version 1\.99"):
        pgarchive.read_archive(iter([bytes(newer)]))


def test_an_archive_the_reader_does_not_know_is_counted_in_the_snapshot(
    local_repo: Restic, tag: str, postgres_source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pgarchive, "_NEWEST", (1, 13, 0))  # as if pg_dump were newer than the reader

    outcome = backup_engines.back_up(Source(postgres=SecretStr(postgres_source)), [local_repo], [tag])

    assert outcome.ok, outcome.reason
    assert outcome.manifest is not None
    assert outcome.manifest.method == postgres.METHOD_SQL
    assert outcome.manifest.tables["shop.orders"].rows == 3000
    assert backup_engines.validate(postgres_source, outcome.manifest) == []


def test_deduplicate_stores_an_uncompressed_dump_counted_in_the_snapshot(
    local_repo: Restic, tag: str, postgres_source: str
) -> None:
    source = Source.model_validate({"postgres": postgres_source, "deduplicate": True})

    outcome = backup_engines.back_up(source, [local_repo], [tag])

    assert outcome.ok, outcome.reason
    assert outcome.manifest is not None
    assert outcome.manifest.method == postgres.METHOD_SQL
    assert outcome.manifest.tables["shop.orders"].rows == 3000
    compressed = backup_engines.back_up(
        Source.model_validate({"postgres": postgres_source}), [local_repo], [tag]
    )
    assert compressed.ok, compressed.reason
    assert outcome.bytes > 2 * compressed.bytes  # restic compresses it, not pg_dump


def test_deduplicate_is_only_for_postgres() -> None:
    with pytest.raises(ValueError, match="deduplicate is for postgres sources"):
        Source.model_validate({"sqlite": "/tmp/app.db", "deduplicate": True})
