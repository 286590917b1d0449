"""Row counts and checksums read from a ``pg_dump --format=custom`` archive as it streams past.

A custom-format archive is a header, a table of contents (one entry per object, ``TABLE DATA`` among
them) and then, in TOC order, one data block per table: a block type byte, the entry's dump id, and the
table's ``COPY`` text as length-prefixed chunks ending with a zero length. Compressed archives hold one
zlib stream per block. Inflating each block and counting its lines gives the table's row count (COPY's
text format ends every row with ``\\n`` and escapes newlines inside values); CRC-32 and the length of the
same text give its checksum. The reader reads every block to its end, so it is also the check that the
archive is whole.

Both sides of a validation use this reader: the backup reads the archive going into the repository, the
validation reads ``pg_dump --data-only`` of the restored database. Rows come out in the order they were
loaded (a restored table is written by one ``COPY``; pg_dump turns synchronized scans off), so the same
data gives the same text.

Formats read: archive versions 1.12 to 1.16 (pg_dump 15 writes 1.14, pg_dump 17 writes 1.16),
uncompressed or gzip-compressed data (what Siaga asks pg_dump for). Anything else raises
``UnsupportedArchive`` before any data is read, so the caller can count another way.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

_MAGIC = b"PGDMP"
_FORMAT_CUSTOM = 1
_BLOCK_DATA = 1
_BLOCK_BLOBS = 3
_LARGE_OBJECTS = "(large objects)"
# pg_dump ends each table's COPY data with this line and two empty ones (not rows).
_COPY_END = b"\\.\n\n\n"
_OLDEST, _NEWEST = (1, 12, 0), (1, 16, 0)
_COMPRESSION_NONE, _COMPRESSION_GZIP = 0, 1  # the 1.15+ header's algorithm byte


class ArchiveError(Exception):
    """The bytes are not a whole custom-format archive (truncated, corrupt, or not an archive)."""


class UnsupportedArchive(ArchiveError):
    """A well-formed archive this reader does not know (a newer version, lz4 or zstd data)."""


@dataclass
class TableText:
    """What one table's COPY text came to: its rows, and CRC-32 and length of the text."""

    rows: int = 0
    crc: int = 0
    size: int = 0

    @property
    def checksum(self) -> str:
        return f"crc32:{self.crc:08x}:{self.size}"


@dataclass
class ArchiveDigest:
    """Everything the reader learnt: the TABLE DATA entries by name and what their data came to."""

    version: tuple[int, int, int] = (0, 0, 0)
    tables: dict[str, TableText] = field(default_factory=dict)  # "schema.table" → text


