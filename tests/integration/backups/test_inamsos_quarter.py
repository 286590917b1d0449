"""The INAMSOS spec (examples/seeds/inamsos.yaml) runs a simulated quarter on a virtual clock: the backup
scheduler runs its daily backups, weekly verifies and monthly drills against a real PostgreSQL, a SQLite
file and restic repositories (local and S3), one day's dump fails, and the quarter ends with exactly the
snapshots GFS retention keeps.

Only the repository paths are moved into the test's directory; snapshots carry the virtual clock's time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from siaga.adapters.clock import ManualClock
from siaga.adapters.db import engine as db_engine
from siaga.adapters.db import migrate
from siaga.adapters.db.engine import Database
from siaga.bootstrap import Container
from siaga.domain import retention
from siaga.integrations.restic import RepoLocation, Restic
from siaga.runtime.backup_scheduler import BackupScheduler
from siaga.services import backups, incidents
from siaga.services.policy import Policy
from siaga.settings import Settings
from siaga.spec import parse_spec
from tests.integration.backups.conftest import REPO_PASSWORD, S3_ACCESS_KEY, S3_SECRET_KEY, make_sqlite
from tests.integration.backups.keys import cheapen_local, cheapen_s3

ROOT = Path(__file__).resolve().parents[3]
START = datetime(2026, 1, 1, 0, 30, tzinfo=UTC)  # 07:30 WIB on 1 January
DAYS = int(__import__("os").environ.get("QUARTER_DAYS", "92"))


def _spec_text(local: Path, sqlite: Path) -> str:
    text = (ROOT / "examples" / "seeds" / "inamsos.yaml").read_text()
    text = text.replace("/var/backups/inamsos", str(local)).replace("/srv/prisma/warga.db", str(sqlite))
    return re.sub(r"bucket: inamsos-backups", f"bucket: inamsos-{START:%Y%m%d}-{id(text) % 10**6}", text)


@pytest.mark.timeout(900)  # a quarter of real restic runs (about 3 minutes here): this suite's longest test
def test_a_quarter_of_inamsos_backups(tmp_path: Path, moto: str, postgres_source: str) -> None:
    local, sqlite = tmp_path / "repo", make_sqlite(tmp_path / "warga.db", rows=300)
    text = _spec_text(local, sqlite)
    bucket = re.search(r"bucket: (\S+),", text).group(1)  # type: ignore[union-attr]
    env = {
        "RESTIC_PASSWORD": REPO_PASSWORD,
        "S3_ENDPOINT": moto,
        "S3_ACCESS_KEY": S3_ACCESS_KEY,
        "S3_SECRET_KEY": S3_SECRET_KEY,
        "REGISTRY_DB_URL": postgres_source,
        "INAMSOS_SMTP_URL": "smtp://127.0.0.1:1",
        "INAMSOS_WEBHOOK_URL": "http://127.0.0.1:1/hook",
        "INAMSOS_WEBHOOK_SECRET": "s",
    }
    spec = parse_spec(text, filename="inamsos.yaml", env=env)
    # Repositories made beforehand with cheap key derivation (see keys.py): same restic, faster commands.
    for name, repo in spec.backups.repositories.items():
        Restic(RepoLocation.from_spec(repo, name)).init()
    cheapen_local(local, REPO_PASSWORD)
    cheapen_s3(moto, bucket, "db", REPO_PASSWORD, S3_ACCESS_KEY, S3_SECRET_KEY)

    engine = db_engine.create(db_engine.sqlite_url(tmp_path))
    migrate.upgrade(engine)
    clock = ManualClock(START)
    settings = Settings(
        data_dir=tmp_path / "data", database_url=str(engine.url), config_path=tmp_path / "s.yaml"
    )
    container = Container(
        settings=settings, db=Database(engine), clock=clock, spec=spec, policy=Policy.from_spec(spec)
    )
    scheduler = BackupScheduler(container)

    failed_day = START + timedelta(days=40)
    good_url = postgres_source
    for hour in range(DAYS * 24):
        clock.set(START + timedelta(hours=hour))
        broken = failed_day <= clock.now() < failed_day + timedelta(days=1)
        # One day the database is gone (a wrong name in its URL): that backup fails, nothing is deleted.
        source = good_url.rsplit("/", 1)[0] + "/no_such_database" if broken else good_url
        container.spec = spec.model_copy(
            update={
                "backups": spec.backups.model_copy(
                    update={
                        "jobs": {
                            **spec.backups.jobs,
                            "registry-db": spec.backups.jobs["registry-db"].model_copy(
                                update={
                                    "source": spec.backups.jobs["registry-db"].source.model_copy(
                                        update={"postgres": _secret(source)}
                                    )
                                }
                            ),
                        }
                    }
                )
            }
        )
        scheduler.tick()

    ctx = scheduler.context()
    runs = backups.history(ctx, "registry-db", limit=1000)
    made = [r for r in runs if r["kind"] == "backup"]
    assert len(made) == 92
    failures = [r for r in made if not r["ok"]]
    assert len(failures) == 1
    assert failures[0]["reason"]
    # Retention never runs after a failure: no forget that day.
    assert not [r for r in runs if r["kind"] == "forget" and r["started_at"] == failures[0]["started_at"]]
    assert len([r for r in runs if r["kind"] == "verify" and r["ok"]]) == 13
    assert [r["ok"] for r in runs if r["kind"] == "drill"] == [True, True, True]
    titles = [i["title"] for i in incidents.list_incidents(uow=ctx.uow)]
    assert any("backup registry-db failed" in t for t in titles)

    # What GFS keeps of the 91 successful daily backups: 30 daily, the weekly ones before them, the
    # monthly ones before those — computed by the pure selection over the successful runs' times, and
    # pinned: 30 daily + 8 weekly + 1 monthly (31 December is not in the quarter) = 39.
    stamps = [retention.Snapshot(str(r["id"]), r["started_at"], True) for r in made if r["ok"]]
    policy = retention.Policy.from_spec(spec.backups.jobs["registry-db"].retention)
    expected = retention.select_kept(stamps, policy, clock.now(), spec.project.timezone)
    assert len(expected.keep) == 39
    for repo, found in backups.snapshots(ctx, "registry-db").items():
        assert len(found) == 39, repo
    newest = max(info.time for info in backups.snapshots(ctx, "registry-db")["local"])
    assert newest == max(r["started_at"] for r in made if r["ok"])  # stamped with the virtual clock
    # warga-sqlite keeps 7 daily.
    assert [len(v) for v in backups.snapshots(ctx, "warga-sqlite").values()] == [7]


def _secret(value: str):  # type: ignore[no-untyped-def]
    from pydantic import SecretStr

    return SecretStr(value)
