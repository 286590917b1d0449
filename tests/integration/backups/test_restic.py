"""The restic adapter against real repositories: a local directory and S3 on moto."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from pydantic import SecretStr

from siaga.integrations.restic import RepoLocation, Restic, ResticError, classify, scrub
from siaga.spec.backups import Repository, S3Location
from tests.integration.backups.conftest import (
    REPO_PASSWORD,
    S3_ACCESS_KEY,
    S3_SECRET_KEY,
    assert_no_secret,
    unique,
)


@pytest.fixture
def fresh_repo(tmp_path: Path) -> Restic:
    """A repository of this test's own (for tests that lock it or forget everything)."""
    restic = Restic(
        RepoLocation(str(tmp_path / "repo"), REPO_PASSWORD, name="fresh"), cache_dir=tmp_path / "c"
    )
    restic.init()
    return restic


def test_stdin_backup_snapshots_dump_stats_check_and_forget(local_repo: Restic, tag: str) -> None:
    chunks = [b"first line\n", b"x" * 3_000_000, b"last line\n"]
    snapshot = local_repo.backup_stdin(iter(chunks), "data.bin", [tag, "kind:test"])

    [info] = local_repo.snapshots(tags=[tag])
    assert info.id == snapshot
    assert info.paths == ("/data.bin",)
    assert info.hostname == "siaga"
    assert set(info.tags) == {tag, "kind:test"}
    assert info.time.tzinfo is not None
    assert local_repo.snapshots(tags=[tag, "kind:other"]) == []

    dump = local_repo.dump(info.short_id, "data.bin")
    assert dump.stdout is not None
    assert dump.stdout.read() == b"".join(chunks)
    local_repo.wait(dump)
    stats = local_repo.stats(snapshot)
    assert (stats.total_size, stats.total_file_count) == (3_000_021, 1)
    local_repo.check(read_data_subset="1/5")

    local_repo.forget([snapshot])
    assert local_repo.snapshots(tags=[tag]) == []


def test_stdin_backup_from_a_process(local_repo: Restic, tag: str) -> None:
    producer = subprocess.Popen(["seq", "1", "100000"], stdout=subprocess.PIPE)
    snapshot = local_repo.backup_stdin(producer, "numbers.txt", [tag])
    producer.stdout.close()  # type: ignore[union-attr]

    dump = local_repo.dump(snapshot, "numbers.txt")
    lines = dump.stdout.read().splitlines()  # type: ignore[union-attr]
    local_repo.wait(dump)
    assert (lines[0], lines[-1], len(lines)) == (b"1", b"100000", 100000)


def test_a_failing_producer_records_nothing(local_repo: Restic, tag: str) -> None:
    producer = subprocess.Popen(["sh", "-c", "head -c 200000 /dev/urandom; exit 3"], stdout=subprocess.PIPE)

    with pytest.raises(ResticError) as caught:
        local_repo.backup_stdin(producer, "broken.bin", [tag])
    producer.stdout.close()  # type: ignore[union-attr]

    assert caught.value.kind == "aborted"
    assert "exited with code 3" in caught.value.message
    assert local_repo.snapshots(tags=[tag]) == []


def test_paths_backup_and_restore(
    local_repo: Restic, tag: str, directory_source: Path, tmp_path: Path
) -> None:
    snapshot = local_repo.backup_paths(["."], [tag], cwd=directory_source)
    target = tmp_path / "out"

    local_repo.restore(snapshot, target)

    assert (target / "sub" / "data.bin").read_bytes() == (directory_source / "sub" / "data.bin").read_bytes()
    assert (target / "link").is_symlink()
    [info] = local_repo.snapshots(tags=[tag])
    assert info.paths == (str(directory_source),)


def test_init_is_idempotent_but_checks_the_password(fresh_repo: Restic) -> None:
    fresh_repo.init()
    wrong = Restic(RepoLocation(fresh_repo.repository.url, "wrong-" + REPO_PASSWORD))

    with pytest.raises(ResticError) as caught:
        wrong.init()

    assert caught.value.kind == "wrong_password"
    assert_no_secret(caught.value, caught.value.message)


def _forget_error(restic: Restic) -> ResticError | None:
    try:
        restic.forget(["0" * 64])  # needs an exclusive lock; an unknown id is otherwise ignored
    except ResticError as exc:
        return exc
    return None


def test_locks_live_and_stale(fresh_repo: Restic, tag: str) -> None:
    upload = fresh_repo.start_stdin_backup("x.bin", [tag])
    upload.write(b"y" * 200_000)
    # restic opens the repository (0.5 s of key derivation) before it takes its lock.
    errors = (_forget_error(fresh_repo) for _ in range(20))
    live = next((error for error in errors if error is not None), None)
    assert live is not None
    assert live.kind == "locked"

    upload.kill()  # SIGKILL: no chance to remove its lock, which is now stale
    assert upload.abort() is None
    stale = _forget_error(fresh_repo)
    assert stale is not None
    assert stale.kind == "locked"

    fresh_repo.unlock()

    assert _forget_error(fresh_repo) is None
    assert fresh_repo.snapshots(tags=[tag]) == []


def test_s3_repository_from_the_spec(moto: str, tag: str, tmp_path: Path) -> None:
    spec = Repository(
        s3=S3Location(endpoint=moto, bucket=unique("spec").replace("_", "-"), prefix="/team/backups/"),
        password=SecretStr(REPO_PASSWORD),
        access_key=SecretStr(S3_ACCESS_KEY),
        secret_key=SecretStr(S3_SECRET_KEY),
    )
    location = RepoLocation.from_spec(spec, name="offsite")
    assert location.url.endswith("/team/backups")
    assert location.label == "offsite"
    assert_no_secret(repr(location), repr(Restic(location)))
    restic = Restic(location, cache_dir=tmp_path)

    restic.init()
    snapshot = restic.backup_stdin([b"hello s3"], "hello.txt", [tag])

    assert [info.id for info in restic.snapshots(tags=[tag])] == [snapshot]
    no_keys = Restic(RepoLocation(location.url, REPO_PASSWORD, env={"AWS_ACCESS_KEY_ID": S3_ACCESS_KEY}))
    with pytest.raises(ResticError) as caught:
        no_keys.snapshots()
    assert_no_secret(caught.value)


def test_classify_and_scrub() -> None:
    assert classify(1, "Fatal: wrong password or no key found\n") == "wrong_password"
    refused = 'Fatal: unable to open config file: Stat: Get "http://x/": dial tcp: connection refused\n'
    assert classify(1, refused + "Is there a repository at the following location?") == "unreachable"
    assert (
        classify(
            1,
            "Fatal: unable to open config file: stat /x/config: no such file or directory\n"
            "Is there a repository at the following location?\n/x",
        )
        == "no_repository"
    )
    assert classify(1, "unable to create lock in backend: repository is already locked by PID 1") == "locked"
    assert classify(1, "write /t/f: no space left on device") == "disk_full"
    assert classify(-signal.SIGXFSZ, "") == "disk_full"
    assert classify(3, "warning: unreadable") == "incomplete"
    assert classify(130, "signal interrupt received, cleaning up") == "aborted"
    assert classify(1, "something else") == "failed"
    assert scrub("pw=hunter2\n  and %40t=hunter%402 \x1b[2Kdone", ["hunter2", "hunter@2"]) == (
        "pw=*** and %40t=*** done"
    )
