"""parse_duration / format_duration: examples, errors and round-trip properties."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siaga.spec import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500ms", timedelta(milliseconds=500)),
        ("90s", timedelta(seconds=90)),
        ("10m", timedelta(minutes=10)),
        ("4h", timedelta(hours=4)),
        ("7d", timedelta(days=7)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("0s", timedelta()),
        ("1d2h3m4s5ms", timedelta(days=1, hours=2, minutes=3, seconds=4, milliseconds=5)),
    ],
)
def test_parse_examples(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("10x", "invalid duration '10x': use a number followed by ms, s, m, h or d"),
        ("", "invalid duration '': use a number followed by ms, s, m, h or d"),
        ("m", "invalid duration 'm': use a number followed by ms, s, m, h or d"),
        ("-5m", "invalid duration '-5m': use a number followed by ms, s, m, h or d"),
        ("1.5h", "invalid duration '1.5h': use a number followed by ms, s, m, h or d"),
        ("30m1h", "invalid duration '30m1h': write units largest first, each once (e.g. 1h30m)"),
        ("1h1h", "invalid duration '1h1h': write units largest first, each once (e.g. 1h30m)"),
    ],
)
def test_parse_rejects_with_one_line_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=r"^invalid duration") as caught:
        parse_duration(text)
    assert str(caught.value) == reason
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(minutes=10), "10m"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(), "0s"),
        (timedelta(hours=24), "1d"),
        (timedelta(milliseconds=1500), "1s500ms"),
    ],
)
def test_format_examples(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


def test_format_rejects_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(timedelta(seconds=-1))


@given(st.integers(min_value=0, max_value=10**12))
def test_round_trip_from_timedelta(milliseconds: int) -> None:
    value = timedelta(milliseconds=milliseconds)
    assert parse_duration(format_duration(value)) == value


_UNIT_COUNTS = st.tuples(*(st.integers(min_value=0, max_value=5000) for _ in range(5)))


@given(_UNIT_COUNTS)
def test_any_largest_first_spelling_parses_to_its_sum(counts: tuple[int, ...]) -> None:
    units = ("d", "h", "m", "s", "ms")
    text = "".join(f"{n}{u}" for n, u in zip(counts, units, strict=True) if n) or "0s"
    days, hours, minutes, seconds, millis = counts
    expected = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds, milliseconds=millis)
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@given(st.integers(min_value=0, max_value=10**12))
def test_format_is_canonical(milliseconds: int) -> None:
    text = format_duration(timedelta(milliseconds=milliseconds))
    assert format_duration(parse_duration(text)) == text
