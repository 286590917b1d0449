"""Backup schedules, staleness, verify rotation and drill verdicts (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from siaga.domain import backups as domain
from siaga.spec.backups import schedule_cron

T = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def test_schedule_words_are_cron_in_the_project_zone() -> None:
    daily = schedule_cron("daily")
    assert daily == "0 1 * * *"
    # 01:00 in Jakarta (UTC+7) is 18:00 UTC the day before.
    assert domain.next_run(daily, "Asia/Jakarta", T) == datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    assert domain.due_runs(schedule_cron("2x daily"), "UTC", T, T + timedelta(days=1)) == [
        T + timedelta(hours=1),
        T + timedelta(hours=13),
    ]
    assert domain.interval(schedule_cron("weekly"), "UTC", T) == timedelta(days=7)


def test_stale_after_the_interval_plus_ten_percent() -> None:
    cron = schedule_cron("daily")
    last = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    limit = last + timedelta(hours=26, minutes=24)
    assert not domain.stale(last, T, cron, "UTC", limit)
    assert domain.stale(last, T, cron, "UTC", limit + timedelta(seconds=1))
    # Never succeeded: counted from when Siaga began watching.
    assert not domain.stale(None, T, cron, "UTC", T + timedelta(hours=26))
    assert domain.stale(None, T, cron, "UTC", T + timedelta(hours=27))


def test_verify_subsets_read_everything_within_four_weeks() -> None:
    weekly = [domain.data_subset(schedule_cron("weekly"), "UTC", i, T) for i in range(5)]
    assert weekly == ["1/4", "2/4", "3/4", "4/4", "1/4"]
    daily = {domain.data_subset(schedule_cron("daily"), "UTC", i, T) for i in range(28)}
    assert len(daily) == 28
    assert domain.data_subset(schedule_cron("monthly"), "UTC", 3, T) == "1/1"


def test_conditions_follow_the_newest_runs() -> None:
    record = domain.JobRecord(
        job="db",
        cron=schedule_cron("daily"),
        zone="UTC",
        watching_since=T,
        last_backup_ok=T + timedelta(hours=1),
        last_backup_failed=T + timedelta(days=1, hours=1),
        failure_reason="pg_dump exited 1",
    )
    firing = {c.alertname: c for c in domain.conditions(record, T + timedelta(days=1, hours=2))}
    assert firing[domain.BACKUP_FAILED].firing
    assert "pg_dump exited 1" in firing[domain.BACKUP_FAILED].summary
    assert not firing[domain.BACKUP_STALE].firing
    assert not firing[domain.VERIFY_FAILED].firing


def test_drill_verdicts() -> None:
    rto, rpo = timedelta(hours=4), timedelta(minutes=15)
    assert domain.judge_drill(rto, rpo, timedelta(minutes=3), timedelta(minutes=1)).ok
    missed = domain.judge_drill(rto, rpo, timedelta(hours=5), timedelta(minutes=20))
    assert not missed.ok
    assert missed.reason == "RTO 5h 0m > target 4h 0m; RPO 20m > target 15m"
    assert domain.judge_drill(rto, rpo, timedelta(minutes=1), None).reason == "RPO could not be measured"
