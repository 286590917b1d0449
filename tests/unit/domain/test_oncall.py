"""On-call rotations: hand-offs on the local wall clock, overrides, and the shift arithmetic's invariants."""

from __future__ import annotations

import itertools
import random
import time as stopwatch
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siaga.domain.oncall import (
    DEFAULT_START,
    HORIZON,
    Override,
    Rotation,
    Shift,
    next_handoff,
    on_call,
    shifts,
    wall_time_to_utc,
)
from siaga.spec.models import Schedule

JAKARTA = ZoneInfo("Asia/Jakarta")
BERLIN = ZoneInfo("Europe/Berlin")
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
LUXIMA = Rotation.from_spec(
    "devops", Schedule(rotation="weekly", handoff="monday 09:00", members=["andi", "budi"]), "Asia/Jakarta"
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def rotation(
    kind: str = "daily", members: tuple[str, ...] = ("ana", "bo", "cy"), **fields: object
) -> Rotation:
    values: dict[str, object] = {
        "name": "ops",
        "kind": kind,
        "members": members,
        "handoff_weekday": 0 if kind == "weekly" else None,
        "handoff_time": time(9),
        "shift_length": timedelta(hours=12) if kind == "custom" else None,
        "tz": ZoneInfo("UTC"),
    }
    return Rotation(**{**values, **fields})  # type: ignore[arg-type]


def override(person: str, starts_at: datetime, ends_at: datetime, id: int | None = 1) -> Override:
    return Override(id, "ops", person, starts_at, ends_at, created_by="test")


# -- the Luxima schedule ------------------------------------------------------------------------------


def test_luxima_weekly_monday_0900_jakarta() -> None:
    assert (LUXIMA.kind, LUXIMA.members, LUXIMA.handoff_weekday) == ("weekly", ("andi", "budi"), 0)
    assert (LUXIMA.handoff_time, LUXIMA.tz.key, LUXIMA.start) == (time(9), "Asia/Jakarta", date(2024, 1, 1))
    # 2026-01-05 is a Monday, 105 weeks after 2024-01-01: the 106th shift, budi's. 09:00 WIB is 02:00 UTC.
    current = on_call(LUXIMA, [], utc(2026, 1, 5, 8))
    assert current == Shift("budi", utc(2026, 1, 5, 2), utc(2026, 1, 12, 2), override=False)
    assert on_call(LUXIMA, [], utc(2026, 1, 5, 1, 59, 59)).person == "andi"
    assert next_handoff(LUXIMA, [], utc(2026, 1, 5, 8)) == Shift(
        "andi", utc(2026, 1, 12, 2), utc(2026, 1, 19, 2), override=False
    )


def test_luxima_first_shift_is_andis_from_the_default_start() -> None:
    assert DEFAULT_START.weekday() == 0
    assert on_call(LUXIMA, [], utc(2024, 1, 1, 2)).starts_at == utc(2024, 1, 1, 2)
    assert on_call(LUXIMA, [], utc(2024, 1, 1, 2)).person == "andi"
    assert (
        on_call(LUXIMA, [], utc(2024, 1, 1, 1)).person == "budi"
    )  # before the start, the rotation runs back


def test_jakarta_hand_offs_are_always_0200_utc() -> None:
    found = shifts(LUXIMA, [], utc(2024, 1, 1, 2), utc(2025, 1, 6, 2))
    assert len(found) == 53
    assert {(s.starts_at.weekday(), s.starts_at.time()) for s in found} == {(0, time(2))}
    assert [s.person for s in found[:4]] == ["andi", "budi", "andi", "budi"]


def test_from_spec_reads_zone_start_and_custom_length() -> None:
    schedule = Schedule(
        rotation="custom",
        shift_length="12h",  # type: ignore[arg-type]
        handoff="08:00",
        timezone="Europe/Berlin",
        members=["ana", "bo"],
        start=date(2025, 6, 2),
    )
    built = Rotation.from_spec("ops", schedule, "Asia/Jakarta")
    assert (built.tz.key, built.start, built.shift_length, built.handoff_weekday) == (
        "Europe/Berlin",
        date(2025, 6, 2),
        timedelta(hours=12),
        None,
    )
    assert on_call(built, [], utc(2025, 6, 2, 6)).person == "ana"  # 08:00 CEST
    assert on_call(built, [], utc(2025, 6, 2, 18)).person == "bo"  # 20:00 CEST


# -- rotation kinds -----------------------------------------------------------------------------------


def test_daily_rotation_one_day_each_in_order() -> None:
    daily = rotation("daily", start=date(2025, 3, 10))
    found = shifts(daily, [], utc(2025, 3, 10, 9), utc(2025, 3, 14, 9))
    assert [(s.person, s.starts_at.day) for s in found] == [("ana", 10), ("bo", 11), ("cy", 12), ("ana", 13)]
    assert all(s.ends_at - s.starts_at == DAY for s in found)


def test_shifts_are_clipped_to_the_range() -> None:
    daily = rotation("daily", start=date(2025, 3, 10))
    found = shifts(daily, [], utc(2025, 3, 10, 12), utc(2025, 3, 11, 10))
    assert found == [
        Shift("ana", utc(2025, 3, 10, 12), utc(2025, 3, 11, 9), False),
        Shift("bo", utc(2025, 3, 11, 9), utc(2025, 3, 11, 10), False),
    ]
    assert shifts(daily, [], utc(2025, 3, 11), utc(2025, 3, 11)) == []


def test_weekly_first_hand_off_is_the_weekday_on_or_after_start() -> None:
    weekly = rotation("weekly", members=("ana", "bo"), start=date(2025, 1, 1))  # a Wednesday
    assert on_call(weekly, [], utc(2025, 1, 6, 9)).person == "ana"  # Monday 6th: the first hand-off
    assert on_call(weekly, [], utc(2025, 1, 13, 9)).person == "bo"
    assert on_call(weekly, [], utc(2025, 1, 2)).person == "bo"  # before it: the previous turn


def test_custom_rotation_advances_by_shift_length_from_start() -> None:
    custom = rotation(
        "custom", shift_length=timedelta(hours=36), handoff_time=time(6), start=date(2025, 5, 1)
    )
    found = shifts(custom, [], utc(2025, 5, 1, 6), utc(2025, 5, 5, 18))
    assert [(s.person, s.starts_at) for s in found] == [
        ("ana", utc(2025, 5, 1, 6)),
        ("bo", utc(2025, 5, 2, 18)),
        ("cy", utc(2025, 5, 4, 6)),
    ]


def test_custom_rotation_may_name_a_weekday() -> None:
    custom = rotation("custom", shift_length=timedelta(days=14), handoff_weekday=4, start=date(2025, 5, 1))
    assert on_call(custom, [], utc(2025, 5, 2, 9)).starts_at == utc(2025, 5, 2, 9)  # Friday the 2nd


def test_repeated_members_merge_into_one_shift() -> None:
    doubled = rotation("daily", members=("ana", "ana", "bo"), start=date(2025, 1, 1))
    current = on_call(doubled, [], utc(2025, 1, 1, 12))
    assert current == Shift("ana", utc(2025, 1, 1, 9), utc(2025, 1, 3, 9), False)
    assert next_handoff(doubled, [], utc(2025, 1, 1, 12)).person == "bo"


def test_a_rotation_of_one_never_hands_off() -> None:
    alone = rotation("daily", members=("ana",))
    current = on_call(alone, [], utc(2025, 1, 1, 12))
    assert current.person == "ana"
    assert current.starts_at <= utc(2025, 1, 1, 12) - HORIZON
    assert current.ends_at >= utc(2025, 1, 1, 12) + HORIZON
    assert next_handoff(alone, [], utc(2025, 1, 1, 12)) == current
    assert shifts(alone, [], utc(2020, 1, 1), utc(2030, 1, 1)) == [
        Shift("ana", utc(2020, 1, 1), utc(2030, 1, 1), False)
    ]


def test_invalid_rotations_and_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="no members"):
        rotation(members=())
    with pytest.raises(ValueError, match="positive shift_length"):
        rotation("custom", shift_length=None)
    with pytest.raises(ValueError, match="weekday"):
        rotation("weekly", handoff_weekday=None)
    with pytest.raises(ValueError, match="naive"):
        on_call(LUXIMA, [], datetime(2025, 1, 1))  # noqa: DTZ001 - the point of the test


