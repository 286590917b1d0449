"""Local stand-ins for Slack, Telegram, PagerDuty, a webhook endpoint and an SMTP server.

Each HTTP receiver checks every request against the vendor's documented format and answers as the vendor
does — an invalid payload gets the vendor's error, so a test fails if Siaga sends something the real service
would refuse. Everything listens on 127.0.0.1 at a random port.
"""

from __future__ import annotations

import asyncio
import html.parser
import json
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message as EmailMessage
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller

from tests.integration.servers import free_port

# Telegram's HTML parse mode accepts these tags only (Bot API, "HTML style").
TELEGRAM_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "span",
    "tg-spoiler",
}
PAGERDUTY_ACTIONS = {"trigger", "acknowledge", "resolve"}
PAGERDUTY_SEVERITIES = {"critical", "error", "warning", "info"}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    at: float = field(default_factory=time.time)


class _TelegramHTML(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            self.problems.append(f"tag <{tag}> is not supported")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.problems.append(f"unbalanced </{tag}>")


def slack_problems(body: Any) -> list[str]:
    problems = []
    if not isinstance(body, dict) or not (body.get("text") or body.get("blocks") or body.get("attachments")):
        return ["no text, blocks or attachments"]
    blocks = list(body.get("blocks") or [])
    for attachment in body.get("attachments") or []:
        blocks += attachment.get("blocks") or []
    for block in blocks:
        kind = block.get("type")
        if kind not in {"header", "section", "context", "actions", "divider"}:
            problems.append(f"unknown block type {kind}")
        if kind == "header" and (block["text"]["type"] != "plain_text" or len(block["text"]["text"]) > 150):
            problems.append("header must be plain_text of at most 150 characters")
        if kind == "section" and len(block["text"]["text"]) > 3000:
            problems.append("section text longer than 3000")
    return problems


def pagerduty_problems(body: Any) -> list[str]:
    problems = []
    if len(str(body.get("routing_key", ""))) != 32:
        problems.append("routing_key must be 32 characters")
    action = body.get("event_action")
    if action not in PAGERDUTY_ACTIONS:
        problems.append(f"event_action {action!r}")
    if action in ("acknowledge", "resolve") and not body.get("dedup_key"):
        problems.append("acknowledge/resolve need dedup_key")
    if len(str(body.get("dedup_key", ""))) > 255:
        problems.append("dedup_key longer than 255")
    if action == "trigger":
        payload = body.get("payload") or {}
        if not payload.get("summary") or len(payload["summary"]) > 1024:
            problems.append("payload.summary required, at most 1024 characters")
        if not payload.get("source"):
            problems.append("payload.source required")
        if payload.get("severity") not in PAGERDUTY_SEVERITIES:
            problems.append(f"payload.severity {payload.get('severity')!r}")
    return problems


def telegram_problems(body: Any) -> list[str]:
    problems = []
    if not body.get("chat_id"):
        problems.append("chat_id required")
    text = body.get("text") or ""
    if not text or len(text) > 4096:
        problems.append("text must be 1-4096 characters")
    if body.get("parse_mode") == "HTML":
        checker = _TelegramHTML()
        checker.feed(text)
        problems += checker.problems + [f"unclosed <{tag}>" for tag in checker.stack]
    return problems


@dataclass
class HttpReceivers:
    """Slack at /slack/<name>, Telegram at /bot<token>/sendMessage, PagerDuty at /v2/enqueue, webhooks at
    /hook/<name>. ``fail_next`` makes the next N requests on a path prefix answer 503."""

    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    fail_next: dict[str, int] = field(default_factory=dict)
    delay: float = 0.0

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HttpReceivers:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(runner.cleanup())
            self._loop.close()

    def at(self, prefix: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path.startswith(prefix)]

    async def _handle(self, request: web.Request) -> web.Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        path = request.path
        for prefix, count in list(self.fail_next.items()):
            if path.startswith(prefix) and count > 0:
                self.fail_next[prefix] = count - 1
                return web.Response(status=503, text="try again")
        try:
            raw = await request.read()
        except ConnectionResetError:  # the sender was killed mid-request (crash tests): nothing arrived
            return web.Response(status=499, text="client gone")
        try:
            body = json.loads(raw)
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        with self._lock:
            self.received.append(Received(path, dict(request.headers), body))
        if path.startswith("/slack/"):
            return self._answer(path, slack_problems(body), web.Response(text="ok"), 400, "invalid_payload")
        if path == "/v2/enqueue":
            ok = web.json_response(
                {"status": "success", "message": "Event processed", "dedup_key": body.get("dedup_key")},
                status=202,
            )
            return self._answer(path, pagerduty_problems(body), ok, 400, "Invalid event")
        if path.startswith("/bot") and path.endswith("/sendMessage"):
            problems = telegram_problems(body)
            if problems:
                self.problems += [f"{path}: {p}" for p in problems]
                return web.json_response(
                    {"ok": False, "error_code": 400, "description": "Bad Request"}, status=400
                )
            return web.json_response(
                {"ok": True, "result": {"message_id": len(self.received), "text": body["text"]}}
            )
        if path.startswith("/hook/"):
            missing = [h for h in ("Idempotency-Key", "Content-Type") if h not in request.headers]
            problems = [f"missing header {h}" for h in missing]
            if body.get("version") != "1" or not body.get("kind"):
                problems.append("not a Siaga message")
            return self._answer(path, problems, web.Response(text="ok"), 400, "bad message")
        return web.Response(status=404, text="no such receiver")

    def _answer(
        self, path: str, problems: list[str], ok: web.Response, status: int, text: str
    ) -> web.Response:
        if problems:
            self.problems += [f"{path}: {p}" for p in problems]
            return web.Response(status=status, text=text)
        return ok


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default))
        )
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """A real SMTP server (aiosmtpd) that keeps what it receives."""

    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = _Inbox()
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?starttls=no"

    def start(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[EmailMessage]:
        return [message for rcpts, message in self.inbox.messages if address in rcpts]
