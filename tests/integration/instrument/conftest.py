"""A capture of the JSON log lines the instrumented test apps write."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from siaga.instrument import JsonFormatter

ACCESS_LOGGER = "tests.instrument.access"
APP_LOGGER = "tests.instrument.app"


class LogCapture:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def lines(self) -> list[dict[str, Any]]:
        """Every line written so far, each parsed as JSON (a line that is not JSON fails the test)."""
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["event"] == event]


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    """Records of the ``tests.instrument`` loggers, formatted by JsonFormatter(service="fallback")."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(service="fallback"))
    parent = logging.getLogger("tests.instrument")
    parent.addHandler(handler)
    parent.setLevel(logging.DEBUG)
    parent.propagate = False
    try:
        yield LogCapture(stream)
    finally:
        parent.removeHandler(handler)
        parent.propagate = True
        parent.setLevel(logging.NOTSET)
