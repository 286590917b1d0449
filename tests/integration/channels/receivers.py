"""Stand-ins for the services channels deliver to: real HTTP and SMTP servers on 127.0.0.1, random ports.

Each HTTP receiver records every request and checks the payload against the vendor's documented format,
answering the way the vendor answers a bad request when it is not valid (so a test sees a rejected payload
as a PERMANENT receipt, not just as a failed assertion). A test can also script the next answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import re
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

# -- HTTP receivers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Answer:
    status: int
    body: str | bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/plain"

    def response(self) -> web.Response:
        data = self.body.encode() if isinstance(self.body, str) else self.body
        return web.Response(
            status=self.status, body=data, headers=self.headers, content_type=self.content_type
        )


def json_answer(status: int, data: Any, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, json.dumps(data), headers or {}, "application/json")


Validator = Callable[[Recorded], Answer]


class Receiver:
    """Records requests; answers scripted replies first, then whatever ``validate`` says."""

    def __init__(self, validate: Validator) -> None:
        self._validate = validate
        self.requests: list[Recorded] = []
        self.rejected: list[tuple[Recorded, Answer]] = []
        self._script: deque[Answer] = deque()
        self.url = ""

    def then(self, *answers: Answer) -> None:
        """Answer the next requests with ``answers`` (one each), before validating again."""
        self._script.extend(answers)

    async def _handle(self, request: web.Request) -> web.Response:
        recorded = Recorded(request.method, request.path_qs, dict(request.headers), await request.read())
        self.requests.append(recorded)
        if self._script:
            return self._script.popleft().response()
        answer = self._validate(recorded)
        if answer.status >= 400:
            self.rejected.append((recorded, answer))
        return answer.response()


@asynccontextmanager
async def serve(receiver: Receiver) -> AsyncIterator[Receiver]:
    """Run ``receiver`` on 127.0.0.1 and a free port; sets ``receiver.url`` (no trailing slash)."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver._handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    receiver.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield receiver
    finally:
        await runner.cleanup()
        sock.close()


@asynccontextmanager
async def silent_server() -> AsyncIterator[tuple[str, int]]:
    """A server that accepts connections and never answers; yields its base URL."""

    writers: set[asyncio.StreamWriter] = set()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        await reader.read()  # until the client gives up and closes

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", port
    finally:
        server.close()
        for writer in writers:
            writer.close()
        for writer in writers:
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await server.wait_closed()


class refused_port:
    """A port bound but not listening: connections are refused, and no other test can take it meanwhile."""

    def __enter__(self) -> int:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        port: int = self._sock.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self._sock.close()


# -- webhook ---------------------------------------------------------------------------------------------


def webhook(secret: str | None = None) -> Validator:
    """Any JSON body; with ``secret`` the X-Siaga-Signature must verify (401 otherwise)."""

    def validate(request: Recorded) -> Answer:
        try:
            request.json()
        except ValueError:
            return Answer(400, "not JSON")
        if secret is not None and not verify_signature(secret, request.headers, request.body):
            return Answer(401, "bad signature")
        return Answer(200, "thanks")

    return validate


