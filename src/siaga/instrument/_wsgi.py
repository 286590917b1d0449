"""The WSGI middleware: the same behaviour as the ASGI one, for Flask, Django and plain WSGI apps."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

from siaga.instrument._context import CURRENT, RequestContext
from siaga.instrument._core import (
    DEFAULT_BUCKETS,
    HEALTHY,
    OWN_METHODS,
    UNHEALTHY,
    HeaderOverrides,
    Instrumentation,
    sane,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

WsgiRouteOf = Callable[["WSGIEnvironment"], str | None]


class InstrumentWSGI:
    """Wraps a WSGI app with the behaviour of :class:`Instrument` (same arguments).

    ``route_of(environ)`` names the route template; it is called when the app starts its response, so inside
    Flask's request context (see docs/instrument.md).
    Without it, or when it returns None, the raw path is the label (404s share one)."""

    def __init__(
        self,
        app: WSGIApplication,
        *,
        service: str,
        registry: CollectorRegistry | None = None,
        metrics_path: str | None = "/metrics",
        health_path: str | None = "/health",
        health: Callable[[], bool] | None = None,
        headers: HeaderOverrides | None = None,
        route_of: WsgiRouteOf | None = None,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        logger: logging.Logger | None = None,
    ) -> None:
        self.app = app
        self._core = Instrumentation(
            service=service,
            registry=registry,
            metrics_path=metrics_path,
            health_path=health_path,
            headers=headers,
            buckets=buckets,
            logger=logger,
        )
        self.registry = self._core.registry
        self._health = health
        self._route_of = route_of

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        core = self._core
        path: str = environ.get("PATH_INFO") or "/"
        method: str = environ.get("REQUEST_METHOD", "GET")
        request_id = core.request_id(environ.get("HTTP_X_REQUEST_ID"))
        https = environ.get("wsgi.url_scheme") == "https"
        extra = [*(core.https_headers if https else core.plain_headers), ("x-request-id", request_id)]
        if path in (core.metrics_path, core.health_path):
            return self._answer_own(path, method, start_response, extra)

        previous = CURRENT.get()
        CURRENT.set(
            RequestContext(
                service=core.service, request_id=request_id, tenant_id=sane(environ.get("HTTP_X_TENANT_ID"))
            )
        )
        started = perf_counter()
        response = _Response(core, self._route_of, environ, extra, request_id, previous, started)
        try:
            body = self.app(environ, response.start_response(start_response))
        except BaseException:
            response.close()
            raise
        response.body = body
        return response

    def _answer_own(
        self, path: str, method: str, start_response: StartResponse, extra: list[tuple[str, str]]
    ) -> list[bytes]:
        if method not in OWN_METHODS:
            status, body, content_type = 405, b"", "text/plain"
            extra = [*extra, ("allow", "GET, HEAD")]
        elif path == self._core.metrics_path:
            status, body, content_type = 200, self._core.metrics_body(), CONTENT_TYPE_LATEST
        else:
            (status, body), content_type = self._check_health(), "application/json"
        reason = {200: "OK", 405: "Method Not Allowed", 503: "Service Unavailable"}[status]
        start_response(
            f"{status} {reason}",
            [("content-type", content_type), ("content-length", str(len(body))), *extra],
        )
        return [b"" if method == "HEAD" else body]

    def _check_health(self) -> tuple[int, bytes]:
        if self._health is None:
            return HEALTHY
        try:
            healthy = self._health()
        except Exception:
            self._core.logger.exception("health check raised", extra={"event": "health_check_failed"})
            return UNHEALTHY
        return HEALTHY if healthy else UNHEALTHY


class _Response:
    """The app's body, passed through; closing it (which the server must do) ends the request: it is then
    counted and logged, and the request context is restored."""

    def __init__(
        self,
        core: Instrumentation,
        route_of: WsgiRouteOf | None,
        environ: WSGIEnvironment,
        extra: list[tuple[str, str]],
        request_id: str,
        previous: RequestContext | None,
        started: float,
    ) -> None:
        self.core = core
        self.route_of = route_of
        self.environ = environ
        self.extra = extra
        self.request_id = request_id
        self.previous = previous
        self.started = started
        self.status = 500  # what the server answers if the app raises before starting a response
        self.template: str | None = None
        self.body: Iterable[bytes] = ()
        self.closed = False

    def start_response(self, start_response: StartResponse) -> StartResponse:
        def start(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            self.status = int(status[:3])
            if self.route_of is not None:
                # Now, not at close: Flask's request context (its url_rule) is still there.
                self.template = self.route_of(self.environ)
            present = {name.lower() for name, _ in headers}
            headers = headers + [(name, value) for name, value in self.extra if name not in present]
            return start_response(status, headers, exc_info)

        return start

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self._finish()

    def _finish(self) -> None:
        environ = self.environ
        try:
            self.core.finish(
                method=environ.get("REQUEST_METHOD", "GET"),
                path=environ.get("SCRIPT_NAME", "") + (environ.get("PATH_INFO") or "/"),
                template=self.template,
                status=self.status,
                seconds=perf_counter() - self.started,
                ip=environ.get("REMOTE_ADDR"),
                user_agent=environ.get("HTTP_USER_AGENT"),
                request_id=self.request_id,
            )
        finally:
            CURRENT.set(self.previous)