# -- daylight saving ----------------------------------------------------------------------------------


def test_berlin_weekly_hand_off_stays_0900_local_across_both_changes() -> None:
    weekly = rotation("weekly", members=("ana", "bo"), tz=BERLIN)
    found = shifts(weekly, [], utc(2024, 3, 4, 8), utc(2024, 11, 4, 8))  # Mondays, 09:00 CET
    local = [s.starts_at.astimezone(BERLIN) for s in found]
    assert {(t.weekday(), t.time()) for t in local} == {(0, time(9))}
    by_start = {s.starts_at.date(): s for s in found}
    # Clocks go forward on Sunday 31 March: that week's shift is an hour short, the next starts 07:00 UTC.
    assert by_start[date(2024, 3, 25)].ends_at - by_start[date(2024, 3, 25)].starts_at == 7 * DAY - HOUR
    assert by_start[date(2024, 4, 1)].starts_at == utc(2024, 4, 1, 7)
    # And back on Sunday 27 October: an hour long, then 08:00 UTC again.
    assert by_start[date(2024, 10, 21)].ends_at - by_start[date(2024, 10, 21)].starts_at == 7 * DAY + HOUR
    assert by_start[date(2024, 10, 28)].starts_at == utc(2024, 10, 28, 8)


def test_custom_twelve_hour_hand_offs_stay_on_the_wall_clock() -> None:
    custom = rotation("custom", members=("day", "night"), tz=BERLIN, handoff_time=time(8))
    found = shifts(custom, [], utc(2024, 3, 29, 7), utc(2024, 4, 2, 6))
    assert {s.starts_at.astimezone(BERLIN).time() for s in found} == {time(8), time(20)}
    assert all(s.person == ("day" if s.starts_at.astimezone(BERLIN).hour == 8 else "night") for s in found)


