"""The WSGI middleware over real HTTP (httpx's WSGITransport around a plain WSGI app)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from siaga.api.headers import SECURITY_HEADERS
from siaga.instrument import (
    DEFAULT_CSP,
    LUXIMA_KEYS,
    OTHER_ROUTE,
    InstrumentWSGI,
    current_request_id,
    set_user_id,
)
from tests.integration.instrument.conftest import ACCESS_LOGGER, APP_LOGGER, LogCapture
from tests.integration.instrument.support import requests_counted, samples

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

app_log = logging.getLogger(APP_LOGGER)
ITEM = re.compile(r"/items/(\d+)")
seen_during_request: list[str | None] = []


def shop_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """A plain WSGI app; like a framework's router, it leaves the route it matched in the environ."""
    path = environ["PATH_INFO"]
    headers = [("Content-Type", "text/plain")]
    if path == "/items":
        environ["shop.route"] = "/items"
        status, body = "200 OK", b"all items"
    elif match := ITEM.fullmatch(path):
        environ["shop.route"] = "/items/{id}"
        status, body = ("200 OK", b"one item") if match[1] != "0" else ("404 Not Found", b"no item")
    elif path == "/fail":
        status, body = "500 Internal Server Error", b"down"
    elif path == "/boom":
        raise RuntimeError("boom")
    elif path == "/framed":
        headers += [("X-Frame-Options", "SAMEORIGIN"), ("Content-Security-Policy", "default-src *")]
        status, body = "200 OK", b"mine"
    elif path == "/whoami":
        set_user_id("u-9")
        seen_during_request.append(current_request_id())
        app_log.info("who am i", extra={"event": "whoami"})
        status, body = "200 OK", str(current_request_id()).encode()
    elif path == "/stream":
        return _streamed(start_response)
    elif path.startswith("/raw/"):
        status, body = "200 OK", b"raw"
    else:
        status, body = "404 Not Found", b"not found"
    start_response(status, headers)
    return [body]


