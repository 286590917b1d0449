"""Directories: ``restic backup .`` from inside the directory (the snapshot's root is the directory's
content), with a manifest of the tree read just before: the number of files, their total size and a
sha256 over every entry's relative path and content sha256 (a symlink: its target). Files changed
between the two readings show up as mismatches when a restore is validated — a live directory has no
point-in-time state to promise.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from siaga.integrations.backup_engines.manifest import Manifest
from siaga.integrations.backup_engines.processes import BackupError, restic_failure
from siaga.integrations.restic import CHUNK, Restic, ResticError

METHOD = "sha256-tree"


def _entries(root: Path, relative: str = "") -> Iterator[tuple[str, os.DirEntry[str]]]:
    with os.scandir(root / relative if relative else root) as scan:
        entries = sorted(scan, key=lambda entry: entry.name)
    for entry in entries:
        name = f"{relative}/{entry.name}" if relative else entry.name
        if entry.is_dir(follow_symlinks=False):
            yield from _entries(root, name)
        else:
            yield name, entry


def _file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def measure(target: str, kind: str = "validate_failed") -> Manifest:
    """A manifest of the tree at ``target``: files (and symlinks), their total size, one digest.
    Raises BackupError(kind) when the tree cannot be read."""
    root = Path(target)
    if not root.is_dir():
        raise BackupError(kind, f"{root} is not a directory")
    tree = hashlib.sha256()
    files = size = 0
    try:
        for name, entry in _entries(root):
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode):
                line = f"{name}\0link\0{os.readlink(entry.path)}\n"
            elif stat.S_ISREG(info.st_mode):
                line = f"{name}\0{info.st_size}\0{_file_digest(entry.path)}\n"
                size += info.st_size
            else:
                continue  # sockets, fifos, devices: nothing to compare
            files += 1
            tree.update(line.encode("utf-8", "surrogateescape"))
    except OSError as exc:
        raise BackupError(kind, f"reading {exc.filename}: {exc.strerror}") from None
    return Manifest(
        "directory",
        str(root),
        "",
        datetime.now(UTC),
        METHOD,
        files=files,
        size=size,
        digest=tree.hexdigest(),
    )


def back_up(restic: Restic, root: Path, tags: list[str], host: str) -> str:
    """``restic backup .`` in ``root``; return restic's short snapshot id. A partial snapshot (unreadable
    files) is removed and reported as ``incomplete``."""
    try:
        return restic.backup_paths(["."], tags, host, cwd=root, resolve=False)
    except ResticError as exc:
        if exc.kind == "incomplete" and exc.snapshot_id:
            restic.forget([exc.snapshot_id], prune=True)
        raise restic_failure(exc, restic) from None


def restore(restic: Restic, snapshot_id: str, target: str) -> int:
    """Restore the tree into ``target`` (missing or empty); return the bytes restic says it holds."""
    path = Path(target)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BackupError("restore_failed", f"{path} is not empty: restore into a new or empty directory")
    try:
        restic.restore(snapshot_id, path)
    except ResticError as exc:
        raise restic_failure(exc, restic) from None
    return sum(
        entry.stat(follow_symlinks=False).st_size
        for _, entry in _entries(path)
        if entry.is_file(follow_symlinks=False)
    )
