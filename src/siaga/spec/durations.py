"""Durations as people write them: ``500ms``, ``90s``, ``10m``, ``4h``, ``7d``, ``1h30m``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNITS: dict[str, timedelta] = {
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
}
_ORDER = list(_UNITS)
_PART = re.compile(r"(\d+)(ms|d|h|m|s)")
_PATTERN = r"^(\d+(ms|d|h|m|s))+$"
_HINT = "use a number followed by ms, s, m, h or d"


def parse_duration(text: str) -> timedelta:
    """Given ``"1h30m"``-style text, return the timedelta; raise ValueError with a one-line reason."""
    value = text.strip()
    if not value:
        raise ValueError(f"invalid duration '': {_HINT}")
    total = timedelta()
    position = 0
    last_rank = -1
    for match in _PART.finditer(value):
        if match.start() != position:
            break
        rank = _ORDER.index(match.group(2))
        if rank <= last_rank:
            raise ValueError(f"invalid duration '{text}': write units largest first, each once (e.g. 1h30m)")
        last_rank = rank
        total += int(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(value):
        raise ValueError(f"invalid duration '{text}': {_HINT}")
    return total


def format_duration(value: timedelta) -> str:
    """Given a non-negative timedelta, return its shortest spelling (``"10m"``, ``"1h30m"``, ``"0s"``).

    Sub-millisecond parts are dropped; a negative value raises ValueError.
    """
    if value < timedelta():
        raise ValueError(f"cannot format a negative duration: {value}")
    remaining = value // timedelta(milliseconds=1)
    parts = []
    for unit in _ORDER:
        size = _UNITS[unit] // timedelta(milliseconds=1)
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _coerce(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {str(value).lower()}: {_HINT}")
    if isinstance(value, int | float):
        if value == 0:
            return timedelta()
        raise ValueError(f"invalid duration '{value}': {_HINT}")
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(_coerce),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": _PATTERN, "examples": ["90s", "10m", "1h30m", "7d"]}),
]
"""A timedelta written in the spec as text such as ``10m``; dumped back as text in JSON."""
