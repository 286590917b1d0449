"""JsonFormatter and configure_logging outside any request, and the public surface of siaga.instrument."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import time_machine

import siaga.instrument
from siaga.instrument import LUXIMA_KEYS, JsonFormatter, configure_logging, set_user_id
from tests.integration.instrument.conftest import APP_LOGGER, LogCapture

log = logging.getLogger(APP_LOGGER)


def test_the_public_surface_is_pinned() -> None:
    assert sorted(siaga.instrument.__all__) == [
        "DEFAULT_BUCKETS",
        "DEFAULT_CSP",
        "Instrument",
        "InstrumentWSGI",
        "JsonFormatter",
        "LUXIMA_KEYS",
        "OTHER_ROUTE",
        "UNMATCHED_ROUTE",
        "configure_logging",
        "current_request_id",
        "set_user_id",
    ]


def test_timestamp_is_utc_with_milliseconds_and_z(logs: LogCapture) -> None:
    with time_machine.travel(datetime(2025, 10, 14, 3, 22, 11, 789_000, tzinfo=UTC), tick=False):
        log.warning("disk %d%% full", 91)
    (line,) = logs.lines()
    assert line == {
        "timestamp": "2025-10-14T03:22:11.789Z",
        "service": "fallback",
        "level": "warning",
        "tenant_id": None,
        "user_id": None,
        "event": "log",
        "message": "disk 91% full",
        "context": {"logger": APP_LOGGER},
    }


def test_extra_names_the_event_and_fills_context_tenant_and_user(logs: LogCapture) -> None:
    when = datetime(2025, 1, 2, tzinfo=UTC)
    log.info(
        "order paid",
        extra={
            "event": "order_paid",
            "context": {"order": 7, "at": when},
            "tenant_id": "t-1",
            "user_id": "u-1",
        },
    )
    (line,) = logs.lines()
    assert (line["event"], line["tenant_id"], line["user_id"]) == ("order_paid", "t-1", "u-1")
    assert line["context"] == {"order": 7, "at": "2025-01-02T00:00:00+00:00"}


def test_an_exception_goes_into_context(logs: LogCapture) -> None:
    try:
        raise ValueError("bad input")
    except ValueError:
        log.exception("import failed", extra={"event": "import_failed"})
    (line,) = logs.lines()
    assert line["level"] == "error"
    assert line["context"]["exception"].startswith("Traceback")
    assert "ValueError: bad input" in line["context"]["exception"]


def test_a_user_set_outside_a_request_stamps_this_context_only(logs: LogCapture) -> None:
    import contextvars

    def job() -> None:
        set_user_id("batch-user")
        log.info("ran", extra={"event": "job_ran"})

    contextvars.copy_context().run(job)
    log.info("after", extra={"event": "after"})
    assert [line["user_id"] for line in logs.lines()] == ["batch-user", None]


@pytest.fixture
def root_handlers() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("root_handlers")
def test_configure_logging_replaces_its_handler_instead_of_adding_one() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(service="one", stream=first)
    handler = configure_logging(service="two", stream=second, level="DEBUG")
    ours = [h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)]
    assert ours == [handler]
    logging.getLogger("some.library").debug("hello")
    assert first.getvalue() == ""
    line = json.loads(second.getvalue())
    assert tuple(line) == LUXIMA_KEYS
    assert (line["service"], line["level"], line["message"]) == ("two", "debug", "hello")
