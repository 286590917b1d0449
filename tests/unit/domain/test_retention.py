"""Backup retention: restic's forget semantics, failed snapshots never counting, the newest always kept."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from siaga.domain import retention
from siaga.domain.retention import Policy, Selection, Snapshot, forget_plan, select_kept
from siaga.spec.backups import RetentionPolicy

JAKARTA = ZoneInfo("Asia/Jakarta")
NOW = datetime(2027, 6, 1, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def snaps(*times: datetime, ok: bool = True) -> list[Snapshot]:
    """Snapshots named after their UTC time, e.g. ``2026-11-30T13``."""
    return [Snapshot(f"{t.astimezone(UTC):%Y-%m-%dT%H:%M}", t, ok) for t in times]


def kept(snapshots: list[Snapshot], now: datetime = NOW, tz: str = "UTC", **rules: object) -> tuple[str, ...]:
    return select_kept(snapshots, Policy(**rules), now, tz).keep  # type: ignore[arg-type]


# -- worked examples ----------------------------------------------------------------------------------


def test_the_docstring_example() -> None:
    times = {
        "a": utc(2026, 11, 30, 13),
        "b": utc(2026, 11, 30, 1),
        "c": utc(2026, 11, 29, 13),
        "d": utc(2026, 11, 29, 1),
        "e": utc(2026, 11, 28, 1),
        "f": utc(2026, 11, 22, 1),
        "g": utc(2026, 10, 31, 1),
        "h": utc(2026, 10, 20, 1),
    }
    snapshots = [Snapshot(name, time, ok=name != "c") for name, time in times.items()]
    policy = Policy(keep_last=2, keep_daily=3, keep_weekly=2, keep_monthly=2)
    selection = select_kept(snapshots, policy, utc(2026, 12, 1))
    assert selection == Selection(
        keep=("a", "b", "d", "e", "g"),
        remove=("c", "f", "h"),
        reasons={
            "a": ("last 2", "daily 2026-11-30", "weekly 2026-W49", "monthly 2026-11"),
            "b": ("last 2",),
            "d": ("daily 2026-11-29", "weekly 2026-W48"),
            "e": ("daily 2026-11-28",),
            "g": ("monthly 2026-10",),
        },
    )
    assert forget_plan(snapshots, policy, utc(2026, 12, 1)) == ["c", "f", "h"]


def test_keep_last_keeps_the_n_newest_whatever_their_buckets() -> None:
    snapshots = snaps(*(utc(2026, 11, 30, 10, minute) for minute in range(5)))
    assert kept(snapshots, keep_last=3) == ("2026-11-30T10:04", "2026-11-30T10:03", "2026-11-30T10:02")


def test_hourly_keeps_the_newest_of_each_hour_that_has_one() -> None:
    snapshots = snaps(
        utc(2026, 11, 30, 10, 59), utc(2026, 11, 30, 10), utc(2026, 11, 30, 9, 30), utc(2026, 11, 30, 6)
    )
    selection = select_kept(snapshots, Policy(keep_hourly=3), NOW)
    assert selection.keep == ("2026-11-30T10:59", "2026-11-30T09:30", "2026-11-30T06:00")
    assert selection.reasons["2026-11-30T06:00"] == ("hourly 2026-11-30T06",)  # hours 07, 08 had none


def test_daily_and_the_jakarta_day_a_2330_utc_snapshot_falls_in() -> None:
    snapshots = snaps(utc(2026, 11, 30, 23, 30), utc(2026, 11, 30, 12), utc(2026, 11, 29, 12))
    # 23:30 UTC is 06:30 on 1 December in Jakarta (UTC+7), so there it is a day of its own.
    assert kept(snapshots, keep_daily=2) == ("2026-11-30T23:30", "2026-11-29T12:00")
    in_jakarta = select_kept(snapshots, Policy(keep_daily=2), NOW, "Asia/Jakarta")
    assert in_jakarta.keep == ("2026-11-30T23:30", "2026-11-30T12:00")
    assert in_jakarta.reasons["2026-11-30T23:30"] == ("daily 2026-12-01",)


def test_weekly_uses_iso_weeks_across_the_new_year() -> None:
    # 2026 has an ISO week 53 that runs to Sunday 2027-01-03; 2024-12-31 is already in 2025-W01.
    snapshots = snaps(utc(2027, 1, 4), utc(2027, 1, 3), utc(2027, 1, 1), utc(2026, 12, 28))
    selection = select_kept(snapshots, Policy(keep_weekly=2), NOW)
    assert selection.keep == ("2027-01-04T00:00", "2027-01-03T00:00")
    assert [selection.reasons[i] for i in selection.keep] == [("weekly 2027-W01",), ("weekly 2026-W53",)]
    snapshots = snaps(utc(2025, 1, 5), utc(2024, 12, 31), utc(2024, 12, 29))
    selection = select_kept(snapshots, Policy(keep_weekly=2), NOW)
    assert selection.keep == ("2025-01-05T00:00", "2024-12-29T00:00")
    assert selection.remove == ("2024-12-31T00:00",)


def test_monthly_across_a_month_boundary() -> None:
    snapshots = snaps(utc(2028, 3, 1, 0, 30), utc(2028, 2, 29, 23, 30), utc(2028, 2, 1), utc(2028, 1, 31))
    assert kept(snapshots, now=utc(2028, 3, 2), keep_monthly=3) == (
        "2028-03-01T00:30",
        "2028-02-29T23:30",
        "2028-01-31T00:00",
    )
    # In Jakarta 29 February 23:30 UTC is already 1 March (06:30 local): February's newest is 1 February.
    assert kept(snapshots, now=utc(2028, 3, 2), tz="Asia/Jakarta", keep_monthly=3) == (
        "2028-03-01T00:30",
        "2028-02-01T00:00",
        "2028-01-31T00:00",
    )


def test_yearly() -> None:
    snapshots = snaps(utc(2026, 3, 1), utc(2025, 12, 31), utc(2025, 6, 1), utc(2024, 1, 1))
    assert kept(snapshots, keep_yearly=2) == ("2026-03-01T00:00", "2025-12-31T00:00")


def test_keep_within_counts_from_the_newest_snapshot_not_from_now() -> None:
    newest = utc(2026, 11, 1)
    snapshots = snaps(newest, newest - timedelta(days=6, hours=23), newest - timedelta(days=7))
    # A month after the last backup, the week before it is still kept; exactly 7 days older is not (restic).
    selection = select_kept(snapshots, Policy(keep_within=timedelta(days=7)), utc(2026, 12, 1))
    assert selection.keep == ("2026-11-01T00:00", "2026-10-25T01:00")
    assert selection.reasons["2026-10-25T01:00"] == ("within 7d",)
    assert selection.remove == ("2026-10-25T00:00",)


# -- the safety rules ---------------------------------------------------------------------------------


def test_failed_snapshots_are_removed_and_do_not_take_a_slot() -> None:
    good = snaps(utc(2026, 11, 29), utc(2026, 11, 28))
    failed = snaps(utc(2026, 11, 30), ok=False)
    selection = select_kept(good + failed, Policy(keep_last=1, keep_daily=2), NOW)
    assert selection.keep == ("2026-11-29T00:00", "2026-11-28T00:00")
    assert selection.remove == ("2026-11-30T00:00",)


def test_future_snapshots_are_kept_and_do_not_count() -> None:
    now = utc(2026, 11, 30, 12)
    snapshots = snaps(utc(2026, 11, 30, 13), utc(2026, 11, 30, 11), utc(2026, 11, 30, 10))
    selection = select_kept(snapshots, Policy(keep_last=1, keep_within=timedelta(minutes=30)), now)
    assert selection.keep == ("2026-11-30T13:00", "2026-11-30T11:00")
    assert selection.reasons["2026-11-30T13:00"] == ("future (clock skew)",)
    assert selection.reasons["2026-11-30T11:00"] == ("last 1", "within 30m")


def test_the_newest_successful_snapshot_is_kept_even_when_no_rule_keeps_it() -> None:
    snapshots = snaps(utc(2026, 11, 30), utc(2026, 11, 29))
    selection = select_kept(snapshots, Policy(keep_within=timedelta(0)), NOW)
    assert selection.keep == ("2026-11-30T00:00",)
    assert selection.reasons["2026-11-30T00:00"] == ("newest (always kept)",)


def test_no_rules_keeps_every_successful_snapshot() -> None:
    snapshots = snaps(utc(2026, 11, 30), utc(2026, 11, 29)) + snaps(utc(2026, 11, 28), ok=False)
    selection = select_kept(snapshots, Policy(), NOW)
    assert (selection.keep, selection.remove) == (
        ("2026-11-30T00:00", "2026-11-29T00:00"),
        ("2026-11-28T00:00",),
    )
    assert select_kept([], Policy(keep_last=1), NOW) == Selection((), (), {})


def test_equal_times_are_ordered_by_id() -> None:
    same = utc(2026, 11, 30)
    snapshots = [Snapshot("b", same, True), Snapshot("a", same, True), Snapshot("c", same, True)]
    assert select_kept(snapshots, Policy(keep_last=1), NOW).keep == ("a",)
    assert select_kept(snapshots, Policy(keep_last=1), NOW).remove == ("b", "c")


# -- the policy ---------------------------------------------------------------------------------------


def test_policy_from_spec() -> None:
    spec = RetentionPolicy.model_validate({"keep_daily": 7, "keep_weekly": 4, "keep_within": "2d"})
    assert Policy.from_spec(spec) == Policy(keep_daily=7, keep_weekly=4, keep_within=timedelta(days=2))
    assert Policy.from_spec(None) == Policy()
    assert {field.name for field in dataclasses.fields(Policy)} == set(RetentionPolicy.model_fields)


@pytest.mark.parametrize(
    ("rules", "message"),
    [({"keep_daily": 0}, "keep_daily must be at least 1"), ({"keep_within": -timedelta(1)}, "negative")],
)
def test_policy_rejects_nonsense(rules: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Policy(**rules)  # type: ignore[arg-type]


def test_naive_times_and_repeated_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        select_kept([], Policy(), datetime(2026, 11, 30))  # noqa: DTZ001
    with pytest.raises(ValueError, match="timezone-aware"):
        select_kept([Snapshot("a", datetime(2026, 11, 30), True)], Policy(), NOW)  # noqa: DTZ001
    with pytest.raises(ValueError, match="appears twice"):
        select_kept(snaps(utc(2026, 11, 30)) * 2, Policy(), NOW)


def test_public_surface() -> None:
    assert sorted(retention.__all__) == ["Policy", "Selection", "Snapshot", "forget_plan", "select_kept"]


# -- 800 days of daily backups ------------------------------------------------------------------------


def test_800_daily_backups_under_30_daily_12_weekly_12_monthly() -> None:
    # One backup a day at 01:00 Jakarta time, the newest on Wednesday 2026-07-08 (ISO 2026-W28).
    # daily 30:   2026-06-09 .. 2026-07-08                                                         = 30
    # weekly 12:  the newest of each of W28..W17 — Jul 8 (its week's newest so far), then Sundays Jul 5,
    #             Jun 28, 21, 14 (all 5 already daily), and Jun 7, May 31, 24, 17, 10, 3, Apr 26     = +7
    # monthly 12: the newest of each month 2026-07..2025-08 — Jul 8 and Jun 30 (daily), May 31 (weekly: a
    #             Sunday), and Apr 30, Mar 31, Feb 28, Jan 31, Dec 31, Nov 30, Oct 31, Sep 30, Aug 31   = +9
    # 800 days reach back to 2024-05, so every rule fills its count: 30 + 7 + 9 = 46.
    newest = datetime(2026, 7, 8, 1, tzinfo=JAKARTA)
    snapshots = [Snapshot(f"s{age:03d}", newest - timedelta(days=age), True) for age in range(800)]
    policy = Policy(keep_daily=30, keep_weekly=12, keep_monthly=12)
    selection = select_kept(snapshots, policy, datetime(2026, 7, 8, 12, tzinfo=JAKARTA), "Asia/Jakarta")
    assert len(selection.keep) == 46
    assert len(selection.remove) == 800 - 46
    assert selection.keep[-1] == "s311"  # 2025-08-31, the twelfth month
    assert selection.reasons["s038"] == ("weekly 2026-W22", "monthly 2026-05")


# -- properties ---------------------------------------------------------------------------------------

BASE = datetime(2026, 1, 1, tzinfo=UTC)
ZONES = ["UTC", "Asia/Jakarta", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]
COUNT = st.none() | st.integers(1, 12)


@st.composite
def snapshot_lists(
    draw: st.DrawFn, prefix: str = "s", ok: bool | None = None, max_size: int = 200
) -> list[Snapshot]:
    # Clustered times (a unit of a minute to a week) so buckets both collide and spread out.
    unit = draw(
        st.sampled_from([timedelta(minutes=1), timedelta(minutes=17), timedelta(hours=5), timedelta(days=3)])
    )
    offsets = draw(st.lists(st.integers(0, 400), max_size=max_size))
    flags = draw(st.lists(st.booleans(), min_size=len(offsets), max_size=len(offsets)))
    return [
        Snapshot(f"{prefix}{i}", BASE + offset * unit, flag if ok is None else ok)
        for i, (offset, flag) in enumerate(zip(offsets, flags, strict=True))
    ]


policies = st.builds(
    Policy,
    keep_last=COUNT,
    keep_hourly=COUNT,
    keep_daily=COUNT,
    keep_weekly=COUNT,
    keep_monthly=COUNT,
    keep_yearly=COUNT,
    keep_within=st.none() | st.integers(0, 2000).map(lambda hours: timedelta(hours=hours)),
)
nows = st.integers(0, 3000).map(lambda days: BASE + timedelta(days=days))
zones = st.sampled_from(ZONES)
fast = settings(max_examples=100, deadline=None)


@fast
@given(snapshot_lists(), policies, nows, zones, st.data())
def test_same_input_same_output_in_any_order(
    snapshots: list[Snapshot], policy: Policy, now: datetime, tz: str, data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(snapshots))
    assert select_kept(shuffled, policy, now, tz) == select_kept(snapshots, policy, now, tz)


@fast
@given(snapshot_lists(), policies, nows, zones)
def test_partition_newest_kept_failed_removed(
    snapshots: list[Snapshot], policy: Policy, now: datetime, tz: str
) -> None:
    selection = select_kept(snapshots, policy, now, tz)
    assert set(selection.keep) | set(selection.remove) == {s.id for s in snapshots}
    assert not set(selection.keep) & set(selection.remove)
    assert set(selection.reasons) == set(selection.keep)
    assert {s.id for s in snapshots if not s.ok} <= set(selection.remove)
    successful = [s for s in snapshots if s.ok]
    if successful:
        newest = max(s.time for s in successful)
        assert newest in {s.time for s in successful if s.id in selection.keep}
    by_id = {s.id: s for s in snapshots}
    for ids in (selection.keep, selection.remove):
        times = [by_id[i].time for i in ids]
        assert times == sorted(times, reverse=True)


@fast
@given(snapshot_lists(), policies, nows, zones)
def test_idempotent(snapshots: list[Snapshot], policy: Policy, now: datetime, tz: str) -> None:
    selection = select_kept(snapshots, policy, now, tz)
    survivors = [s for s in snapshots if s.id in selection.keep]
    again = select_kept(survivors, policy, now, tz)
    assert again.remove == ()
    assert again.keep == selection.keep


@fast
@given(
    snapshot_lists(ok=True, max_size=120), snapshot_lists("f", ok=False, max_size=80), policies, nows, zones
)
def test_failed_snapshots_never_count(
    good: list[Snapshot], failed: list[Snapshot], policy: Policy, now: datetime, tz: str
) -> None:
    alone = select_kept(good, policy, now, tz)
    mixed = select_kept(good + failed, policy, now, tz)
    assert mixed.keep == alone.keep
    assert mixed.reasons == alone.reasons
    assert set(mixed.remove) == set(alone.remove) | {s.id for s in failed}


@fast
@given(
    snapshot_lists(),
    policies,
    nows,
    zones,
    st.sampled_from([f.name for f in dataclasses.fields(Policy)]),
    st.integers(1, 10),
)
def test_raising_a_keep_number_never_drops_a_kept_snapshot(
    snapshots: list[Snapshot], policy: Policy, now: datetime, tz: str, rule: str, more: int
) -> None:
    current = getattr(policy, rule)
    # Turning a rule on from "no rules at all" would go from keep-everything to a real policy: not a raise.
    assume(current is not None or policy.has_rules)
    if rule == "keep_within":
        raised: Any = (current or timedelta(0)) + timedelta(hours=more)
    else:
        raised = (current or 0) + more
    before = select_kept(snapshots, policy, now, tz)
    after = select_kept(snapshots, dataclasses.replace(policy, **{rule: raised}), now, tz)
    assert set(before.keep) <= set(after.keep)
