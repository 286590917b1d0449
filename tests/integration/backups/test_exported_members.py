"""The public surface of the restic adapter and the backup engines, pinned."""

from __future__ import annotations

from siaga.integrations import backup_engines, restic


def test_restic_exports() -> None:
    assert sorted(restic.__all__) == [
        "CHUNK",
        "RepoLocation",
        "Restic",
        "ResticError",
        "SnapshotInfo",
        "SnapshotStats",
        "StdinUpload",
        "classify",
        "scrub",
    ]


def test_backup_engines_exports() -> None:
    assert sorted(backup_engines.__all__) == [
        "BackupError",
        "BackupOutcome",
        "Manifest",
        "Mismatch",
        "RestoreOutcome",
        "TAG_BACKUP",
        "TAG_MANIFEST",
        "TableDigest",
        "back_up",
        "data_snapshots",
        "forget_backups",
        "load_manifest",
        "restore",
        "validate",
    ]
    for name in backup_engines.__all__:
        assert hasattr(backup_engines, name)