def test_wall_times_the_clocks_skip_or_repeat() -> None:
    def wall(*args: int) -> datetime:
        return datetime(*args)  # type: ignore[misc]  # noqa: DTZ001 - a wall-clock reading is naive

    assert wall_time_to_utc(wall(2024, 3, 31, 2, 30), BERLIN) == utc(2024, 3, 31, 1)  # at the change
    assert wall_time_to_utc(wall(2024, 10, 27, 2, 30), BERLIN) == utc(2024, 10, 27, 0, 30)  # the first
    assert wall_time_to_utc(wall(2024, 7, 1, 9), BERLIN) == utc(2024, 7, 1, 7)


def test_a_hand_off_in_the_skipped_hour_happens_at_the_change() -> None:
    daily = rotation("daily", tz=BERLIN, handoff_time=time(2, 30))
    assert on_call(daily, [], utc(2024, 3, 31, 1)).starts_at == utc(2024, 3, 31, 1)
    assert on_call(daily, [], utc(2024, 3, 31, 0, 59)).ends_at == utc(2024, 3, 31, 1)


# -- overrides ----------------------------------------------------------------------------------------


def test_single_override_cuts_into_a_shift() -> None:
    daily = rotation("daily", start=date(2025, 1, 1))
    cover = override("zed", utc(2025, 1, 1, 12), utc(2025, 1, 1, 15))
    assert shifts(daily, [cover], utc(2025, 1, 1, 9), utc(2025, 1, 2, 9)) == [
        Shift("ana", utc(2025, 1, 1, 9), utc(2025, 1, 1, 12), False),
        Shift("zed", utc(2025, 1, 1, 12), utc(2025, 1, 1, 15), True),
        Shift("ana", utc(2025, 1, 1, 15), utc(2025, 1, 2, 9), False),
    ]
    assert on_call(daily, [cover], utc(2025, 1, 1, 13)) == Shift(
        "zed", utc(2025, 1, 1, 12), utc(2025, 1, 1, 15), True
    )
    assert on_call(daily, [cover], utc(2025, 1, 1, 10)).ends_at == utc(2025, 1, 1, 12)
    assert next_handoff(daily, [cover], utc(2025, 1, 1, 10)).person == "zed"
    assert next_handoff(daily, [cover], utc(2025, 1, 1, 13)) == Shift(
        "ana", utc(2025, 1, 1, 15), utc(2025, 1, 2, 9), False
    )


def test_later_created_override_wins_where_they_overlap() -> None:
    daily = rotation("daily", start=date(2025, 1, 1))
    first = override("yan", utc(2025, 1, 1, 10), utc(2025, 1, 1, 16), id=1)
    later = override("zed", utc(2025, 1, 1, 12), utc(2025, 1, 1, 14), id=2)
    expected = [
        Shift("ana", utc(2025, 1, 1, 9), utc(2025, 1, 1, 10), False),
        Shift("yan", utc(2025, 1, 1, 10), utc(2025, 1, 1, 12), True),
        Shift("zed", utc(2025, 1, 1, 12), utc(2025, 1, 1, 14), True),
        Shift("yan", utc(2025, 1, 1, 14), utc(2025, 1, 1, 16), True),
        Shift("ana", utc(2025, 1, 1, 16), utc(2025, 1, 2, 9), False),
    ]
    for given_order in ([first, later], [later, first]):
        assert shifts(daily, given_order, utc(2025, 1, 1, 9), utc(2025, 1, 2, 9)) == expected
    unsaved = override("xi", utc(2025, 1, 1, 11), utc(2025, 1, 1, 13), id=None)
    assert on_call(daily, [unsaved, later, first], utc(2025, 1, 1, 12, 30)).person == "xi"