class _Reader:
    """Exact reads over a sequence of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._offset = 0
        self.int_size = 4
        self.offset_size = 8

    def read(self, count: int) -> bytes:
        if count < 0:
            raise ArchiveError(f"a negative length ({count}): the archive is corrupt")
        end = self._offset + count
        if end <= len(self._buffer):
            data = self._buffer[self._offset : end]
            self._offset = end
            return data
        parts = [self._buffer[self._offset :]]
        have = len(parts[0])
        while have < count:
            chunk = next(self._chunks, b"")
            if not chunk:
                self._buffer, self._offset = b"", 0
                raise ArchiveError("the archive ends too soon: could not read the archive to its end")
            parts.append(chunk)
            have += len(chunk)
        joined = b"".join(parts)
        self._buffer, self._offset = joined, count
        return joined[:count]

    def at_end(self) -> bool:
        if self._offset < len(self._buffer):
            return False
        for chunk in self._chunks:
            if chunk:
                self._buffer, self._offset = chunk, 0
                return False
        return True

    def byte(self) -> int:
        return self.read(1)[0]

    def int(self) -> int:
        raw = self.read(1 + self.int_size)
        value = int.from_bytes(raw[1:], "little")
        return -value if raw[0] else value

    def string(self) -> str | None:
        length = self.int()
        if length < 0:
            return None
        return self.read(length).decode("utf-8", "replace")

    def offset(self) -> None:
        self.read(1 + self.offset_size)


def read_archive(chunks: Iterator[bytes], on_block: Callable[[str], None] | None = None) -> ArchiveDigest:
    """Read a whole custom-format archive from ``chunks``; raise ArchiveError when it is not one.

    ``on_block`` is called with each table's name as its data starts (progress, tests).
    """
    reader = _Reader(chunks)
    digest = ArchiveDigest()
    compressed = _read_header(reader, digest)
    names = _read_toc(reader, digest)
    while not reader.at_end():
        kind = reader.byte()
        dump_id = reader.int()
        if kind == _BLOCK_DATA:
            name = names.get(dump_id)
            if name is None:
                raise ArchiveError(f"data for entry {dump_id}, which the table of contents does not list")
            if on_block is not None:
                on_block(name)
            _read_table(reader, digest.tables[name], compressed)
        elif kind == _BLOCK_BLOBS:
            _read_large_objects(reader, digest.tables.setdefault(_LARGE_OBJECTS, TableText()), compressed)
        else:
            raise ArchiveError(f"unknown data block type {kind}: the archive is corrupt")
    return digest


def _read_header(reader: _Reader, digest: ArchiveDigest) -> bool:
    if reader.read(5) != _MAGIC:
        raise ArchiveError("not a pg_dump archive (no PGDMP header)")
    version = (reader.byte(), reader.byte(), reader.byte())
    digest.version = version
    if not _OLDEST <= version <= _NEWEST:
        raise UnsupportedArchive(f"archive version {'.'.join(map(str, version))}")
    reader.int_size = reader.byte()
    reader.offset_size = reader.byte()
    if not 1 <= reader.int_size <= 8 or not 1 <= reader.offset_size <= 16:
        raise ArchiveError("the archive header is corrupt")
    if reader.byte() != _FORMAT_CUSTOM:
        raise UnsupportedArchive("not the custom format")
    if version >= (1, 15, 0):
        algorithm = reader.byte()
        if algorithm not in (_COMPRESSION_NONE, _COMPRESSION_GZIP):
            raise UnsupportedArchive(f"compression algorithm {algorithm} (only none and gzip are read)")
        compressed = algorithm == _COMPRESSION_GZIP
    else:
        compressed = reader.int() != 0
    for _ in range(7):  # creation time: sec, min, hour, mday, mon, year, isdst
        reader.int()
    for _ in range(3):  # database name, server version, pg_dump version
        reader.string()
    return compressed


def _read_toc(reader: _Reader, digest: ArchiveDigest) -> dict[int, str]:
    """The TABLE DATA entries (dump id → "schema.table"); every entry is read past."""
    names: dict[int, str] = {}
    count = reader.int()
    if count < 0:
        raise ArchiveError("the table of contents is corrupt")
    for _ in range(count):
        dump_id = reader.int()
        had_dumper = reader.int()
        reader.string()  # table oid
        reader.string()  # oid
        tag = reader.string() or ""
        desc = reader.string() or ""
        reader.int()  # section
        for _ in range(3):  # definition, drop statement, copy statement
            reader.string()
        namespace = reader.string() or ""
        reader.string()  # tablespace
        if digest.version >= (1, 14, 0):
            reader.string()  # table access method
        if digest.version >= (1, 16, 0):
            reader.int()  # relkind
        reader.string()  # owner
        reader.string()  # "with oids"
        while reader.string() is not None:  # dependencies, a list ending with a NULL string
            pass
        reader.offset()  # custom format: where the data is (unknown when streamed)
        if desc == "TABLE DATA" and had_dumper:
            name = f"{namespace}.{tag}"
            names[dump_id] = name
            digest.tables[name] = TableText()
    return names


def _chunks_of_block(reader: _Reader) -> Iterator[bytes]:
    while (length := reader.int()) != 0:
        yield reader.read(length)


def _read_table(reader: _Reader, text: TableText, compressed: bool) -> None:
    newlines = 0
    tail = b""
    for data in _texts(_chunks_of_block(reader), compressed):
        newlines += data.count(b"\n")
        text.crc = zlib.crc32(data, text.crc)
        text.size += len(data)
        tail = (tail + data[-len(_COPY_END) :])[-len(_COPY_END) :]
    text.rows = newlines - (_COPY_END.count(b"\n") if tail == _COPY_END else 0)


def _read_large_objects(reader: _Reader, text: TableText, compressed: bool) -> None:
    while reader.int() != 0:  # each large object: its oid, then its data; oid 0 ends the block
        text.rows += 1
        for data in _texts(_chunks_of_block(reader), compressed):
            text.crc = zlib.crc32(data, text.crc)
            text.size += len(data)


def _texts(chunks: Iterator[bytes], compressed: bool) -> Iterator[bytes]:
    if not compressed:
        yield from chunks
        return
    inflater = zlib.decompressobj()
    seen = False
    try:
        for chunk in chunks:
            seen = True
            if data := inflater.decompress(chunk):
                yield data
        if data := inflater.flush():
            yield data
    except zlib.error as exc:
        raise ArchiveError(f"a data block does not inflate ({exc}): the archive is corrupt") from None
    if seen and not inflater.eof:
        raise ArchiveError("a data block's compressed stream is cut short: the archive is corrupt")
