"""Storage per check per day: one day of minutely results for N checks written through Siaga's store, rolled
up to minutes and hours, then measured on disk (SQLite pages, PostgreSQL relation sizes with indexes).

    .venv/bin/python bench/check_storage.py [--checks 100] [--engine sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
from datetime import UTC, datetime, timedelta

import psycopg
from _harness import ENGINES, table, temp_database

from siaga.adapters.db import engine as db_engine
from siaga.adapters.db import migrate
from siaga.adapters.db.engine import Database
from siaga.services import rollups

DAY = timedelta(days=1)
T0 = datetime(2026, 11, 2, tzinfo=UTC)
TABLES = ("check_results", "check_minutes", "check_hours")


def _sqlite_sizes(path: str) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    finally:
        conn.close()
    sizes = dict(rows)
    found = {}
    for table_name in TABLES:
        found[table_name] = sum(
            size for name, size in sizes.items() if name == table_name or table_name in name
        )
    return found


def _pg_sizes(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {
            name: int(conn.execute("SELECT pg_total_relation_size(%s)", (name,)).fetchone()[0])  # type: ignore[index]
            for name in TABLES
        }


def measure(engine_name: str, checks: int) -> dict[str, float]:
    with temp_database(engine_name, "storage") as temp:
        url = temp.url or db_engine.sqlite_url(temp.data_dir)
        engine = db_engine.create(url)
        migrate.upgrade(engine)
        db = Database(engine)
        with db.transaction() as store:
            store.insert_checks(
                [
                    {
                        "service": f"svc-{i // 10}",
                        "name": f"check-{i}",
                        "kind": "http",
                        "every_s": 60.0,
                        "status": "up",
                        "failures": 0,
                        "successes": 0,
                        "alerting": False,
                        "created_at": T0,
                    }
                    for i in range(checks)
                ]
            )
            ids = [int(row["id"]) for row in store.check_rows()]
        rng = random.Random(7)
        for minute in range(0, 1440, 60):  # an hour of results per transaction, as the writer batches
            rows = [
                {
                    "check_id": check_id,
                    "at": T0 + timedelta(minutes=m, seconds=check_id % 60),
                    "status": 2 if rng.random() < 0.001 else 0,
                    "latency": rng.lognormvariate(-3.5, 0.6),
                    "reason": None,
                }
                for m in range(minute, minute + 60)
                for check_id in ids
            ]
            with db.transaction() as store:
                store.insert_results(rows)
        with db.transaction() as store:
            store.set_job_cursor("rollup.minutes", T0)
            store.set_job_cursor("rollup.hours", T0)
        while rollups.roll_up(uow=db, now=T0 + DAY + timedelta(minutes=5), settle=timedelta(0)):
            pass
        db.dispose()
        if temp.url is None:
            with sqlite3.connect(temp.data_dir / "siaga.db") as conn:
                conn.execute("VACUUM")
            sizes = _sqlite_sizes(str(temp.data_dir / "siaga.db"))
        else:
            with psycopg.connect(temp.url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
            sizes = _pg_sizes(temp.url)
    per_check = {name: size / checks for name, size in sizes.items()}
    keep = {"check_results": 7, "check_minutes": 35, "check_hours": 400}
    retained = sum(per_check[name] * days for name, days in keep.items())
    return {**per_check, "retained": retained}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=100)
    parser.add_argument("--engine", choices=[*ENGINES, "both"], default="both")
    args = parser.parse_args()
    engines = ENGINES if args.engine == "both" else (args.engine,)
    rows = []
    for name in engines:
        figures = measure(name, args.checks)
        kib = {k: v / 1024 for k, v in figures.items()}
        rows.append(
            [
                name,
                f"{kib['check_results']:.1f}",
                f"{kib['check_minutes']:.1f}",
                f"{kib['check_hours']:.2f}",
                f"{kib['retained'] / 1024:.1f}",
                f"{kib['retained'] * 1000 / 1024 / 1024:.1f}",
                f"{kib['retained'] * 10000 / 1024 / 1024:.1f}",
            ]
        )
    print(f"One day of 1-minute results, {args.checks} checks; KiB per check per day, MiB / GiB retained")
    print(
        table(
            [
                "engine",
                "raw KiB/day",
                "minutes KiB/day",
                "hours KiB/day",
                "retained MiB/check",
                "1,000 checks GiB",
                "10,000 checks GiB",
            ],
            rows,
        )
    )
    print("retained = 7 days raw + 35 days of minutes + 400 days of hours")


if __name__ == "__main__":
    main()
