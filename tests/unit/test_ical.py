"""The on-call iCalendar feed: parses back, one event per shift, the same bytes for the same input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar

from siaga.domain import oncall
from siaga.integrations.ical import schedule_ical
from siaga.spec.models import Schedule

GENERATED_AT = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
LUXIMA = oncall.Rotation.from_spec(
    "devops", Schedule(rotation="weekly", handoff="monday 09:00", members=["andi", "budi"]), "Asia/Jakarta"
)
COVER = oncall.Override(
    7, "devops", "cto", datetime(2026, 1, 14, 2, tzinfo=UTC), datetime(2026, 1, 15, 2, tzinfo=UTC)
)
SHIFTS = oncall.shifts(LUXIMA, [COVER], GENERATED_AT, GENERATED_AT + timedelta(days=21))


def test_feed_parses_back_with_one_event_per_shift() -> None:
    feed = Calendar.from_ical(
        schedule_ical("devops", SHIFTS, project="luxima-core", generated_at=GENERATED_AT)
    )
    assert str(feed["prodid"]) == "-//Siaga//on-call//EN"
    assert str(feed["x-wr-calname"]) == "On call: devops (luxima-core)"
    events = feed.walk("VEVENT")
    assert len(events) == len(SHIFTS) == 6
    for event, shift in zip(events, SHIFTS, strict=True):
        assert event.decoded("dtstart") == shift.starts_at
        assert event.decoded("dtend") == shift.ends_at
        assert event.decoded("dtstamp") == GENERATED_AT
        assert str(event["summary"]) == f"On call: {shift.person} (devops)"
        assert str(event["uid"]) == f"devops-{shift.starts_at:%Y%m%dT%H%M%SZ}@siaga"
        assert ("Override" in str(event["description"])) == shift.override
    assert [str(e["summary"]) for e in events] == [
        "On call: budi (devops)",
        "On call: andi (devops)",
        "On call: cto (devops)",
        "On call: andi (devops)",
        "On call: budi (devops)",
        "On call: andi (devops)",
    ]


def test_times_are_written_in_utc() -> None:
    text = schedule_ical("devops", SHIFTS[:1], project="luxima-core", generated_at=GENERATED_AT).decode()
    assert "DTSTART:20260105T080000Z" in text
    assert "DTEND:20260112T020000Z" in text
    assert "UID:devops-20260105T080000Z@siaga" in text


def test_same_input_same_bytes() -> None:
    first = schedule_ical("devops", SHIFTS, project="luxima-core", generated_at=GENERATED_AT)
    assert schedule_ical("devops", list(SHIFTS), project="luxima-core", generated_at=GENERATED_AT) == first


def test_an_empty_schedule_is_a_valid_calendar() -> None:
    feed = Calendar.from_ical(schedule_ical("devops", [], project="luxima-core", generated_at=GENERATED_AT))
    assert feed.walk("VEVENT") == []