def test_override_spanning_a_hand_off() -> None:
    daily = rotation("daily", start=date(2025, 1, 1))
    cover = override("zed", utc(2025, 1, 2, 6), utc(2025, 1, 2, 12))
    assert shifts(daily, [cover], utc(2025, 1, 1, 9), utc(2025, 1, 3, 9)) == [
        Shift("ana", utc(2025, 1, 1, 9), utc(2025, 1, 2, 6), False),
        Shift("zed", utc(2025, 1, 2, 6), utc(2025, 1, 2, 12), True),
        Shift("bo", utc(2025, 1, 2, 12), utc(2025, 1, 3, 9), False),
    ]
    assert next_handoff(daily, [cover], utc(2025, 1, 2, 7)).person == "bo"


def test_adjacent_overrides_of_one_person_merge_but_not_with_the_rotation() -> None:
    daily = rotation("daily", start=date(2025, 1, 1))
    covers = [
        override("zed", utc(2025, 1, 1, 12), utc(2025, 1, 1, 18), id=1),
        override("zed", utc(2025, 1, 1, 18), utc(2025, 1, 2, 3), id=2),
        override("bo", utc(2025, 1, 2, 3), utc(2025, 1, 2, 9), id=3),
    ]
    assert on_call(daily, covers, utc(2025, 1, 1, 20)) == Shift(
        "zed", utc(2025, 1, 1, 12), utc(2025, 1, 2, 3), True
    )
    # bo covers the night before his own shift: two shifts (how he got there differs), one hand-off.
    assert on_call(daily, covers, utc(2025, 1, 2, 4)) == Shift(
        "bo", utc(2025, 1, 2, 3), utc(2025, 1, 2, 9), True
    )
    assert next_handoff(daily, covers, utc(2025, 1, 2, 4)).person == "cy"


def test_overrides_of_other_schedules_and_empty_ones_are_ignored() -> None:
    daily = rotation("daily", start=date(2025, 1, 1))
    others = [
        Override(1, "db", "zed", utc(2025, 1, 1, 10), utc(2025, 1, 1, 12)),
        override("zed", utc(2025, 1, 1, 12), utc(2025, 1, 1, 12)),
    ]
    assert shifts(daily, others, utc(2025, 1, 1, 9), utc(2025, 1, 2, 9)) == [
        Shift("ana", utc(2025, 1, 1, 9), utc(2025, 1, 2, 9), False)
    ]
    assert on_call(daily, others, utc(2025, 1, 1, 11)).person == "ana"


def test_overrides_in_another_zone_come_back_in_utc() -> None:
    daily = rotation("daily", start=date(2025, 1, 1))
    cover = override(
        "zed", datetime(2025, 1, 1, 19, tzinfo=JAKARTA), datetime(2025, 1, 1, 20, tzinfo=JAKARTA)
    )
    found = on_call(daily, [cover], utc(2025, 1, 1, 12, 30))
    assert found == Shift("zed", utc(2025, 1, 1, 12), utc(2025, 1, 1, 13), True)
    assert found.starts_at.tzinfo is UTC


# -- speed --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("members", [("andi", "budi"), ("solo",)])
def test_ten_thousand_lookups_take_well_under_a_second(members: tuple[str, ...]) -> None:
    weekly = rotation("weekly", members=members, tz=BERLIN)
    rng = random.Random(7)
    instants = [utc(2000, 1, 1) + timedelta(seconds=rng.randrange(40 * 365 * 86400)) for _ in range(10_000)]
    began = stopwatch.perf_counter()
    for at in instants:
        on_call(weekly, [], at)
    assert stopwatch.perf_counter() - began < 1.0


# -- properties ---------------------------------------------------------------------------------------

