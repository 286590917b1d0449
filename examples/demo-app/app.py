"""A tiny Starlette app instrumented with siaga.instrument, for end-to-end tests and the docs.

    python examples/demo-app/app.py --host 127.0.0.1 --port 8000 [--service demo-app]

``POST /control/errors`` with ``{"rate": 0.25}`` makes exactly that fraction of ``/api/...`` requests answer
500, spread evenly (request n fails when floor(n * rate) grows), so tests can count on the numbers.
"""

from __future__ import annotations

import argparse
import logging
from fractions import Fraction

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from siaga.instrument import Instrument, configure_logging, set_user_id

ORDERS = {
    1: {"id": 1, "item": "coffee beans", "quantity": 2},
    2: {"id": 2, "item": "oat milk", "quantity": 6},
    3: {"id": 3, "item": "paper filters", "quantity": 100},
}
log = logging.getLogger("demo_app")


class ErrorInjection:
    """Fails exactly ``rate`` of the requests it is asked about, evenly spread, counted from the last set."""

    def __init__(self) -> None:
        self.rate = Fraction(0)
        self.asked = 0

    def set(self, rate: float) -> None:
        self.rate = Fraction(rate).limit_denominator(10_000)
        self.asked = 0

    def should_fail(self) -> bool:
        self.asked += 1
        return int(self.asked * self.rate) > int((self.asked - 1) * self.rate)


def create_app(service: str = "demo-app") -> Instrument:
    """Returns the demo app wrapped in the instrumentation middleware."""
    errors = ErrorInjection()

    def injected_failure() -> Response | None:
        if errors.should_fail():
            log.warning("injected failure", extra={"event": "injected_failure"})
            return JSONResponse({"error": "injected failure"}, status_code=500)
        return None

    async def home(request: Request) -> Response:
        return JSONResponse({"service": service, "routes": ["/api/orders", "/api/orders/{id}"]})

    async def list_orders(request: Request) -> Response:
        # A stand-in for authentication: a real app sets the user its auth established.
        set_user_id(request.headers.get("x-demo-user"))
        return injected_failure() or JSONResponse(list(ORDERS.values()))

    async def get_order(request: Request) -> Response:
        if (failure := injected_failure()) is not None:
            return failure
        order = ORDERS.get(request.path_params["id"])
        if order is None:
            return JSONResponse({"error": "no such order"}, status_code=404)
        return JSONResponse(order)

    async def read_error_rate(request: Request) -> Response:
        return JSONResponse({"rate": float(errors.rate)})

    async def set_error_rate(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        rate = body.get("rate") if isinstance(body, dict) else None
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            return JSONResponse({"error": "rate must be a number from 0.0 to 1.0"}, status_code=422)
        errors.set(rate)
        log.info("error rate set to %s", rate, extra={"event": "error_rate_set", "context": {"rate": rate}})
        return JSONResponse({"rate": float(errors.rate)})

    app = Starlette(
        routes=[
            Route("/", home),
            Route("/api/orders", list_orders),
            Route("/api/orders/{id:int}", get_order),
            Route("/control/errors", read_error_rate, methods=["GET"]),
            Route("/control/errors", set_error_rate, methods=["POST"]),
        ]
    )
    return Instrument(app, service=service)


def main() -> None:
    parser = argparse.ArgumentParser(description="An instrumented demo app.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--service", default="demo-app")
    args = parser.parse_args()
    configure_logging(service=args.service)
    # uvicorn's own access log would repeat the middleware's http_request line.
    uvicorn.run(create_app(args.service), host=args.host, port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
