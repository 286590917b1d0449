"""What Siaga tells an operator to configure: pgBackRest's file and PostgreSQL's settings (no processes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from siaga.integrations.pitr import (
    BaseBackup,
    Host,
    RestoreTargetError,
    StanzaSetup,
    WalRepository,
    postgresql_settings,
    render_config,
    render_postgresql_conf,
    select_base_backup,
)
from siaga.spec.backups import Repository, S3Location

T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


def stanza(**overrides: object) -> StanzaSetup:
    fields: dict[str, object] = {
        "name": "orders",
        "pg_data_dir": Path("/var/lib/postgresql/15/main"),
        "repositories": (WalRepository(path="/backups/orders-pitr", cipher_pass=SecretStr("s3cret-pass")),),
    }
    return StanzaSetup(**(fields | overrides))  # type: ignore[arg-type]


def backup(label: str, stopped_at: datetime) -> BaseBackup:
    return BaseBackup(
        label=label,
        type="full",
        repo=1,
        pg_version="15",
        started_at=stopped_at - timedelta(minutes=5),
        stopped_at=stopped_at,
        wal_start="000000010000000000000002",
        wal_stop="000000010000000000000003",
    )


def test_postgresql_settings_archive_every_segment_through_pgbackrest() -> None:
    assert postgresql_settings(host=Host(), stanza=stanza()) == {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": "pgbackrest --stanza=orders archive-push %p",
        "archive_timeout": "60s",
    }
    custom = postgresql_settings(host=Host(config_path=Path("/srv/pg backrest")), stanza=stanza())
    assert (
        custom["archive_command"]
        == "pgbackrest '--config-path=/srv/pg backrest' --stanza=orders archive-push %p"
    )
    assert render_postgresql_conf({"archive_command": "a 'b' %p"}) == "archive_command = 'a ''b'' %p'\n"


@pytest.mark.parametrize("timeout", [timedelta(0), timedelta(minutes=5, seconds=1), timedelta(seconds=1.5)])
def test_archive_timeout_is_whole_seconds_up_to_five_minutes(timeout: timedelta) -> None:
    with pytest.raises(ValueError, match="archive_timeout"):
        stanza(archive_timeout=timeout)
    assert stanza(archive_timeout=timedelta(minutes=5)).archive_timeout == timedelta(minutes=5)


def test_a_stanza_name_must_be_safe_in_a_shell_command() -> None:
    with pytest.raises(ValueError, match="stanza name"):
        stanza(name="orders; rm -rf /")


def test_the_rendered_config_names_the_cipher_but_never_the_secrets() -> None:
    s3 = WalRepository(
        path="/siaga-pitr",
        cipher_pass=SecretStr("repo2-passphrase"),
        s3=S3Location(endpoint="https://minio.internal:9000", bucket="backups", region="id-1"),
        s3_key=SecretStr("AKIAEXAMPLE"),
        s3_key_secret=SecretStr("s3-secret-key"),
    )
    local = stanza().repositories[0]
    text = render_config(host=Host(), stanzas=[stanza(repositories=(local, s3))])
    for secret in ("s3cret-pass", "repo2-passphrase", "AKIAEXAMPLE", "s3-secret-key"):
        assert secret not in text
    for line in (
        "[orders]",
        "pg1-path=/var/lib/postgresql/15/main",
        "repo1-path=/backups/orders-pitr",
        "repo1-cipher-type=aes-256-cbc",
        "repo1-retention-full-type=time",
        "repo1-retention-full=7",
        "repo2-type=s3",
        "repo2-s3-endpoint=minio.internal",
        "repo2-storage-port=9000",
        "repo2-s3-region=id-1",
        "repo2-s3-uri-style=path",
        "repo2-cipher-type=aes-256-cbc",
    ):
        assert line in text.splitlines()


def test_s3_over_plain_http_is_refused() -> None:
    plain = WalRepository(path="/p", s3=S3Location(endpoint="http://minio:9000", bucket="b"))
    with pytest.raises(ValueError, match="HTTPS"):
        render_config(host=Host(), stanzas=[stanza(repositories=(plain,))])


def test_the_pgbackrest_repository_sits_beside_the_restic_one() -> None:
    local = WalRepository.beside(Repository(path="/backups/restic/", password=SecretStr("pw")))
    assert local.path == "/backups/restic-pitr"
    assert local.cipher_pass is not None
    assert local.cipher_pass.get_secret_value() == "pw"
    bucket = Repository(
        s3=S3Location(endpoint="https://s3.ap-southeast-3.amazonaws.com", bucket="b", prefix="/siaga/db/"),
        password=SecretStr("pw"),
        access_key=SecretStr("k"),
        secret_key=SecretStr("s"),
    )
    assert WalRepository.beside(bucket).path == "/siaga/db-pitr"


def test_the_newest_backup_ended_before_the_target_is_chosen() -> None:
    backups = [backup("old", T0), backup("new", T0 + timedelta(days=1))]
    assert select_base_backup(backups, T0 + timedelta(hours=3), stanza="orders").label == "old"
    assert select_base_backup(backups, T0 + timedelta(days=2), stanza="orders").label == "new"
    with pytest.raises(RestoreTargetError, match="before the end of the earliest base backup"):
        select_base_backup(backups, T0, stanza="orders")  # stored in whole seconds: consistent from T0 + 1 s
    with pytest.raises(RestoreTargetError, match="time zone"):
        select_base_backup(backups, datetime(2026, 1, 6, 1, 0), stanza="orders")  # noqa: DTZ001
    with pytest.raises(RestoreTargetError, match="no base backup"):
        select_base_backup([], T0, stanza="orders")