ZONES = st.sampled_from(["UTC", "Asia/Jakarta", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])
# Hypothesis takes naive bounds and attaches the zone itself.
INSTANTS = st.datetimes(
    min_value=datetime(2023, 1, 1),  # noqa: DTZ001
    max_value=datetime(2027, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@st.composite
def rotations(
    draw: st.DrawFn, distinct: bool = False, min_length: timedelta = timedelta(minutes=15)
) -> Rotation:
    kind = draw(st.sampled_from(["daily", "weekly", "custom"]))
    names = st.sampled_from(["ana", "bo", "cy", "di"])
    # Distinct members (at least two) never merge into one shift: their turns can be counted.
    members = draw(st.lists(names, min_size=2 if distinct else 1, max_size=4, unique=distinct))
    return Rotation(
        name="ops",
        kind=kind,
        members=tuple(members),
        handoff_weekday=draw(st.integers(0, 6)) if kind == "weekly" else None,
        handoff_time=draw(st.times()).replace(microsecond=0),
        shift_length=draw(st.timedeltas(min_length, timedelta(days=10))) if kind == "custom" else None,
        tz=ZoneInfo(draw(ZONES)),
        start=draw(st.dates(date(2022, 1, 1), date(2027, 1, 1))),
    )


@st.composite
def ranges(draw: st.DrawFn) -> tuple[datetime, datetime]:
    start = draw(INSTANTS)
    return start, start + draw(st.timedeltas(timedelta(seconds=1), timedelta(days=60)))


@st.composite
def override_lists(draw: st.DrawFn, start: datetime, end: datetime) -> list[Override]:
    found = []
    for id in draw(st.permutations(range(draw(st.integers(0, 5))))):
        begins = start + draw(st.timedeltas(-DAY, end - start))
        found.append(
            override(
                draw(st.sampled_from(["zed", "ana", "bo"])),
                begins,
                begins + draw(st.timedeltas(HOUR, 9 * DAY)),
                id,
            )
        )
    return found


def _containing(found: list[Shift], at: datetime) -> Shift:
    return next(s for s in found if s.starts_at <= at < s.ends_at)


@settings(max_examples=200)
@given(rot=rotations(), span=ranges(), data=st.data())
def test_shifts_cover_the_range_exactly(
    rot: Rotation, span: tuple[datetime, datetime], data: st.DataObject
) -> None:
    start, end = span
    found = shifts(rot, data.draw(override_lists(start, end)), start, end)
    assert found[0].starts_at == start
    assert found[-1].ends_at == end
    for before, after in itertools.pairwise(found):
        assert before.ends_at == after.starts_at
        assert (before.person, before.override) != (after.person, after.override)
    assert all(s.starts_at < s.ends_at and s.starts_at.tzinfo is UTC for s in found)


@settings(max_examples=200)
@given(rot=rotations(), span=ranges(), data=st.data())
def test_on_call_is_the_shift_containing_the_instant(
    rot: Rotation, span: tuple[datetime, datetime], data: st.DataObject
) -> None:
    start, end = span
    overrides = data.draw(override_lists(start, end))
    at = start + data.draw(st.timedeltas(timedelta(0), end - start - timedelta(microseconds=1)))
    current = on_call(rot, overrides, at)
    clipped = Shift(
        current.person, max(current.starts_at, start), min(current.ends_at, end), current.override
    )
    assert clipped == _containing(shifts(rot, overrides, start, end), at)
    # Precedence: the latest-created override covering the instant decides, else the rotation.
    covering = [o for o in overrides if o.starts_at <= at < o.ends_at]
    expected = max(covering, key=lambda o: o.id or 0).person if covering else rot.member(rot.index_at(at))
    assert current.person == expected


@settings(max_examples=100)
@given(rot=rotations(), at=INSTANTS, data=st.data())
def test_next_handoff_is_the_first_other_person(rot: Rotation, at: datetime, data: st.DataObject) -> None:
    overrides = data.draw(override_lists(at, at + 14 * DAY))
    current, following = on_call(rot, overrides, at), next_handoff(rot, overrides, at)
    if following == current:
        assert len(set(rot.members)) == 1
        return
    assert following.person != current.person
    assert {s.person for s in shifts(rot, overrides, current.starts_at, following.starts_at)} == {
        current.person
    }
    assert on_call(rot, overrides, following.starts_at) == following


@given(
    rot=rotations(distinct=True, min_length=2 * HOUR), first=st.integers(-500, 500), cycles=st.integers(1, 4)
)
def test_members_get_equal_turns_over_whole_cycles(rot: Rotation, first: int, cycles: int) -> None:
    start, end = rot.boundary(first), rot.boundary(first + cycles * len(rot.members))
    turns = Counter(s.person for s in shifts(rot, [], start, end))
    assert turns == dict.fromkeys(rot.members, cycles)
