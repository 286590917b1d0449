"""Dashboard speed with 5,000 checks and a month of results: overview and service pages p95 < 1 s, incident
actions < 300 ms.

A spec of 1,000 services x 5 checks (hourly, so probing stays quiet; 20 services public) is planned into a
fresh database; a
month of hourly rollups for every check, and a month of minute rollups for the 50 services with SLOs (their
budgets read minutes), are written straight through Siaga's store; 200 incidents are opened through the
alert API. Then a real `siaga run` serves the pages to a signed-in responder.

    .venv/bin/python bench/ui.py [--engine sqlite|postgresql] [--requests 40]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from _harness import SIAGA, percentile, siaga, table, temp_database

from siaga.adapters.db import engine as db_engine
from siaga.adapters.db import migrate
from siaga.adapters.db.engine import Database
from siaga.bootstrap import Container
from siaga.services.check_plan import plan
from siaga.services.policy import Policy
from siaga.settings import Settings
from siaga.spec import parse_spec

SERVICES, PER_SERVICE, WITH_SLO = 1000, 5, 50
PASSWORD = "bench-password-1"  # noqa: S105 - a throw-away user of a throw-away database
HISTOGRAM = [0, 0, 0, 1]


def _spec_text() -> str:
    lines = [
        "version: 1",
        "project: {name: ui-bench, timezone: Asia/Jakarta}",
        "severities: [{name: SEV-1, aliases: [critical], ack_within: 15m}, {name: SEV-2}]",
        "services:",
    ]
    for s in range(SERVICES):
        lines.append(f"  svc-{s:04d}:")
        lines.append(f"    environment: production{'' if s % 50 else chr(10) + '    public: true'}")
        lines.append("    checks:")
        for c in range(PER_SERVICE):
            lines.append(
                f'      - {{name: c{c}, http: {{url: "http://127.0.0.1:9/{s}/{c}"}}, every: 1h, timeout: 2s,'
                " severity: SEV-2}"
            )
        if s < WITH_SLO:
            lines.append("    slos: [{name: availability, objective: 99.9, window: 30d, checks: [c0]}]")
    return "\n".join(lines) + "\n"


def _fill(url: str, spec_path: Path, now: datetime) -> None:
    spec = parse_spec(spec_path.read_text(), env={})
    engine = db_engine.create(url)
    migrate.upgrade(engine)
    db = Database(engine)
    settings = Settings(data_dir=spec_path.parent, database_url=url, config_path=spec_path)
    wired = Container(settings=settings, db=db, clock=None, spec=spec, policy=Policy.from_spec(spec))  # type: ignore[arg-type]
    checks = plan(uow=db, spec=spec, policy=wired.policy, now=now).checks
    rng = random.Random(3)
    start = (now - timedelta(days=30)).replace(minute=0, second=0, microsecond=0)
    for check in checks:
        hours = [
            {
                "check_id": check.id,
                "start": start + timedelta(hours=h),
                "count": 60,
                "failures": 1 if rng.random() < 0.01 else 0,
                "degraded": 0,
                "latency_sum": 1.8,
                "histogram": [0, 0, 0, 60],
            }
            for h in range(30 * 24)
        ]
        with db.transaction() as store:
            store.insert_rollups("hour", hours)
    slo_checks = [c for c in checks if c.name == "c0" and int(c.service[4:]) < WITH_SLO]
    for check in slo_checks:
        for day in range(30):
            minutes = [
                {
                    "check_id": check.id,
                    "start": start + timedelta(days=day, minutes=m),
                    "count": 1,
                    "failures": 1 if rng.random() < 0.0005 else 0,
                    "degraded": 0,
                    "latency_sum": 0.03,
                    "histogram": HISTOGRAM,
                }
                for m in range(1440)
            ]
            with db.transaction() as store:
                store.insert_rollups("minute", minutes)
    # The month was written as rollups directly: tell the rollup job it is done up to now, as it would be.
    with db.transaction() as store:
        done = now.replace(second=0, microsecond=0)
        store.set_job_cursor("rollup.minutes", done)
        store.set_job_cursor("rollup.hours", done.replace(minute=0))
    db.dispose()


def _sign_in(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token, "no CSRF field on /login"
    answer = client.post("/login", data={"name": "bench", "password": PASSWORD, "csrf_token": token.group(1)})
    assert answer.status_code in (200, 303), answer.status_code
    return client


def _timed(call: object, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = call()  # type: ignore[operator]
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code in (200, 303), response.status_code
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    now = datetime.now(UTC)
    with temp_database(args.engine, "ui") as temp:
        spec_path = temp.data_dir / "siaga.yaml"
        spec_path.write_text(_spec_text())
        url = temp.url or db_engine.sqlite_url(temp.data_dir)
        started = time.perf_counter()
        _fill(url, spec_path, now)
        print(
            f"filled in {time.perf_counter() - started:.0f} s: 5,000 checks, 30 days of hours, "
            f"{WITH_SLO} x 30 days of minutes"
        )
        env = {**temp.env, "SIAGA_USER_PASSWORD": PASSWORD}
        done = subprocess.run(
            [str(SIAGA), "user", "create", "bench", "--role", "responder"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        with siaga(temp, config=spec_path) as server:
            api = httpx.Client(base_url=server.url, headers=server.headers, timeout=30)
            alerts = [
                {"labels": {"alertname": f"A{i}", "service": f"svc-{i:04d}", "severity": "critical"}}
                for i in range(200)
            ]
            api.post("/api/v1/alerts", json=alerts).raise_for_status()
            ids = [item["id"] for item in api.get("/api/v1/incidents", params={"limit": 200}).json()["items"]]
            client = _sign_in(server.url)
            for path in ("/", "/slos", "/status"):  # warm caches once, as a user's first visit would
                started = time.perf_counter()
                client.get(path, timeout=300)
                print(f"first {path}: {time.perf_counter() - started:.1f} s")
            rows = []
            for name, call in (
                ("overview /", lambda: client.get("/")),
                ("overview live fragment", lambda: client.get("/live/overview")),
                ("service page", lambda: client.get(f"/services/svc-{random.randrange(SERVICES):04d}")),
                ("incident page", lambda: client.get(f"/incidents/{random.choice(ids)}")),
                ("status page (public)", lambda: httpx.get(f"{server.url}/status", timeout=30)),
            ):
                times = _timed(call, args.requests)
                print(f"{name}: p95 {percentile(times, 95):.0f} ms", flush=True)
                rows.append([name, f"{statistics.median(times):.0f}", f"{percentile(times, 95):.0f}", "1000"])
            page = client.get(f"/incidents/{ids[0]}").text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert csrf
            actions = []
            for incident_id in ids[: args.requests]:
                started = time.perf_counter()
                answer = client.post(f"/incidents/{incident_id}/ack", data={"csrf_token": csrf.group(1)})
                actions.append((time.perf_counter() - started) * 1000)
                assert answer.status_code in (200, 303), answer.status_code
            rows.append(
                [
                    "incident action (ack)",
                    f"{statistics.median(actions):.0f}",
                    f"{percentile(actions, 95):.0f}",
                    "300",
                ]
            )
    print(f"{args.engine}: {args.requests} requests each, one signed-in client")
    print(table(["page", "p50 ms", "p95 ms", "goal p95 ms"], rows))


if __name__ == "__main__":
    main()
