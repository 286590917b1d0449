"""The hot path of alert intake, as plain ASGI.

A burst of single-alert webhooks is the heaviest load Siaga takes. FastAPI's request machinery (dependency
solving, body parsing, response encoding) costs more per request than storing the alert does, so the common
case — a JSON body that validates, from a token allowed to post — is answered here. Everything else (a bad
token, an invalid body, another content type) is handed unchanged to the FastAPI routes, which stay the one
definition of the API's behaviour, its errors and its documentation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import orjson
from annotated_types import Len
from pydantic import TypeAdapter, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from siaga.api.auth import TokenCache, bearer_token, check_token
from siaga.api.schemas import AlertmanagerWebhook, GenericAlert
from siaga.bootstrap import Container
from siaga.domain.alerts import AlertIn
from siaga.runtime.batcher import IngestBatcher
from siaga.services.ingest import Submission
from siaga.services.ports import ConflictError
from siaga.services.tokens import Principal, Role

_MAX_BODY = 16 * 1024 * 1024  # larger bodies take the full path, which enforces the documented limits

_generic = TypeAdapter(Annotated[list[GenericAlert], Len(1, 1000)])


def _generic_alerts(body: bytes, now: datetime) -> tuple[list[AlertIn], str]:
    return [alert.to_domain(now) for alert in _generic.validate_json(body)], "api"


def _alertmanager_alerts(body: bytes, now: datetime) -> tuple[list[AlertIn], str]:
    payload = AlertmanagerWebhook.model_validate_json(body)
    return [alert.to_domain(now) for alert in payload.alerts], "alertmanager"


_ROUTES: dict[str, Callable[[bytes, datetime], tuple[list[AlertIn], str]]] = {
    "/api/v1/alerts": _generic_alerts,
    "/api/v1/integrations/alertmanager": _alertmanager_alerts,
}
_JSON_HEADERS = [(b"content-type", b"application/json")]


class FastIntake:
    """Answers valid alert posts directly; replays every other request into ``app``."""

    def __init__(self, app: ASGIApp, *, container: Container, batcher: IngestBatcher, cache: TokenCache):
        self.app = app
        self.container = container
        self.batcher = batcher
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parse = _ROUTES.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if parse is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            return  # the client went away
        who = self._responder(scope) if len(body) <= _MAX_BODY and _is_json(scope) else None
        if who is not None:
            try:
                alerts, source = parse(body, self.container.clock.now())
            except ValidationError:
                pass  # the full path answers with FastAPI's 422 shape
            else:
                await self._ingest(send, Submission(alerts, source, f"{source}:{who.name}"))
                return
        await self.app(scope, _replay(body, receive), send)

    def _responder(self, scope: Scope) -> Principal | None:
        token = bearer_token(_header(scope, b"authorization"))
        if token is None:
            return None
        found = check_token(self.container.db, self.cache, token)
        return found if found is not None and found.role.allows(Role.RESPONDER) else None

    async def _ingest(self, send: Send, submission: Submission) -> None:
        try:
            result = await asyncio.wrap_future(self.batcher.submit(submission))
        except ConflictError:
            await _respond(send, 503, {"detail": "busy: a concurrent change won; retry"})
            return
        await _respond(
            send, 200, {"accepted": result.accepted, "incidents": result.touched, "opened": result.opened}
        )


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


def _is_json(scope: Scope) -> bool:
    content_type = _header(scope, b"content-type").split(";", 1)[0].strip().lower()
    return content_type in ("", "application/json")


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body; None when the client disconnected before sending it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _respond(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = orjson.dumps(payload)
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
