"""The ASGI middleware: plain ASGI (no BaseHTTPMiddleware), so a request costs one wrapped ``send``."""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from time import perf_counter
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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

AsgiHealth = Callable[[], bool | Awaitable[bool]]
AsgiRouteOf = Callable[[Scope], str | None]
_JSON = b"application/json"
_METRICS_TYPE = CONTENT_TYPE_LATEST.encode()
_CONVERTOR = re.compile(r"\{(\w+):\w+\}")


class Instrument:
    """Wraps an ASGI app: counts and times its requests, logs each one, serves ``/metrics`` and ``/health``,
    keeps or assigns ``X-Request-ID`` and adds security headers the app did not set.

    ``registry`` (a fresh one by default) is what ``/metrics`` serves; register the app's own metrics there.
    ``health`` may be sync or async and answers True when the app is healthy. ``headers`` overrides security
    headers by name (None removes one). ``route_of(scope)`` names the route for frameworks other than
    Starlette/FastAPI; it is called after the app answered and may return None."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        registry: CollectorRegistry | None = None,
        metrics_path: str | None = "/metrics",
        health_path: str | None = "/health",
        health: AsgiHealth | None = None,
        headers: HeaderOverrides | None = None,
        route_of: AsgiRouteOf | None = None,
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
        self._plain = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in self._core.plain_headers
        ]
        self._https = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in self._core.https_headers
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        core = self._core
        path: str = scope["path"]
        root_path: str = scope.get("root_path", "")
        incoming_id = tenant_id = user_agent = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming_id = value.decode("latin-1")
            elif name == b"x-tenant-id":
                tenant_id = value.decode("latin-1")
            elif name == b"user-agent":
                user_agent = value.decode("latin-1")
        request_id = core.request_id(incoming_id)
        extra = self._https if scope.get("scheme") == "https" else self._plain
        extra = [*extra, (b"x-request-id", request_id.encode())]

        local = path[len(root_path) :] if root_path and path.startswith(root_path) else path
        if local in (core.metrics_path, core.health_path):
            await self._answer_own(local, scope["method"], send, extra)
            return

        context = RequestContext(service=core.service, request_id=request_id, tenant_id=sane(tenant_id))
        token = CURRENT.set(context)
        status = 500  # what the server answers if the app raises before starting a response

        async def send_instrumented(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = _merge(message.get("headers", ()), extra)
            await send(message)

        started = perf_counter()
        try:
            await self.app(scope, receive, send_instrumented)
        finally:
            seconds = perf_counter() - started
            try:
                template = self._route_of(scope) if self._route_of is not None else None
                if template is None:
                    template = _starlette_template(scope, root_path, status)
                client = scope.get("client")
                core.finish(
                    method=scope["method"],
                    path=path,
                    template=template,
                    status=status,
                    seconds=seconds,
                    ip=client[0] if client else None,
                    user_agent=user_agent,
                    request_id=request_id,
                )
            finally:
                CURRENT.reset(token)

    async def _answer_own(self, path: str, method: str, send: Send, extra: list[tuple[bytes, bytes]]) -> None:
        if method not in OWN_METHODS:
            status, body, content_type = 405, b"", b"text/plain"
            extra = [*extra, (b"allow", b"GET, HEAD")]
        elif path == self._core.metrics_path:
            status, body, content_type = 200, self._core.metrics_body(), _METRICS_TYPE
        else:
            (status, body), content_type = await self._check_health(), _JSON
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

    async def _check_health(self) -> tuple[int, bytes]:
        if self._health is None:
            return HEALTHY
        try:
            healthy = self._health()
            if inspect.isawaitable(healthy):
                healthy = await healthy
        except Exception:
            self._core.logger.exception("health check raised", extra={"event": "health_check_failed"})
            return UNHEALTHY
        return HEALTHY if healthy else UNHEALTHY


def _merge(
    headers: Iterable[tuple[bytes, bytes]], extra: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """Returns the app's headers plus those of ``extra`` it did not set itself."""
    headers = list(headers)
    present = {name.lower() for name, _ in headers}
    return headers + [(name, value) for name, value in extra if name not in present]


def _starlette_template(scope: Scope, entry_root_path: str, status: int) -> str | None:
    """Returns the route template Starlette's router matched, or None when it matched none."""
    route = scope.get("route")
    if route is None:
        return None
    if scope.get("root_path", "") == entry_root_path and not hasattr(route, "routes"):
        return _leaf_template(route)
    # Mounted: the router keeps only the innermost route in the scope, so walk the routing again from the
    # top router to put the mounts' templates in front (only for mounted requests; flat apps skip this).
    router = scope.get("router")
    return _walk(getattr(router, "routes", ()), {**scope, "root_path": entry_root_path}, status)


def _walk(routes: Iterable[Any], scope: Scope, status: int) -> str | None:
    from starlette.routing import Match

    partial = None
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            return _template_of(route, {**scope, **child}, status)
        if match is Match.PARTIAL and partial is None:
            partial = route, child
    if partial is None:
        return None
    return _template_of(partial[0], {**scope, **partial[1]}, status)


def _template_of(route: Any, scope: Scope, status: int) -> str | None:
    prefix = getattr(route, "path", "")
    prefix = _CONVERTOR.sub(r"{\1}", prefix) if isinstance(prefix, str) else ""
    inner_routes = getattr(route, "routes", None)
    if inner_routes is None:  # a Route: the template itself
        return _leaf_template(route)
    if inner_routes:  # a Mount (or Host) around a router: its routes decide
        inner = _walk(inner_routes, scope, status)
        return None if inner is None else prefix + inner
    # A Mount around an app without routes (static files, a WSGI app): the mount is the template.
    return None if status == 404 else prefix or "/"


def _leaf_template(route: Any) -> str | None:
    # path_format drops convertors: "/orders/{id:int}" is labelled "/orders/{id}".
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else None
