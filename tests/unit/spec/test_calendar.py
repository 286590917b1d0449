"""Maintenance phrases, cron expressions and rotation hand-offs."""

from __future__ import annotations

from datetime import time

import pytest

from siaga.spec import parse_recurrence, validate_cron
from siaga.spec.calendar import parse_handoff


@pytest.mark.parametrize(
    ("phrase", "frequency", "ordinal", "weekday", "start", "end"),
    [
        ("first sunday of month 02:00-04:00", "monthly", "first", 6, time(2), time(4)),
        ("every day 01:00-01:30", "daily", None, None, time(1), time(1, 30)),
        ("every saturday 22:00-23:00", "weekly", None, 5, time(22), time(23)),
        ("last friday of month 20:00-22:00", "monthly", "last", 4, time(20), time(22)),
        ("Second Tuesday of the month 9:00 - 10:00", "monthly", "second", 1, time(9), time(10)),
        ("daily 23:30-00:30", "daily", None, None, time(23, 30), time(0, 30)),
    ],
)
def test_phrases(
    phrase: str, frequency: str, ordinal: str | None, weekday: int | None, start: time, end: time
) -> None:
    parsed = parse_recurrence(phrase)
    assert (parsed.frequency, parsed.ordinal, parsed.weekday, parsed.start, parsed.end) == (
        frequency,
        ordinal,
        weekday,
        start,
        end,
    )
    assert parsed.text == phrase


@pytest.mark.parametrize(
    "phrase",
    [
        "fifth sunday of month 02:00-04:00",
        "every funday 01:00-02:00",
        "every day 25:00-26:00",
        "every day 01:00",
    ],
)
def test_bad_phrases(phrase: str) -> None:
    with pytest.raises(ValueError, match="cannot read maintenance phrase"):
        parse_recurrence(phrase)


def test_empty_window() -> None:
    with pytest.raises(ValueError, match="empty window"):
        parse_recurrence("every day 01:00-01:00")


@pytest.mark.parametrize("cron", ["0 2 * * 0", "*/15 * * * *", "0 2 1-7 * sun", "30 1 * jan,jul mon-fri"])
def test_good_cron(cron: str) -> None:
    assert validate_cron(cron) == cron


@pytest.mark.parametrize(
    ("cron", "reason"),
    [
        ("0 2 * *", "expected 5 fields"),
        ("0 24 * * *", "bad hour field '24'"),
        ("0 0 0 * *", "bad day of month field '0'"),
        ("*/0 * * * *", "bad minute field '\\*/0'"),
        ("0 0 * foo *", "bad month field 'foo'"),
    ],
)
def test_bad_cron(cron: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validate_cron(cron)


def test_handoffs() -> None:
    assert parse_handoff("monday 09:00", "weekly") == (0, time(9))
    assert parse_handoff("09:00", "daily") == (None, time(9))
    assert parse_handoff("friday 17:30", "custom") == (4, time(17, 30))
    with pytest.raises(ValueError, match="for a daily rotation"):
        parse_handoff("monday 09:00", "daily")
    with pytest.raises(ValueError, match="for a weekly rotation"):
        parse_handoff("noon", "weekly")
