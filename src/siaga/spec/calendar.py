"""Calendar text in the spec: maintenance phrases, cron expressions, rotation hand-offs, time zones.

Each parser is given the text and returns a structured value, or raises ValueError with a one-line reason.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ORDINALS = ("first", "second", "third", "fourth", "last")
_DAY = "|".join(WEEKDAYS)
_CLOCK = r"([01]?\d|2[0-3]):([0-5]\d)"
_RANGE = rf"{_CLOCK}\s*-\s*{_CLOCK}"
_DAILY = re.compile(rf"^(?:every\s+day|daily)\s+{_RANGE}$")
_WEEKLY = re.compile(rf"^every\s+({_DAY})\s+{_RANGE}$")
_MONTHLY = re.compile(rf"^({'|'.join(ORDINALS)})\s+({_DAY})\s+of\s+(?:the\s+)?month\s+{_RANGE}$")
PHRASE_FORMS = (
    "'every day HH:MM-HH:MM', 'every <weekday> HH:MM-HH:MM' "
    "or '<first|second|third|fourth|last> <weekday> of month HH:MM-HH:MM'"
)


class Recurrence(BaseModel):
    """A maintenance phrase parsed: when the window recurs and its start/end clock times (local)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    frequency: Literal["daily", "weekly", "monthly"] = Field(description="How often the window recurs.")
    weekday: int | None = Field(None, description="0 = Monday … 6 = Sunday; None for daily windows.")
    ordinal: Literal["first", "second", "third", "fourth", "last"] | None = Field(
        None, description="Which weekday of the month, for monthly windows."
    )
    start: time = Field(description="Local start time.")
    end: time = Field(description="Local end time; earlier than start means the window crosses midnight.")
    text: str = Field(description="The phrase as written.")


def _clock(hour: str, minute: str) -> time:
    return time(int(hour), int(minute))


def parse_recurrence(text: str) -> Recurrence:
    """Given a phrase such as ``"first sunday of month 02:00-04:00"``, return its Recurrence."""
    phrase = " ".join(text.lower().split())
    fields: dict[str, Any]
    if match := _DAILY.match(phrase):
        h1, m1, h2, m2 = match.groups()
        fields = {"frequency": "daily"}
    elif match := _WEEKLY.match(phrase):
        day, h1, m1, h2, m2 = match.groups()
        fields = {"frequency": "weekly", "weekday": WEEKDAYS.index(day)}
    elif match := _MONTHLY.match(phrase):
        ordinal, day, h1, m1, h2, m2 = match.groups()
        fields = {"frequency": "monthly", "weekday": WEEKDAYS.index(day), "ordinal": ordinal}
    else:
        raise ValueError(f"cannot read maintenance phrase '{text}': write {PHRASE_FORMS}")
    start, end = _clock(h1, m1), _clock(h2, m2)
    if start == end:
        raise ValueError(
            f"maintenance phrase '{text}' has an empty window: start and end are both {start:%H:%M}"
        )
    return Recurrence(start=start, end=end, text=text, **fields)


def _recurrence_or_text(value: Any) -> Any:
    return parse_recurrence(value) if isinstance(value, str) else value


RecurrenceText = Annotated[
    Recurrence,
    BeforeValidator(_recurrence_or_text),
    PlainSerializer(lambda r: r.text, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "examples": ["first sunday of month 02:00-04:00", "every day 01:00-01:30"]}
    ),
]

_CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    ("day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
_CRON_ITEM = re.compile(r"^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(\d+))?$")


def _cron_number(token: str, low: int, names: tuple[str, ...]) -> int:
    if token in names:
        return names.index(token) + low
    if not token.isdigit():
        raise ValueError(token)
    return int(token)


def validate_cron(text: str) -> str:
    """Given a 5-field cron expression, return it unchanged; raise ValueError naming the bad field."""
    fields = text.lower().split()
    if len(fields) != 5:
        raise ValueError(
            f"invalid cron '{text}': expected 5 fields (minute hour day-of-month month day-of-week)"
        )
    for field, (label, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for item in field.split(","):
            match = _CRON_ITEM.match(item)
            try:
                if not match or (match.group(2) is not None and int(match.group(2)) == 0):
                    raise ValueError(item)
                if match.group(1) != "*":
                    for bound in match.group(1).split("-"):
                        if not low <= _cron_number(bound, low, names) <= high:
                            raise ValueError(item)
            except ValueError:
                raise ValueError(
                    f"invalid cron '{text}': bad {label} field '{field}' (allowed {low}-{high})"
                ) from None
    return text


def parse_handoff(text: str, rotation: str) -> tuple[int | None, time]:
    """Given a hand-off (``"monday 09:00"`` weekly, ``"09:00"`` daily) return (weekday or None, time).

    A custom rotation accepts either form.
    """
    parts = text.lower().split()
    day: int | None = None
    if len(parts) == 2 and parts[0] in WEEKDAYS:
        day = WEEKDAYS.index(parts[0])
        parts = parts[1:]
    clock = re.fullmatch(_CLOCK, parts[0]) if len(parts) == 1 else None
    wanted = {"weekly": "'<weekday> HH:MM', e.g. 'monday 09:00'", "daily": "'HH:MM', e.g. '09:00'"}
    if clock is None or (rotation == "weekly" and day is None) or (rotation == "daily" and day is not None):
        form = wanted.get(rotation, "'HH:MM' or '<weekday> HH:MM'")
        raise ValueError(f"invalid hand-off '{text}' for a {rotation} rotation: write {form}")
    return day, _clock(*clock.groups())


def validate_timezone(name: str) -> str:
    """Given an IANA zone name (``Asia/Jakarta``), return it; raise ValueError if the zone is unknown."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone '{name}': use an IANA name such as 'Asia/Jakarta' or 'UTC'"
        ) from None
    return name


TimeZoneName = Annotated[str, AfterValidator(validate_timezone)]
CronText = Annotated[str, AfterValidator(validate_cron)]
