"""On-call shifts as an iCalendar feed (RFC 5545), for calendar apps."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from icalendar import Calendar, Event

from siaga.domain.oncall import Shift


def schedule_ical(name: str, shifts: Sequence[Shift], *, project: str, generated_at: datetime) -> bytes:
    """One VEVENT per shift; the same input gives the same bytes (DTSTAMP is ``generated_at``)."""
    feed = Calendar()
    feed.add("prodid", "-//Siaga//on-call//EN")
    feed.add("version", "2.0")
    feed.add("x-wr-calname", f"On call: {name} ({project})")
    for shift in shifts:
        event = Event()
        event.add("uid", f"{name}-{shift.starts_at:%Y%m%dT%H%M%SZ}@siaga")
        event.add("dtstamp", generated_at)
        event.add("dtstart", shift.starts_at)
        event.add("dtend", shift.ends_at)
        event.add("summary", f"On call: {shift.person} ({name})")
        if shift.override:
            event.add("description", "An override replaces the rotation for this shift.")
        feed.add_component(event)
    return bytes(feed.to_ical())
