"""Maintenance windows: phrases and cron on the local wall clock, muting, and announcements due."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siaga.domain.maintenance import MaintenancePlan, Window, active, announcements_due, occurrences
from siaga.spec.models import MaintenanceWindow

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def wib(*args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo("Asia/Jakarta"))  # type: ignore[misc]


def plan(zone: str = "Asia/Jakarta", **fields: Any) -> MaintenancePlan:
    return MaintenancePlan.from_spec(MaintenanceWindow(**{"name": "patching", **fields}), zone)


# E1: the Luxima fragment's window.
PATCHING = plan(
    every="first sunday of month 02:00-04:00",
    services=["*"],
    announce_before="7d",
    announce_to=["management"],
)


# -- phrases ------------------------------------------------------------------------------------------


def test_e1_first_sunday_of_month_in_jakarta() -> None:
    assert (PATCHING.tz.key, PATCHING.services, PATCHING.announce_to) == (
        "Asia/Jakarta",
        ("*",),
        ("management",),
    )
    # 1 February 2026 is the first Sunday of the month; WIB is UTC+7.
    window = active([PATCHING], "auth-api", wib(2026, 2, 1, 3))
    assert window == Window("patching", utc(2026, 1, 31, 19), utc(2026, 1, 31, 21), ("*",))
    assert active([PATCHING], "auth-api", wib(2026, 2, 1, 2)) == window
    assert active([PATCHING], "auth-api", wib(2026, 2, 1, 4)) is None
    assert active([PATCHING], "auth-api", wib(2026, 2, 1, 1, 59)) is None
    assert active([PATCHING], "auth-api", wib(2026, 2, 8, 3)) is None  # the second Sunday


def test_e1_occurs_once_a_month_on_the_first_sunday() -> None:
    found = occurrences(PATCHING, utc(2026, 1, 1), utc(2027, 1, 1))
    local = [w.starts_at.astimezone(PATCHING.tz) for w in found]
    assert len(found) == 12
    assert all(t.weekday() == 6 and t.day <= 7 and t.time() == time(2) for t in local)
    assert all(w.ends_at - w.starts_at == 2 * HOUR for w in found)
    assert [t.month for t in local] == list(range(1, 13))


def test_last_friday_of_month() -> None:
    last_friday = plan(every="last friday of month 20:00-22:00")
    found = occurrences(last_friday, utc(2026, 1, 1), utc(2027, 1, 1))
    days = [w.starts_at.astimezone(last_friday.tz).date() for w in found]
    assert len(days) == 12
    assert all(d.weekday() == 4 and (d + timedelta(days=7)).month != d.month for d in days)
    assert days[0].isoformat() == "2026-01-30"
    assert days[4].isoformat() == "2026-05-29"  # May 2026 has five Fridays


def test_weekly_and_ordinal_phrases() -> None:
    saturdays = occurrences(plan(every="every saturday 22:00-23:00"), utc(2026, 3, 1), utc(2026, 4, 1))
    assert [w.starts_at.astimezone(ZoneInfo("Asia/Jakarta")).day for w in saturdays] == [7, 14, 21, 28]
    third = occurrences(plan(every="third tuesday of month 01:00-02:00"), utc(2026, 3, 1), utc(2026, 4, 1))
    assert [w.starts_at for w in third] == [wib(2026, 3, 17, 1)]


def test_every_day_across_midnight() -> None:
    nightly = plan(every="every day 23:30-00:30")
    window = active([nightly], None, wib(2026, 3, 10, 0, 15))
    assert window is not None
    assert (window.starts_at, window.ends_at) == (wib(2026, 3, 9, 23, 30), wib(2026, 3, 10, 0, 30))
    assert active([nightly], None, wib(2026, 3, 10, 0, 30)) is None
    assert active([nightly], None, wib(2026, 3, 10, 23, 29)) is None
    found = occurrences(nightly, wib(2026, 3, 10), wib(2026, 3, 12))
    assert [w.starts_at for w in found] == [
        wib(2026, 3, 9, 23, 30),
        wib(2026, 3, 10, 23, 30),
        wib(2026, 3, 11, 23, 30),
    ]


def test_a_window_already_running_is_included() -> None:
    found = occurrences(PATCHING, wib(2026, 2, 1, 3), wib(2026, 2, 1, 3, 30))
    assert [w.starts_at for w in found] == [wib(2026, 2, 1, 2)]
    assert occurrences(PATCHING, wib(2026, 2, 1, 4), wib(2026, 2, 1, 5)) == []
    assert occurrences(PATCHING, wib(2026, 2, 1, 5), wib(2026, 2, 1, 4)) == []


def test_phrases_stay_on_the_local_wall_clock_across_daylight_saving() -> None:
    sundays = plan("Europe/Berlin", every="every sunday 04:00-05:00")
    found = occurrences(sundays, utc(2024, 3, 20), utc(2024, 11, 10))
    assert {w.starts_at.astimezone(BERLIN).time() for w in found} == {time(4)}
    assert {w.starts_at.hour for w in found} == {2, 3}  # CEST, then CET
    # 02:30 does not exist on 31 March: the window opens when the clocks jump.
    skipped = occurrences(
        plan("Europe/Berlin", every="every day 02:30-03:30"), utc(2024, 3, 31), utc(2024, 3, 31, 3)
    )
    assert [(w.starts_at, w.ends_at) for w in skipped] == [(utc(2024, 3, 31, 1), utc(2024, 3, 31, 1, 30))]


# -- cron ---------------------------------------------------------------------------------------------


def test_cron_sunday_0200_for_two_hours() -> None:
    sunday = plan(cron="0 2 * * 0", duration="2h")
    found = occurrences(sunday, wib(2026, 3, 1), wib(2026, 4, 1))
    assert [w.starts_at for w in found] == [wib(2026, 3, day, 2) for day in (1, 8, 15, 22, 29)]
    assert all(w.ends_at - w.starts_at == 2 * HOUR for w in found)
    assert active([sunday], "database", wib(2026, 3, 8, 3, 59)) == found[1]
    assert active([sunday], "database", wib(2026, 3, 8, 4)) is None
    assert active([sunday], "database", wib(2026, 3, 9, 3)) is None


def test_cron_includes_a_start_exactly_at_the_range_start() -> None:
    sunday = plan(cron="0 2 * * 0", duration="2h")
    assert [w.starts_at for w in occurrences(sunday, wib(2026, 3, 8, 2), wib(2026, 3, 8, 2, 1))] == [
        wib(2026, 3, 8, 2)
    ]


def test_cron_runs_a_repeated_wall_time_once() -> None:
    nightly = plan("Europe/Berlin", cron="30 2 * * *", duration="10m")
    # On 27 October 2024 Berlin sees 02:30 twice (00:30 and 01:30 UTC): the window is the first.
    found = occurrences(nightly, utc(2024, 10, 26, 12), utc(2024, 10, 27, 12))
    assert [w.starts_at for w in found] == [utc(2024, 10, 27, 0, 30)]
    assert occurrences(nightly, utc(2024, 10, 27, 1, 15), utc(2024, 10, 27, 1, 45)) == []
    # On 31 March 02:30 does not exist: the window opens at the change.
    assert [w.starts_at for w in occurrences(nightly, utc(2024, 3, 31), utc(2024, 3, 31, 12))] == [
        utc(2024, 3, 31, 1)
    ]


# -- muting -------------------------------------------------------------------------------------------


def test_services_decide_what_a_window_mutes() -> None:
    database_only = plan(every="first sunday of month 02:00-04:00", services=["database"])
    at = wib(2026, 2, 1, 3)
    assert active([database_only], "database", at) is not None
    assert active([database_only], "auth-api", at) is None
    assert active([database_only], None, at) is None  # an alert without a service: only '*' windows
    assert active([PATCHING], None, at) is not None


def test_of_overlapping_windows_the_one_ending_last_is_active() -> None:
    short = plan(every="first sunday of month 02:00-04:00")
    long = MaintenancePlan.from_spec(
        MaintenanceWindow(name="upgrade", cron="0 1 * * 0", duration="5h"), "Asia/Jakarta"
    )
    window = active([short, long], "db", wib(2026, 2, 1, 3))
    assert window is not None
    assert (window.name, window.ends_at) == ("upgrade", wib(2026, 2, 1, 6))


def test_invalid_plans_and_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="either"):
        MaintenancePlan("x", None, None, None, BERLIN, ("*",))
    with pytest.raises(ValueError, match="duration"):
        MaintenancePlan("x", None, "0 2 * * *", None, BERLIN, ("*",))
    with pytest.raises(ValueError, match="naive"):
        occurrences(PATCHING, datetime(2026, 1, 1), utc(2026, 2, 1))  # noqa: DTZ001 - the point of the test


# -- announcements ------------------------------------------------------------------------------------


def test_announcement_falls_seven_days_before_the_window() -> None:
    due = announcements_due([PATCHING], wib(2026, 1, 25, 0), wib(2026, 1, 26, 0))
    assert [(p.name, w.starts_at, at) for p, w, at in due] == [
        ("patching", wib(2026, 2, 1, 2), wib(2026, 1, 25, 2))
    ]
    assert announcements_due([PATCHING], wib(2026, 1, 25, 2, 1), wib(2026, 1, 26, 0)) == []
    assert announcements_due([plan(every="every day 01:00-02:00")], utc(2026, 1, 1), utc(2026, 2, 1)) == []


ANNOUNCED = [
    PATCHING,
    plan(every="every day 23:30-00:30", announce_before="7d"),
    plan("Europe/Berlin", cron="30 2 * * *", duration="1h", announce_before="7d"),
    plan(every="every saturday 22:00-23:00"),  # never announced
]
PERIOD_START, PERIOD = utc(2024, 9, 1), timedelta(days=120)  # spans Berlin's October change


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.timedeltas(timedelta(0), PERIOD), max_size=40))
def test_consecutive_intervals_announce_each_window_exactly_once(cuts: list[timedelta]) -> None:
    edges = [PERIOD_START, *sorted(PERIOD_START + cut for cut in cuts), PERIOD_START + PERIOD]
    seen = [
        (p.name, w.starts_at, at)
        for since, until in itertools.pairwise(edges)
        for p, w, at in announcements_due(ANNOUNCED, since, until)
    ]
    ahead = timedelta(days=7)
    expected = sorted(
        (p.name, w.starts_at, w.starts_at - ahead)
        for p in ANNOUNCED[:3]
        for w in occurrences(p, PERIOD_START + ahead, PERIOD_START + PERIOD + ahead)
        if PERIOD_START <= w.starts_at - ahead < PERIOD_START + PERIOD
    )
    assert len(seen) == len(set(seen))
    assert sorted(seen) == expected
    assert len(expected) == 4 + 120 + 120  # four months of first Sundays, two daily windows
