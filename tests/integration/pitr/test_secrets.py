"""The repository passphrase stays in one 0600 file and the environment: not in the shown config, not in
pgBackRest's logs, not in the repository (whose files are encrypted)."""

from __future__ import annotations

import stat
from pathlib import Path

from siaga.integrations.pitr import render_config

from .conftest import PASSPHRASE, Cluster


def files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and not path.is_socket()]


def test_the_passphrase_lives_only_in_the_private_include_file(cluster: Cluster) -> None:
    cluster.pitr.check()  # archive-push, run by PostgreSQL itself, reads the passphrase from the include file
    config = cluster.host.config_path / "pgbackrest.conf"
    secrets = cluster.host.config_path / "conf.d" / "siaga-secrets.conf"
    for path in (config, secrets):
        mode = path.stat()
        assert stat.S_IMODE(mode.st_mode) == 0o600
        assert path.owner() == "postgres"
    assert PASSPHRASE not in render_config(host=cluster.host, stanzas=[cluster.stanza])
    assert config.read_text() == render_config(host=cluster.host, stanzas=[cluster.stanza])
    assert f"repo1-cipher-pass={PASSPHRASE}" in secrets.read_text()

    holding = [path for path in files_under(cluster.root) if PASSPHRASE.encode() in path.read_bytes()]
    assert holding == [secrets]
    logs = list(cluster.root.glob("*.log"))
    assert any("repo1-cipher-pass=<redacted>" in log.read_text() for log in logs)

    backup_info = cluster.root / "repo" / "backup" / cluster.stanza.name / "backup.info"
    assert backup_info.read_bytes().startswith(b"Salted__")  # AES-256-CBC, OpenSSL's format