def _streamed(start_response: StartResponse) -> Iterator[bytes]:
    """Starts its response only when first iterated, as PEP 3333 allows."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    app_log.info("streaming", extra={"event": "stream_started"})
    yield b"a"
    yield b"b"


def client(base_url: str = "http://testserver", **options: Any) -> httpx.Client:
    options.setdefault("logger", logging.getLogger(ACCESS_LOGGER))
    options.setdefault("route_of", lambda environ: environ.get("shop.route"))
    middleware = InstrumentWSGI(shop_app, service="wsgi-shop", **options)
    transport = httpx.WSGITransport(app=middleware, remote_addr="10.0.0.5")
    return httpx.Client(transport=transport, base_url=base_url)


def counted(shop: httpx.Client) -> dict[tuple[str, str, str], float]:
    return requests_counted(shop.get("/metrics").text)


def test_requests_are_counted_under_the_route_route_of_names() -> None:
    shop = client()
    for path in ("/items/1", "/items/2", "/items/0", "/items", "/fail"):
        shop.get(path)
    assert counted(shop) == {
        ("GET", "/items/{id}", "200"): 2,
        ("GET", "/items/{id}", "404"): 1,
        ("GET", "/items", "200"): 1,
        ("GET", "/fail", "500"): 1,
    }


def test_unknown_paths_collapse_into_one_label() -> None:
    shop = client()
    for path in ("/nope", "/nope/2", "/.env"):
        assert shop.get(path).status_code == 404
    assert counted(shop) == {("GET", "<unmatched>", "404"): 3}


def test_raw_paths_stop_making_new_labels_after_a_hundred() -> None:
    shop = client(route_of=None)
    for n in range(105):
        shop.get(f"/raw/{n}")
    routes = {route for _, route, _ in counted(shop)}
    assert len(routes) == 101
    assert OTHER_ROUTE in routes
    assert counted(shop)["GET", OTHER_ROUTE, "200"] == 5


def test_an_app_that_raises_is_counted_as_500_and_the_context_is_restored(logs: LogCapture) -> None:
    shop = client()
    with pytest.raises(RuntimeError, match="boom"):
        shop.get("/boom")
    assert counted(shop) == {("GET", "/boom", "500"): 1}
    (line,) = logs.events("http_request")
    assert line["level"] == "error"
    assert current_request_id() is None


def test_a_streamed_response_is_counted_and_logged_once_it_is_closed(logs: LogCapture) -> None:
    shop = client()
    assert shop.get("/stream").text == "ab"
    assert [line["event"] for line in logs.lines()] == ["stream_started", "http_request"]
    assert logs.lines()[0]["context"]["request_id"] == logs.lines()[1]["context"]["request_id"]
    assert counted(shop) == {("GET", "/stream", "200"): 1}


def test_metrics_and_health_are_served_and_not_counted() -> None:
    shop = client()
    shop.get("/items")
    health = shop.get("/health")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert health.headers["content-type"] == "application/json"
    response = shop.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    assert ("http_request_duration_seconds_count", frozenset({("method", "GET"), ("route", "/items")})) in (
        samples(response.text)
    )
    assert counted(shop) == {("GET", "/items", "200"): 1}
    assert shop.head("/health").content == b""
    assert shop.delete("/health").status_code == 405


@pytest.mark.parametrize(("healthy", "status"), [(True, 200), (False, 503)])
def test_health_asks_the_callable(healthy: bool, status: int) -> None:
    response = client(health=lambda: healthy).get("/health")
    assert response.status_code == status
    assert response.json() == {"status": "ok" if healthy else "unavailable"}


def test_a_health_callable_that_raises_is_unhealthy_and_logged(logs: LogCapture) -> None:
    def health() -> bool:
        raise TimeoutError("redis")

    assert client(health=health).get("/health").status_code == 503
    (failure,) = logs.events("health_check_failed")
    assert "TimeoutError: redis" in failure["context"]["exception"]


def test_request_id_is_kept_when_sane_replaced_when_not_and_echoed() -> None:
    shop = client()
    seen_during_request.clear()
    kept = shop.get("/whoami", headers={"X-Request-ID": "abc-123"})
    replaced = shop.get("/whoami", headers={"X-Request-ID": "a" * 200})
    generated = shop.get("/whoami")
    assert kept.headers["x-request-id"] == kept.text == "abc-123"
    assert re.fullmatch(r"[0-9a-f-]{36}", replaced.headers["x-request-id"])
    assert replaced.text == replaced.headers["x-request-id"]
    assert generated.headers["x-request-id"] not in (replaced.headers["x-request-id"], "None")
    assert seen_during_request == ["abc-123", replaced.text, generated.text]
    assert current_request_id() is None


def test_log_lines_have_exactly_the_luxima_keys(logs: LogCapture) -> None:
    shop = client()
    shop.get("/whoami", headers={"X-Request-ID": "w-1", "X-Tenant-ID": "acme", "User-Agent": "probe/2"})
    app_line, access = logs.lines()
    assert tuple(app_line) == tuple(access) == LUXIMA_KEYS
    assert (app_line["event"], app_line["user_id"], app_line["tenant_id"]) == ("whoami", "u-9", "acme")
    assert (access["service"], access["user_id"], access["tenant_id"]) == ("wsgi-shop", "u-9", "acme")
    assert access["context"].pop("duration_ms") >= 0
    assert access["context"] == {
        "ip": "10.0.0.5",
        "user_agent": "probe/2",
        "method": "GET",
        "path": "/whoami",
        "route": "/whoami",
        "status_code": 200,
        "request_id": "w-1",
    }


def test_security_headers_are_added_and_app_set_ones_kept() -> None:
    shop = client()
    plain = shop.get("/items")
    for name, value in SECURITY_HEADERS.items():
        assert plain.headers[name] == (DEFAULT_CSP if name == "Content-Security-Policy" else value)
    framed = shop.get("/framed")
    assert framed.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert framed.headers.get_list("content-security-policy") == ["default-src *"]
    assert framed.headers["referrer-policy"] == "no-referrer"


def test_hsts_only_over_https() -> None:
    assert "strict-transport-security" not in client().get("/items").headers
    secure = client(base_url="https://testserver")
    assert secure.get("/items").headers["strict-transport-security"].startswith("max-age=")
    assert "strict-transport-security" in secure.get("/metrics").headers