def verify_signature(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does: recompute the HMAC over ``<timestamp>.<body>`` and compare in constant time."""
    timestamp = headers.get("X-Siaga-Timestamp", "")
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"sha256={expected}", headers.get("X-Siaga-Signature", ""))


# -- Slack -----------------------------------------------------------------------------------------------

_SLACK_BLOCKS = {"header", "section", "context", "divider", "actions", "image"}
_TEXT_TYPES = {"plain_text", "mrkdwn"}


def _text_object(value: Any, where: str, limit: int, *, plain_only: bool = False) -> list[str]:
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        return [f"{where}: not a text object"]
    allowed = {"plain_text"} if plain_only else _TEXT_TYPES
    problems = [] if value.get("type") in allowed else [f"{where}: type {value.get('type')!r}"]
    if not 1 <= len(value["text"]) <= limit:
        problems.append(f"{where}: text length {len(value['text'])} not in 1..{limit}")
    return problems


def slack_block_problems(blocks: Any) -> list[str]:
    """Block Kit rules for the blocks we use (types, text object kinds, length limits)."""
    if not isinstance(blocks, list) or len(blocks) > 50:
        return ["blocks must be a list of at most 50"]
    problems: list[str] = []
    for index, block in enumerate(blocks):
        where = f"blocks[{index}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in _SLACK_BLOCKS:
            problems.append(f"{where}: unknown type {kind!r}")
            continue
        if kind == "header":
            problems += _text_object(block.get("text"), where, 150, plain_only=True)
        elif kind == "section":
            if "text" in block:
                problems += _text_object(block["text"], where, 3000)
            elif not block.get("fields"):
                problems.append(f"{where}: section without text or fields")
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                problems.append(f"{where}: context needs 1..10 elements")
            else:
                for number, element in enumerate(elements):
                    problems += _text_object(element, f"{where}.elements[{number}]", 3000)
        elif kind == "actions":
            for number, element in enumerate(block.get("elements") or []):
                problems += _text_object(
                    element.get("text"), f"{where}.elements[{number}]", 75, plain_only=True
                )
    return problems


def slack_problems(data: Any) -> list[str]:
    if not isinstance(data, dict):
        return ["not an object"]
    if not (data.get("text") or data.get("blocks") or data.get("attachments")):
        return ["no_text"]
    problems: list[str] = []
    if "text" in data and (not isinstance(data["text"], str) or len(data["text"]) > 40000):
        problems.append("text must be a string of at most 40000 characters")
    if "blocks" in data:
        problems += slack_block_problems(data["blocks"])
    for attachment in data.get("attachments") or []:
        colour = attachment.get("color", "#000000")
        if not re.fullmatch(r"#[0-9a-fA-F]{6}|good|warning|danger", colour):
            problems.append(f"attachment colour {colour!r}")
        problems += slack_block_problems(attachment.get("blocks", []))
    return problems


def slack(request: Recorded) -> Answer:
    """Slack incoming webhook: ``ok``, or ``invalid_payload`` / ``invalid_blocks`` / ``no_text`` (400)."""
    try:
        data = request.json()
    except ValueError:
        return Answer(400, "invalid_payload")
    problems = slack_problems(data)
    if problems == ["no_text"]:
        return Answer(400, "no_text")
    if problems:
        return Answer(400, "invalid_blocks", {"X-Problems": "; ".join(problems)[:500]})
    return Answer(200, "ok")


# -- Telegram --------------------------------------------------------------------------------------------

_TELEGRAM_TAGS = {"b", "i", "u", "s", "a", "code", "pre"}
_HTML_TOKEN = re.compile(
    r"<(?P<close>/)?(?P<name>[a-zA-Z][a-zA-Z0-9-]*)(?P<attrs>(?:\s+[a-z-]+=\"[^\"<>]*\")*)\s*>"
    r"|(?P<entity>&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)"
    r"|(?P<stray>[<>&])"
)


def telegram_html_problems(text: str) -> list[str]:
    """Telegram's HTML mode: only its tags, balanced and properly nested, every <, > and & escaped."""
    problems: list[str] = []
    stack: list[str] = []
    for match in _HTML_TOKEN.finditer(text):
        if match["stray"]:
            problems.append(f"unescaped {match['stray']!r} at {match.start()}")
        elif match["name"]:
            name = match["name"].lower()
            if name not in _TELEGRAM_TAGS:
                problems.append(f"unsupported tag <{name}>")
            elif match["close"]:
                if not stack or stack[-1] != name:
                    problems.append(f"unexpected </{name}>")
                else:
                    stack.pop()
            else:
                if name == "a" and "href=" not in match["attrs"]:
                    problems.append("<a> without href")
                if name != "a" and match["attrs"]:
                    problems.append(f"<{name}> with attributes")
                stack.append(name)
    problems += [f"unclosed <{name}>" for name in stack]
    return problems


def telegram(token: str) -> Validator:
    """Bot API ``sendMessage`` for the bot with ``token``."""
    sent = 0

    def fail(code: int, description: str) -> Answer:
        return json_answer(code, {"ok": False, "error_code": code, "description": description})

    def validate(request: Recorded) -> Answer:
        nonlocal sent
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", request.path)
        if match is None or match[2] != "sendMessage":
            return fail(404, "Not Found")
        if match[1] != token:
            return fail(401, "Unauthorized")
        try:
            data = request.json()
        except ValueError:
            return fail(400, "Bad Request: invalid JSON")
        text = data.get("text")
        if not data.get("chat_id"):
            return fail(400, "Bad Request: chat_id is empty")
        if not isinstance(text, str) or not text.strip():
            return fail(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return fail(400, "Bad Request: message is too long")
        if data.get("parse_mode") != "HTML":
            return fail(400, "Bad Request: this receiver expects parse_mode HTML")
        problems = telegram_html_problems(text)
        if problems:
            return fail(400, f"Bad Request: can't parse entities: {problems[0]}")
        sent += 1
        chat = {"id": data["chat_id"], "type": "private"}
        return json_answer(200, {"ok": True, "result": {"message_id": sent, "chat": chat, "text": text}})

    return validate


# -- PagerDuty -------------------------------------------------------------------------------------------

_PD_KEYS = {"routing_key", "event_action", "dedup_key", "payload", "images", "links", "client", "client_url"}
_PD_PAYLOAD_KEYS = {
    "summary", "source", "severity", "timestamp", "component", "group", "class", "custom_details",
}  # fmt: skip


def pagerduty_problems(data: Any) -> list[str]:
    """Events API v2 rules (alert events)."""
    if not isinstance(data, dict):
        return ["Event object is not a JSON object"]
    problems = [f"unknown field '{key}'" for key in set(data) - _PD_KEYS]
    key = data.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        problems.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = data.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        problems.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    dedup = data.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not 1 <= len(dedup) <= 255):
        problems.append("'dedup_key' must be a string of 1 to 255 characters")
    if action in ("acknowledge", "resolve") and dedup is None:
        problems.append("'dedup_key' is required for acknowledge and resolve")
    if action != "trigger":
        return problems
    payload = data.get("payload")
    if not isinstance(payload, dict):
        return [*problems, "'payload' is missing or invalid"]
    problems += [f"unknown payload field '{key}'" for key in set(payload) - _PD_PAYLOAD_KEYS]
    summary = payload.get("summary")
    if not isinstance(summary, str) or not 1 <= len(summary) <= 1024:
        problems.append("'payload.summary' must be 1 to 1024 characters")
    if not isinstance(payload.get("source"), str) or not payload["source"]:
        problems.append("'payload.source' is missing or blank")
    if payload.get("severity") not in ("critical", "error", "warning", "info"):
        problems.append("'payload.severity' is invalid (must be one of: critical, error, warning, info)")
    if "timestamp" in payload:
        try:
            datetime.fromisoformat(payload["timestamp"])
        except (TypeError, ValueError):
            problems.append("'payload.timestamp' is not ISO 8601")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
        problems.append("'payload.custom_details' must be an object")
    for link in data.get("links") or []:
        if not isinstance(link, dict) or not isinstance(link.get("href"), str):
            problems.append("'links' entries need an href")
    return problems


def pagerduty(request: Recorded) -> Answer:
    """``POST /v2/enqueue``: 202 with the dedup_key, or 400 ``invalid event`` with the errors."""
    if request.path != "/v2/enqueue":
        return json_answer(404, {"status": "not found"})
    if "application/json" not in request.headers.get("Content-Type", ""):
        return json_answer(400, {"status": "invalid event", "message": "Content-Type must be JSON"})
    try:
        data = request.json()
    except ValueError:
        return json_answer(400, {"status": "invalid event", "message": "Event object is invalid"})
    problems = pagerduty_problems(data)
    if problems:
        answer = {"status": "invalid event", "message": "Event object is invalid", "errors": problems}
        return json_answer(400, answer)
    dedup = data.get("dedup_key") or "generated-by-receiver"
    return json_answer(202, {"status": "success", "message": "Event processed", "dedup_key": dedup})


# -- SMTP ------------------------------------------------------------------------------------------------


@dataclass
class Mailbox:
    """What the SMTP server received; ``refuse_rcpt`` / ``credentials`` change how it answers."""

    messages: list[tuple[Envelope, EmailMessage]] = field(default_factory=list)
    refuse_rcpt: str | None = None  # e.g. "550 5.1.1 no such user"
    credentials: tuple[str, str] | None = None
    logins: list[str] = field(default_factory=list)
    sessions: list[SMTP] = field(default_factory=list)  # one per connection made to the server

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((envelope, parsed))
        return "250 Message accepted"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if self.credentials is None or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = (auth_data.login.decode(), auth_data.password.decode())
        if login == self.credentials:
            self.logins.append(login[0])
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@asynccontextmanager
async def smtp_server(mailbox: Mailbox) -> AsyncIterator[int]:
    """An aiosmtpd server in this event loop on 127.0.0.1 and a free port; yields the port.

    AUTH is offered without TLS only when ``mailbox.credentials`` is set (tests have no certificates).
    """
    loop = asyncio.get_running_loop()

    def protocol() -> SMTP:
        session = SMTP(
            mailbox,
            hostname="receiver.test",
            loop=loop,
            authenticator=mailbox.authenticate if mailbox.credentials else None,
            auth_require_tls=mailbox.credentials is None,
        )
        mailbox.sessions.append(session)
        return session

    server = await loop.create_server(protocol, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
