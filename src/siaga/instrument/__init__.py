"""Prometheus metrics, JSON logs, request ids and security headers for a team's own Python apps.

Wrap an ASGI app in :class:`Instrument` or a WSGI app in :class:`InstrumentWSGI`; send logs through
:func:`configure_logging` (or :class:`JsonFormatter` on a handler of your own). See docs/instrument.md.
"""

from siaga.instrument._asgi import Instrument
from siaga.instrument._context import current_request_id, set_user_id
from siaga.instrument._core import DEFAULT_BUCKETS, DEFAULT_CSP, OTHER_ROUTE, UNMATCHED_ROUTE
from siaga.instrument._logs import LUXIMA_KEYS, JsonFormatter, configure_logging
from siaga.instrument._wsgi import InstrumentWSGI

__all__ = [
    "DEFAULT_BUCKETS",
    "DEFAULT_CSP",
    "LUXIMA_KEYS",
    "OTHER_ROUTE",
    "UNMATCHED_ROUTE",
    "Instrument",
    "InstrumentWSGI",
    "JsonFormatter",
    "configure_logging",
    "current_request_id",
    "set_user_id",
]
