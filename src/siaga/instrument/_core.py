"""What the ASGI and WSGI middleware share: metrics, route labels, request ids, headers, the access log."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping, Sequence

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from siaga.api.headers import SECURITY_HEADERS

UNMATCHED_ROUTE = "<unmatched>"
# Raw paths stand in for routes only when the framework names none; past this many, they share one label.
OTHER_ROUTE = "<other>"
RAW_ROUTE_LIMIT = 100
# Siaga's own CSP allows its pages only; a generic app usually loads its own script, style and images.
DEFAULT_CSP = "default-src 'self'; frame-ancestors 'none'"
HSTS = "max-age=31536000; includeSubDomains"
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Anything else (scanners send all sorts) is counted as OTHER, so the method label stays bounded too.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})
_SANE_ID = re.compile(r"[A-Za-z0-9._:+=/-]{1,128}")

HeaderOverrides = Mapping[str, str | None]
OWN_METHODS = frozenset({"GET", "HEAD"})
HEALTHY = (200, orjson.dumps({"status": "ok"}))
UNHEALTHY = (503, orjson.dumps({"status": "unavailable"}))


def sane(value: str | None) -> str | None:
    """Returns an incoming id (request, tenant) if it is short and made of safe characters, else None."""
    if value is not None and _SANE_ID.fullmatch(value):
        return value
    return None


def security_headers(
    overrides: HeaderOverrides | None,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Given the caller's overrides (a value replaces, None removes, names case-insensitive), returns the
    headers for plain HTTP and for HTTPS (which adds HSTS), names lower-cased."""
    chosen = {name.lower(): value for name, value in SECURITY_HEADERS.items()}
    chosen["content-security-policy"] = DEFAULT_CSP
    chosen["strict-transport-security"] = HSTS
    for name, override in (overrides or {}).items():
        if override is None:
            chosen.pop(name.lower(), None)
        else:
            chosen[name.lower()] = override
    hsts = chosen.pop("strict-transport-security", None)
    plain = list(chosen.items())
    return plain, plain + ([("strict-transport-security", hsts)] if hsts is not None else [])


class HttpMetrics:
    """``http_requests_total{method,route,status_code}`` and ``http_request_duration_seconds{method,route}``
    in one registry; label children are cached so a request costs two dict lookups, not label validation."""

    def __init__(self, registry: CollectorRegistry, buckets: Sequence[float]) -> None:
        self._requests = Counter(
            "http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ("method", "route", "status_code"),
            registry=registry,
        )
        self._duration = Histogram(
            "http_request_duration_seconds",
            "Time from receiving an HTTP request to sending the last byte of its response.",
            ("method", "route"),
            registry=registry,
            buckets=buckets,
        )
        self._counted: dict[tuple[str, str, int], Counter] = {}
        self._timed: dict[tuple[str, str], Histogram] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        if method not in _METHODS:
            method = "OTHER"
        counter = self._counted.get((method, route, status))
        if counter is None:
            counter = self._counted[method, route, status] = self._requests.labels(method, route, str(status))
        counter.inc()
        histogram = self._timed.get((method, route))
        if histogram is None:
            histogram = self._timed[method, route] = self._duration.labels(method, route)
        histogram.observe(seconds)


class Instrumentation:
    """The settings and state one middleware instance works with, whatever its protocol."""

    def __init__(
        self,
        *,
        service: str,
        registry: CollectorRegistry | None,
        metrics_path: str | None,
        health_path: str | None,
        headers: HeaderOverrides | None,
        buckets: Sequence[float],
        logger: logging.Logger | None,
    ) -> None:
        self.service = service
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = HttpMetrics(self.registry, buckets)
        self.metrics_path = metrics_path
        self.health_path = health_path
        self.plain_headers, self.https_headers = security_headers(headers)
        self.logger = logger if logger is not None else logging.getLogger("siaga.instrument.access")
        self._raw_routes: set[str] = set()

    def request_id(self, incoming: str | None) -> str:
        """Returns the incoming request id if it is sane, else a new UUID4."""
        return sane(incoming) or str(uuid.uuid4())

    def route_label(self, template: str | None, path: str, status: int) -> str:
        """Returns the route label: the framework's template, else one label for every 404, else the raw
        path while fewer than ``RAW_ROUTE_LIMIT`` have been seen, else ``OTHER_ROUTE``."""
        if template is not None:
            return template
        if status == 404:
            return UNMATCHED_ROUTE
        if path in self._raw_routes:
            return path
        if len(self._raw_routes) >= RAW_ROUTE_LIMIT:
            return OTHER_ROUTE
        self._raw_routes.add(path)
        return path

    def finish(
        self,
        *,
        method: str,
        path: str,
        template: str | None,
        status: int,
        seconds: float,
        ip: str | None,
        user_agent: str | None,
        request_id: str,
    ) -> None:
        """Counts the request and writes its ``http_request`` log line (error for 5xx, else info)."""
        route = self.route_label(template, path, status)
        self.metrics.observe(method, route, status, seconds)
        level = logging.ERROR if status >= 500 else logging.INFO
        if not self.logger.isEnabledFor(level):
            return
        duration_ms = round(seconds * 1000, 3)
        context = {
            "ip": ip,
            "user_agent": user_agent,
            "method": method,
            "path": path,
            "route": route,
            "status_code": status,
            "duration_ms": duration_ms,
            "request_id": request_id,
        }
        self.logger.log(
            level,
            "%s %s %d %.1fms",
            method,
            path,
            status,
            duration_ms,
            extra={"event": "http_request", "context": context},
        )

    def metrics_body(self) -> bytes:
        return generate_latest(self.registry)
