"""The ASGI middleware over real HTTP (Starlette's TestClient): metrics, /metrics, /health, request ids,
logs, security headers."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from siaga.api.headers import SECURITY_HEADERS
from siaga.instrument import DEFAULT_CSP, LUXIMA_KEYS, Instrument, current_request_id, set_user_id
from tests.integration.instrument.conftest import ACCESS_LOGGER, APP_LOGGER, LogCapture
from tests.integration.instrument.support import durations_counted, requests_counted, samples

ORDERS = {1: "coffee", 2: "tea"}
app_log = logging.getLogger(APP_LOGGER)


async def list_orders(request: Request) -> Response:
    return JSONResponse(ORDERS)


async def get_order(request: Request) -> Response:
    order = ORDERS.get(request.path_params["id"])
    return JSONResponse({"item": order}) if order else JSONResponse({"error": "no such order"}, 404)


async def fail(request: Request) -> Response:
    return PlainTextResponse("down", status_code=503)


async def boom(request: Request) -> Response:
    raise RuntimeError("boom")


async def framed(request: Request) -> Response:
    headers = {"X-Frame-Options": "SAMEORIGIN", "Content-Security-Policy": "default-src *"}
    return PlainTextResponse("mine", headers=headers)


async def whoami(request: Request) -> Response:
    set_user_id(request.query_params.get("user"))
    app_log.info("looked up %s", "me", extra={"event": "whoami", "context": {"step": 1}})
    return JSONResponse({"request_id": current_request_id()})


def whoami_sync(request: Request) -> Response:
    # Sync endpoints run in a thread with a copy of the context; the user must still reach the access log.
    set_user_id("sync-user")
    return JSONResponse({"request_id": current_request_id()})


async def item(request: Request) -> Response:
    return JSONResponse(dict(request.path_params))


ROUTES = [
    Route("/orders", list_orders),
    Route("/orders/{id:int}", get_order),
    Route("/fail", fail),
    Route("/boom", boom),
    Route("/framed", framed),
    Route("/whoami", whoami),
    Route("/whoami-sync", whoami_sync),
    Mount("/v1", routes=[Route("/items/{item_id}", item)]),
    Mount("/tenants/{tenant:int}", routes=[Mount("/shop", routes=[Route("/items/{item_id}", item)])]),
]


def client(base_url: str = "http://testserver", **options: Any) -> TestClient:
    """The test app wrapped in Instrument(service="shop", **options), logging to the captured logger."""
    options.setdefault("logger", logging.getLogger(ACCESS_LOGGER))
    return TestClient(Instrument(Starlette(routes=ROUTES), service="shop", **options), base_url=base_url)


def counted(shop: TestClient) -> dict[tuple[str, str, str], float]:
    return requests_counted(shop.get("/metrics").text)


def test_requests_are_counted_and_timed_under_their_route_template() -> None:
    shop = client()
    for path in ("/orders/1", "/orders/2", "/orders", "/fail"):
        shop.get(path)
    metrics = shop.get("/metrics").text
    assert requests_counted(metrics) == {
        ("GET", "/orders/{id}", "200"): 2,
        ("GET", "/orders", "200"): 1,
        ("GET", "/fail", "503"): 1,
    }
    assert durations_counted(metrics) == {
        ("GET", "/orders/{id}"): 2,
        ("GET", "/orders"): 1,
        ("GET", "/fail"): 1,
    }
    buckets = {dict(labels)["le"] for name, labels in samples(metrics) if name.endswith("_bucket")}
    assert {"0.005", "0.1", "1.0", "10.0", "+Inf"} <= buckets


def test_a_matched_route_answering_404_keeps_its_template() -> None:
    shop = client()
    assert shop.get("/orders/999").status_code == 404
    assert counted(shop) == {("GET", "/orders/{id}", "404"): 1}


def test_unknown_paths_collapse_into_one_label() -> None:
    shop = client()
    for path in ("/nope", "/nope/1", "/wp-login.php", "/v1/unknown", "/tenants/3/shop/nothing"):
        assert shop.get(path).status_code == 404
    assert counted(shop) == {("GET", "<unmatched>", "404"): 5}


def test_mounted_routes_are_labelled_with_the_whole_template() -> None:
    shop = client()
    assert shop.get("/v1/items/a").json() == {"item_id": "a"}
    shop.get("/v1/items/b")
    assert shop.get("/tenants/7/shop/items/x").json() == {"tenant": 7, "item_id": "x"}
    shop.get("/tenants/8/shop/items/y")
    assert counted(shop) == {
        ("GET", "/v1/items/{item_id}", "200"): 2,
        ("GET", "/tenants/{tenant}/shop/items/{item_id}", "200"): 2,
    }


def test_unknown_methods_are_counted_as_other() -> None:
    shop = client()
    assert shop.request("BREW", "/orders").status_code == 405
    assert shop.post("/orders").status_code == 405
    assert counted(shop) == {("OTHER", "/orders", "405"): 1, ("POST", "/orders", "405"): 1}


def test_an_app_that_raises_is_counted_as_500_and_logged_as_error(logs: LogCapture) -> None:
    shop = client()
    with pytest.raises(RuntimeError, match="boom"):
        shop.get("/boom")
    assert counted(shop) == {("GET", "/boom", "500"): 1}
    (line,) = logs.events("http_request")
    assert line["level"] == "error"
    assert line["context"]["status_code"] == 500


def test_metrics_parses_and_neither_metrics_nor_health_is_counted(logs: LogCapture) -> None:
    shop = client()
    shop.get("/orders")
    shop.get("/health")
    response = shop.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {name for name, _ in samples(response.text)}
    assert {"http_requests_total", "http_request_duration_seconds_count"} <= families
    assert counted(shop) == {("GET", "/orders", "200"): 1}
    assert [line["context"]["path"] for line in logs.events("http_request")] == ["/orders"]
    assert shop.head("/metrics").content == b""
    assert shop.post("/metrics").status_code == 405


def test_health_answers_ok_by_default() -> None:
    response = client().get("/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "ok"}


async def _healthy_async() -> bool:
    return True


def _raises() -> bool:
    raise ConnectionError("database unreachable")


@pytest.mark.parametrize(
    ("health", "status", "body"),
    [
        (lambda: True, 200, {"status": "ok"}),
        (lambda: False, 503, {"status": "unavailable"}),
        (_healthy_async, 200, {"status": "ok"}),
        (_raises, 503, {"status": "unavailable"}),
    ],
)
def test_health_asks_the_callable(
    health: Callable[[], Any], status: int, body: dict[str, str], logs: LogCapture
) -> None:
    response = client(health=health).get("/health")
    assert (response.status_code, response.json()) == (status, body)
    failures = logs.events("health_check_failed")
    assert len(failures) == (1 if health is _raises else 0)
    if failures:
        assert "database unreachable" in failures[0]["context"]["exception"]


def test_own_paths_are_configurable() -> None:
    shop = client(metrics_path="/internal/metrics", health_path=None)
    assert shop.get("/health").status_code == 404  # now the app's to answer
    assert shop.get("/metrics").status_code == 404
    assert requests_counted(shop.get("/internal/metrics").text) == {
        ("GET", "<unmatched>", "404"): 2,
    }


def test_two_apps_in_one_process_keep_their_own_metrics() -> None:
    first, second = client(), client()
    first.get("/orders")
    first.get("/orders")
    second.get("/orders/1")
    assert counted(first) == {("GET", "/orders", "200"): 2}
    assert counted(second) == {("GET", "/orders/{id}", "200"): 1}


def test_metrics_serves_the_registry_it_is_given() -> None:
    registry = CollectorRegistry()
    Counter("orders_placed", "Orders placed.", registry=registry).inc(3)
    shop = client(registry=registry)
    assert samples(shop.get("/metrics").text)["orders_placed_total", frozenset()] == 3


UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_a_sane_request_id_is_kept_echoed_and_seen_by_the_app() -> None:
    response = client().get("/whoami", headers={"X-Request-ID": "req-42.a:b"})
    assert response.headers["x-request-id"] == "req-42.a:b"
    assert response.json() == {"request_id": "req-42.a:b"}


@pytest.mark.parametrize(
    "incoming",
    [None, b"", b"x" * 129, b"has space", b"semi;colon", b'quote"d', b"<script>", "naïve".encode()],
)
def test_a_missing_or_insane_request_id_is_replaced_by_a_uuid4(incoming: bytes | None) -> None:
    headers = {b"X-Request-ID": incoming} if incoming is not None else {}
    response = client().get("/whoami", headers=headers)
    assert UUID4.fullmatch(response.headers["x-request-id"])
    assert response.json() == {"request_id": response.headers["x-request-id"]}


def test_own_endpoints_echo_a_request_id_too() -> None:
    shop = client()
    assert shop.get("/health", headers={"X-Request-ID": "probe-1"}).headers["x-request-id"] == "probe-1"
    assert UUID4.fullmatch(shop.get("/metrics").headers["x-request-id"])


def test_log_lines_have_exactly_the_luxima_keys(logs: LogCapture) -> None:
    shop = client()
    shop.get("/whoami?user=u-7", headers={"X-Request-ID": "r-1", "X-Tenant-ID": "acme", "User-Agent": "t/1"})
    app_line, access = logs.lines()
    assert tuple(app_line) == tuple(access) == LUXIMA_KEYS
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", access["timestamp"])
    assert app_line["event"] == "whoami"
    assert app_line["message"] == "looked up me"
    assert app_line["context"] == {"step": 1, "request_id": "r-1"}
    assert (app_line["service"], app_line["tenant_id"], app_line["user_id"]) == ("shop", "acme", "u-7")
    assert access["event"] == "http_request"
    assert access["level"] == "info"
    assert (access["service"], access["tenant_id"], access["user_id"]) == ("shop", "acme", "u-7")
    assert access["context"].pop("duration_ms") >= 0
    assert access["context"] == {
        "ip": "testclient",
        "user_agent": "t/1",
        "method": "GET",
        "path": "/whoami",
        "route": "/whoami",
        "status_code": 200,
        "request_id": "r-1",
    }


def test_the_user_set_in_a_sync_endpoint_reaches_the_access_log(logs: LogCapture) -> None:
    client().get("/whoami-sync")
    (access,) = logs.events("http_request")
    assert access["user_id"] == "sync-user"


def test_an_insane_tenant_id_is_left_out(logs: LogCapture) -> None:
    client().get("/orders", headers={"X-Tenant-ID": "acme; drop table"})
    (access,) = logs.events("http_request")
    assert access["tenant_id"] is None


def test_5xx_is_logged_as_error_and_4xx_as_info(logs: LogCapture) -> None:
    shop = client()
    shop.get("/fail")
    shop.get("/orders/999")
    assert [(line["level"], line["context"]["status_code"]) for line in logs.events("http_request")] == [
        ("error", 503),
        ("info", 404),
    ]


def test_security_headers_are_added_with_a_generic_csp() -> None:
    response = client().get("/orders")
    for name, value in SECURITY_HEADERS.items():
        expected = DEFAULT_CSP if name == "Content-Security-Policy" else value
        assert response.headers[name] == expected
    assert "strict-transport-security" not in response.headers


def test_headers_the_app_set_are_not_overwritten() -> None:
    response = client().get("/framed")
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert response.headers.get_list("content-security-policy") == ["default-src *"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_caller_overrides_or_removes_single_headers() -> None:
    shop = client(
        headers={"content-security-policy": "default-src 'self' cdn.example", "Cache-Control": None}
    )
    response = shop.get("/orders")
    assert response.headers["content-security-policy"] == "default-src 'self' cdn.example"
    assert "cache-control" not in response.headers
    assert response.headers["x-frame-options"] == "DENY"


def test_hsts_only_over_https() -> None:
    assert "strict-transport-security" not in client().get("/orders").headers
    secure = client(base_url="https://testserver")
    assert secure.get("/orders").headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert "strict-transport-security" in secure.get("/health").headers
    without = client(base_url="https://testserver", headers={"Strict-Transport-Security": None})
    assert "strict-transport-security" not in without.get("/orders").headers


async def _plain_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """An ASGI app with no router: a 200 for /files/..., a 404 for everything else."""
    status = 200 if scope["path"].startswith("/files/") else 404
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"x"})


def test_without_a_router_the_raw_path_is_the_label_unless_route_of_names_it() -> None:
    raw = TestClient(Instrument(_plain_asgi, service="files"))
    raw.get("/files/a")
    raw.get("/elsewhere")
    assert counted(raw) == {("GET", "/files/a", "200"): 1, ("GET", "<unmatched>", "404"): 1}

    def route_of(scope: Scope) -> str | None:
        return "/files/{name}" if scope["path"].startswith("/files/") else None

    named = TestClient(Instrument(_plain_asgi, service="files", route_of=route_of))
    named.get("/files/a")
    named.get("/files/b")
    assert counted(named) == {("GET", "/files/{name}", "200"): 2}


def test_lifespan_passes_through() -> None:
    started: list[bool] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        started.append(True)
        yield

    with TestClient(Instrument(Starlette(routes=ROUTES, lifespan=lifespan), service="shop")) as shop:
        assert shop.get("/orders").status_code == 200
    assert started == [True]


def test_each_request_gets_its_own_id() -> None:
    shop = client()
    first = shop.get("/whoami").json()["request_id"]
    second = shop.get("/whoami").json()["request_id"]
    assert first != second
    assert uuid.UUID(first).version == 4
    assert current_request_id() is None  # the test's own context saw no request
