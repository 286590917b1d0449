"""JSON log lines in the Luxima structure, one object per line.

Every line has exactly these keys: ``timestamp`` (ISO 8601 UTC, milliseconds, ``Z``), ``service``, ``level``,
``tenant_id``, ``user_id``, ``event``, ``message``, ``context``. A record's ``extra`` may carry ``event``,
``context`` (a mapping), ``tenant_id`` and ``user_id``; otherwise the request being handled supplies them.
A line without an event is event ``log``, with the logger's name in ``context.logger``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from typing import IO, Any

import orjson

from siaga.instrument._context import CURRENT

LUXIMA_KEYS = ("timestamp", "service", "level", "tenant_id", "user_id", "event", "message", "context")
_OPTIONS = orjson.OPT_NON_STR_KEYS


class JsonFormatter(logging.Formatter):
    """Formats a record as one Luxima JSON object; ``service`` names lines written outside any request."""

    def __init__(self, *, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        request = CURRENT.get()
        extra: Any = getattr(record, "context", None)
        context: dict[Any, Any] = dict(extra) if isinstance(extra, Mapping) else {}
        if request is not None and request.request_id is not None:
            context.setdefault("request_id", request.request_id)
        event = getattr(record, "event", None)
        if not event:
            # A line the app wrote without an event name: which logger wrote it is the next best thing.
            event = "log"
            context.setdefault("logger", record.name)
        if record.exc_info:
            context["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            context["stack"] = self.formatStack(record.stack_info)
        line = {
            "timestamp": _timestamp(record),
            "service": (request.service if request is not None else None) or self.service,
            "level": record.levelname.lower(),
            "tenant_id": getattr(record, "tenant_id", None) or (request.tenant_id if request else None),
            "user_id": getattr(record, "user_id", None) or (request.user_id if request else None),
            "event": event,
            "message": record.getMessage(),
            "context": context,
        }
        return orjson.dumps(line, default=str, option=_OPTIONS).decode()


def _timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


class _JsonHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler ``configure_logging`` installed, so a second call replaces it."""


def configure_logging(
    *, service: str, level: int | str = logging.INFO, stream: IO[str] | None = None
) -> logging.Handler:
    """Given the service name, sends the root logger's records to ``stream`` (stdout) as JSON lines at
    ``level``; returns the handler. Calling it again replaces the handler instead of adding a second."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _JsonHandler)]:
        root.removeHandler(handler)
    handler = _JsonHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(JsonFormatter(service=service))
    root.addHandler(handler)
    root.setLevel(level)
    return handler
