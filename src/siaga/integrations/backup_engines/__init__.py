"""Backup engines: each source kind streamed into restic, with a manifest to judge restores by.

    back_up(source, repositories, tags) -> BackupOutcome     never raises for a failed backup
    restore(restic, snapshot_id, target) -> RestoreOutcome   restores, then validates against the manifest
    validate(target, manifest) -> list[Mismatch]             raises BackupError when the target is unreadable

A backup writes two snapshots per repository, paired by the tag ``siaga:backup=<id>``: the data (the
caller's tags + ``siaga:<kind>``) and its manifest (the caller's tags + ``siaga:manifest``, one file
``manifest.json``). A failed dump leaves neither: restic is interrupted before it has seen the end of its
input, so it records nothing (and a snapshot recorded anyway is forgotten with ``--prune``).

Errors::

    Exception
     └── BackupError(kind, reason)   outcomes carry the same kind and reason instead of raising

Kinds: dump_failed · dump_empty · dump_invalid · timeout · restore_failed · validate_failed · mismatch ·
no_manifest, and restic's own (wrong_password, unreachable, no_repository, locked, disk_full, …).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from urllib.parse import unquote, urlsplit

from siaga.integrations.backup_engines import directory, postgres, sqlite
from siaga.integrations.backup_engines.manifest import (
    MANIFEST_FILENAME,
    Manifest,
    Mismatch,
    TableDigest,
    compare,
)
from siaga.integrations.backup_engines.processes import BackupError, StreamedDump, restic_failure
from siaga.integrations.backup_engines.runner import TAG_BACKUP, TAG_MANIFEST, BackupRun
from siaga.integrations.restic import Restic, ResticError, SnapshotInfo, scrub
from siaga.spec.backups import Source

__all__ = [
    "TAG_BACKUP",
    "TAG_MANIFEST",
    "BackupError",
    "BackupOutcome",
    "Manifest",
    "Mismatch",
    "RestoreOutcome",
    "TableDigest",
    "back_up",
    "data_snapshots",
    "forget_backups",
    "load_manifest",
    "restore",
    "validate",
]


def _mariadb() -> ModuleType:
    # Imported when first needed: pymysql brings cryptography (~10 MB) into every server otherwise.
    from siaga.integrations.backup_engines import mariadb

    return mariadb


def _engine(kind: str) -> ModuleType:
    if kind in ("mariadb", "mysql"):
        return _mariadb()
    return {"postgres": postgres, "sqlite": sqlite, "directory": directory}[kind]


@dataclass(frozen=True)
class BackupOutcome:
    """What one backup did. ``snapshots`` maps repository label → data snapshot id for every repository
    that holds a good one (a backup to several repositories can succeed in some)."""

    ok: bool
    reason: str = ""
    kind: str | None = None
    snapshots: Mapping[str, str] = field(default_factory=dict)
    manifest_snapshots: Mapping[str, str] = field(default_factory=dict)
    bytes: int = 0
    durations: Mapping[str, float] = field(default_factory=dict)  # dump, checksums, validate, upload
    manifest: Manifest | None = None


@dataclass(frozen=True)
class RestoreOutcome:
    """What one restore did; ``ok`` only when the restored data matches the manifest."""

    ok: bool
    reason: str = ""
    kind: str | None = None
    snapshot_id: str = ""
    target: str = ""  # a label without secrets
    bytes: int = 0
    durations: Mapping[str, float] = field(default_factory=dict)  # restore, validate
    mismatches: tuple[Mismatch, ...] = ()
    manifest: Manifest | None = None


def back_up(
    source: Source,
    repositories: Sequence[Restic],
    tags: Sequence[str] = (),
    *,
    host: str = "siaga",
    scratch: Path | None = None,
    timeout: float | None = None,
) -> BackupOutcome:
    """Back ``source`` up into every repository; the outcome says what happened (never raises for it).

    ``scratch`` holds SQLite's temporary copy; ``timeout`` bounds a streamed dump end to end.
    """
    if not repositories:
        raise ValueError("back_up needs at least one repository")
    if len({restic.label for restic in repositories}) != len(repositories):
        raise ValueError("back_up needs repositories with distinct labels")
    kind = source.kind
    value = getattr(source, kind)
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    secrets = [s for restic in repositories for s in restic.repository.secrets()] + _url_secrets(text)
    pair = f"{TAG_BACKUP}{uuid.uuid4().hex[:16]}"
    run = BackupRun(repositories, [*tags, f"siaga:{kind}", pair], [*tags, TAG_MANIFEST, pair], host)
    try:
        if kind == "directory":
            run.directory(Path(text))
        else:
            run.streamed(lambda: _open_dump(source, text, scratch), timeout)
    except BackupError as exc:
        run.failure = exc
    except ResticError as exc:  # a restic call outside any one upload (should not happen; be safe)
        run.failure = BackupError(exc.kind, exc.message)
    failure = run.final_failure()
    return BackupOutcome(
        ok=failure is None,
        reason=scrub(failure.reason, secrets) if failure else "",
        kind=failure.kind if failure else None,
        snapshots=dict(run.snapshots),
        manifest_snapshots=dict(run.manifest_snapshots),
        bytes=run.bytes,
        durations={name: round(value, 4) for name, value in run.durations.items()},
        manifest=run.manifest,
    )


def restore(
    restic: Restic, snapshot_id: str, target: str | Path, *, manifest: Manifest | None = None
) -> RestoreOutcome:
    """Restore a data snapshot into ``target`` (a database URL or a path) and validate it against its
    manifest (read from the repository unless given)."""
    target = str(target)
    secrets = [*restic.repository.secrets(), *_url_secrets(target)]
    durations: dict[str, float] = {}
    label = _target_label(target)
    started = time.perf_counter()
    snapshot = snapshot_id
    moved = 0
    try:
        if manifest is None:
            # First the manifest, then the data: never two restic commands on one repository at once.
            info = restic.snapshot(snapshot_id)
            snapshot = info.id
            manifest = load_manifest(restic, info)
        if manifest.kind == "directory":
            moved = directory.restore(restic, snapshot, target)
        else:
            moved = _engine(manifest.kind).restore(restic, snapshot, manifest.filename, target)
        durations["restore"] = time.perf_counter() - started
        started = time.perf_counter()
        mismatches = validate(target, manifest)
        durations["validate"] = time.perf_counter() - started
    except (BackupError, ResticError) as exc:
        failure = exc if isinstance(exc, BackupError) else restic_failure(exc, restic)
        reason = scrub(failure.reason, secrets)
        return RestoreOutcome(False, reason, failure.kind, snapshot, label, moved, durations, (), manifest)
    reason = ""
    if mismatches:
        shown = "; ".join(str(m) for m in mismatches[:3])
        reason = scrub(f"{len(mismatches)} differences from the manifest: {shown}", secrets)
    return RestoreOutcome(
        not mismatches,
        reason,
        "mismatch" if mismatches else None,
        snapshot,
        label,
        moved,
        durations,
        tuple(mismatches),
        manifest,
    )


def validate(target: str | Path, manifest: Manifest) -> list[Mismatch]:
    """Recompute counts and checksums (or the tree digest) at ``target``; every difference from
    ``manifest``. Raises BackupError("validate_failed") when the target cannot be read."""
    if manifest.kind == "postgres":  # two methods: measure the way the manifest was taken
        measured = postgres.measure(str(target), manifest.method)
    else:
        measured = _engine(manifest.kind).measure(str(target))
    return compare(manifest, measured)


def load_manifest(restic: Restic, snapshot: str | SnapshotInfo) -> Manifest:
    """The manifest recorded with a data snapshot; raises BackupError("no_manifest") when there is none."""
    info = snapshot if isinstance(snapshot, SnapshotInfo) else restic.snapshot(snapshot)
    pair = next((tag for tag in info.tags if tag.startswith(TAG_BACKUP)), None)
    if pair is None or TAG_MANIFEST in info.tags:
        raise BackupError("no_manifest", f"snapshot {info.short_id} is not a siaga data snapshot")
    process = restic.dump("latest", MANIFEST_FILENAME, tags=[TAG_MANIFEST, pair])
    data = process.stdout.read() if process.stdout is not None else b""
    try:
        restic.wait(process)
    except ResticError as exc:
        if exc.kind == "not_found":
            raise BackupError("no_manifest", f"no manifest for snapshot {info.short_id}") from None
        raise
    try:
        return Manifest.from_json(data)
    except ValueError as exc:
        raise BackupError("no_manifest", f"the manifest of {info.short_id} does not parse: {exc}") from None


def data_snapshots(snapshots: Iterable[SnapshotInfo]) -> list[SnapshotInfo]:
    """The data snapshots among these (manifests left out) — what retention should choose from."""
    return [info for info in snapshots if TAG_MANIFEST not in info.tags]


def forget_backups(restic: Restic, data_ids: Sequence[str], prune: bool = True) -> None:
    """Forget these data snapshots together with their manifests."""
    if not data_ids:
        return
    everything = restic.snapshots()
    chosen = [info for info in everything if any(info.id.startswith(i) for i in data_ids)]
    pairs = {tag for info in chosen for tag in info.tags if tag.startswith(TAG_BACKUP)}
    companions = [info.id for info in everything if pairs.intersection(info.tags)]
    restic.forget(sorted({info.id for info in chosen} | set(companions)), prune=prune)


def _open_dump(source: Source, value: str, scratch: Path | None) -> StreamedDump:
    kind = source.kind
    if kind == "postgres":
        return postgres.PostgresDump(value, deduplicate=source.deduplicate)
    if kind in ("mariadb", "mysql"):
        dump: StreamedDump = _mariadb().MariadbDump(value)
        return dump
    return sqlite.SqliteDump(value, scratch)


def _url_secrets(text: str) -> list[str]:
    if "://" not in text:
        return []
    password = urlsplit(text).password
    return [password, unquote(password)] if password else []


def _target_label(target: str) -> str:
    try:
        if target.startswith(("postgres://", "postgresql://")):
            return postgres.Target(target).label
        if target.startswith(("mysql://", "mariadb://")):
            label: str = _mariadb().Target(target).label
            return label
    except BackupError:
        return "(an unreadable URL)"
    return target
