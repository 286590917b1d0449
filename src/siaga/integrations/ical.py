"""On-call shifts as an iCalendar feed (RFC 5545) that calendar apps can subscribe to."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from icalendar import Calendar, Event

from siaga.domain.oncall import Shift

PRODID = "-//Siaga//on-call//EN"


def schedule_ical(name: str, shifts: Sequence[Shift], *, project: str, generated_at: datetime) -> bytes:
    """Given a schedule's name and shifts, return a VCALENDAR with one VEVENT per shift, times in UTC.

    The same input gives the same bytes: DTSTAMP is ``generated_at`` and UIDs derive from the shift start.
    """
    feed = Calendar()
    feed.add("prodid", PRODID)
    feed.add("version", "2.0")
    feed.add("calscale", "GREGORIAN")
    feed.add("method", "PUBLISH")
    feed.add("x-wr-calname", f"On call: {name} ({project})")
    stamp = generated_at.astimezone(UTC)
    for shift in shifts:
        starts_at, ends_at = shift.starts_at.astimezone(UTC), shift.ends_at.astimezone(UTC)
        event = Event()
        event.add("uid", f"{name}-{starts_at:%Y%m%dT%H%M%SZ}@siaga")
        event.add("dtstamp", stamp)
        event.add("dtstart", starts_at)
        event.add("dtend", ends_at)
        event.add("summary", f"On call: {shift.person} ({name})")
        if shift.override:
            description = f"Override: {shift.person} covers {name} ({project}) in place of the rotation."
        else:
            description = f"{shift.person} is on call for {name} ({project}) by rotation."
        event.add("description", description)
        feed.add_component(event)
    return bytes(feed.to_ical())
