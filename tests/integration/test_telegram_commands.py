"""Telegram commands end to end on both engines: the real polling loop against a local stand-in of the Bot
API that serves getUpdates long polls from a queue and checks every sendMessage against the documented
format, with incidents opened through services.ingest and services' states from heartbeat pings."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import pytest
from aiohttp import web
from fastapi.testclient import TestClient

from siaga.api.app import create_app
from siaga.bootstrap import Container
from siaga.domain.alerts import AlertIn, AlertStatus
from siaga.runtime.telegram_bot import PollBackoff, TelegramCommands
from siaga.services import chatops, checks, incidents, ingest
from siaga.services.checks import PlanCache
from siaga.services.policy import Policy
from siaga.spec import parse_spec
from tests.integration.channels import receivers
from tests.integration.channels.receivers import Answer, Recorded, json_answer

TOKEN = "7310452211:AAH-sEcReT-chatops-token-0123456789ab"
USERNAME = "Siaga_Test_Bot"
ADMIN_CHAT = 1001
STRANGER_CHAT = 666
WITHIN = 1.0  # seconds: the bound from a command reaching Telegram to Siaga's answer
FAST = PollBackoff(first=0.05, cap=0.2)
T = TypeVar("T")

SPEC = """
version: 1
project: {name: prisma-chatops}
severities:
  - {name: P1, aliases: [critical], ack_within: 15m, resolve_within: 1h}
  - {name: P2, resolve_within: 4h}
  - {name: P3, resolve_within: 24h}
channels:
  admin-telegram:
    type: telegram
    bot_token: "${BOT_TOKEN}"
    chat_id: "${ADMIN_CHAT_ID}"
    api_url: "${BOT_API_URL}"
    commands: {enabled: true, allowed_chats: ["${ADMIN_CHAT_ID}"]}
routes:
  - notify: [admin-telegram]
services:
  database:
    checks: [{name: beat, heartbeat: {period: 5m}, severity: P3}]
  api:
    depends_on: [database]
    checks: [{name: beat, heartbeat: {period: 5m}, severity: P3}]
  web:
    checks: [{name: beat, heartbeat: {period: 5m}, severity: P3}]
  chatbot: {}
"""

# -- the Bot API stand-in -------------------------------------------------------------------------------

_UPDATE_TYPES = {"message", "edited_message", "channel_post", "edited_channel_post", "callback_query"}
_GET_UPDATES = {"offset", "limit", "timeout", "allowed_updates"}
# sendMessage's documented parameters (Bot API 9.x), and the deprecated ones Telegram still accepts.
_SEND_MESSAGE = {
    "business_connection_id", "chat_id", "message_thread_id", "direct_messages_topic_id", "text",
    "parse_mode", "entities", "link_preview_options", "disable_notification", "protect_content",
    "allow_paid_broadcast", "message_effect_id", "suggested_post_parameters", "reply_parameters",
    "reply_markup", "reply_to_message_id", "allow_sending_without_reply", "disable_web_page_preview",
}  # fmt: skip
_REPLY_PARAMETERS = {"message_id", "chat_id", "allow_sending_without_reply", "quote", "quote_parse_mode"}


def _fail(code: int, description: str, **parameters: Any) -> Answer:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return json_answer(code, body)


def _ok(result: Any) -> Answer:
    return json_answer(200, {"ok": True, "result": result})


@dataclass(frozen=True)
class Reply:
    payload: dict[str, Any]
    at: float  # loop time it arrived

    @property
    def text(self) -> str:
        return str(self.payload["text"])

    @property
    def replied_to(self) -> int | None:
        parameters = self.payload.get("reply_parameters")
        return parameters["message_id"] if parameters else self.payload.get("reply_to_message_id")


class BotApi:
    """One bot: updates are queued by the test and handed out by getUpdates as Telegram does (offset
    confirms, a negative offset keeps only the last updates, a long poll answers as soon as one is queued or
    after ``timeout``, a second poller ends the first with 409); sendMessage is checked and recorded."""

    def __init__(self, token: str = TOKEN, username: str = USERNAME) -> None:
        self.token = token
        self.username = username
        self.url = ""
        self.polls: list[dict[str, Any]] = []
        self.replies: asyncio.Queue[Reply] = asyncio.Queue()
        self.rejected: list[tuple[Recorded, Answer]] = []
        self.long_polling = asyncio.Event()  # a long poll is waiting with nothing pending
        self.script: deque[Answer] = deque()  # answers for the next getUpdates calls
        self.send_script: deque[Answer] = deque()  # answers for the next sendMessage calls
        self._pending: list[dict[str, Any]] = []
        self._messages: set[tuple[str, int]] = set()
        self._next_update = 724_000
        self._next_message = 0
        self._generation = 0
        self._wakeup = asyncio.Event()
        self._closing = asyncio.Event()
        self._sendmessage = receivers.telegram(token)

    def queue(self, text: str, *, chat: int = ADMIN_CHAT, username: str | None = "andi") -> tuple[int, float]:
        """A user's message; returns its message_id and the loop time it was queued."""
        self._next_update += 1
        self._next_message += 1
        user: dict[str, Any] = {"id": chat * 10, "is_bot": False, "first_name": "Andi"}
        if username:
            user["username"] = username
        message: dict[str, Any] = {
            "message_id": self._next_message,
            "from": user,
            "chat": {"id": chat, "type": "private", "first_name": "Andi"},
            "date": int(time.time()),
            "text": text,
        }
        command = re.match(r"/\S+", text)
        if command:
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command.group())}]
        self._messages.add((str(chat), self._next_message))
        self._pending.append({"update_id": self._next_update, "message": message})
        self._wake()
        return self._next_message, asyncio.get_running_loop().time()

    async def reply(self, timeout: float = 5.0) -> Reply:
        return await asyncio.wait_for(self.replies.get(), timeout)

    def _wake(self) -> None:
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        recorded = Recorded(request.method, request.path_qs, dict(request.headers), body)
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", request.path)
        if match is None:
            answer = _fail(404, "Not Found")
        elif match[1] != self.token:
            answer = _fail(401, "Unauthorized")
        else:
            try:
                params = _params(request, body)
            except ValueError as exc:
                answer = _fail(400, f"Bad Request: {exc}")
            else:
                answer = await self._method(match[2].lower(), params, recorded)
        if answer.status >= 400:
            self.rejected.append((recorded, answer))
        return answer.response()

    async def _method(self, method: str, params: dict[str, Any], recorded: Recorded) -> Answer:
        if method == "getme":
            return _ok({"id": 7310452211, "is_bot": True, "first_name": "Siaga", "username": self.username})
        if method == "getupdates":
            self.polls.append(params)
            if self.script:
                return self.script.popleft()
            return await self._get_updates(params)
        if method == "sendmessage":
            if self.send_script:
                return self.send_script.popleft()
            return self._send_message(params, recorded)
        return _fail(404, "Not Found: method not found")

    async def _get_updates(self, params: dict[str, Any]) -> Answer:
        problems = [f"unexpected parameter {key}" for key in set(params) - _GET_UPDATES]
        offset, limit, timeout = params.get("offset"), params.get("limit", 100), params.get("timeout", 0)
        if offset is not None and not isinstance(offset, int):
            problems.append("offset must be an integer")
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            problems.append("limit must be 1-100")
        if not isinstance(timeout, int) or timeout < 0:
            problems.append("timeout must be a non-negative integer")
        allowed = params.get("allowed_updates", [])
        if not isinstance(allowed, list) or not set(allowed) <= _UPDATE_TYPES:
            problems.append("allowed_updates must list update types")
        if problems:
            return _fail(400, f"Bad Request: {problems[0]}")
        self._generation += 1
        mine = self._generation
        self._wake()  # an older long poll still waiting is now in conflict with this one
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if mine != self._generation:
                return _fail(409, "Conflict: terminated by other getUpdates request")
            if isinstance(offset, int) and offset < 0:
                self._pending = self._pending[offset:]  # "all previous updates will be forgotten"
            elif isinstance(offset, int):
                self._pending = [u for u in self._pending if u["update_id"] >= offset]
            ready = self._pending[:limit]
            left = deadline - asyncio.get_running_loop().time()
            if ready or left <= 0 or self._closing.is_set():
                return _ok(ready)
            wakeup = self._wakeup
            self.long_polling.set()
            try:
                await asyncio.wait_for(wakeup.wait(), left)
            except TimeoutError:
                pass
            finally:
                self.long_polling.clear()

    def _send_message(self, params: dict[str, Any], recorded: Recorded) -> Answer:
        unknown = set(params) - _SEND_MESSAGE
        if unknown:
            return _fail(400, f"Bad Request: unexpected parameter {sorted(unknown)[0]}")
        answer = self._sendmessage(dataclasses.replace(recorded, body=json.dumps(params).encode()))
        if answer.status != 200:
            return answer
        reply_to = params.get("reply_parameters")
        if reply_to is not None:
            if not isinstance(reply_to, dict) or not isinstance(reply_to.get("message_id"), int):
                return _fail(400, "Bad Request: can't parse reply parameters JSON object")
            if set(reply_to) - _REPLY_PARAMETERS:
                return _fail(400, "Bad Request: unexpected field in reply_parameters")
            known = (str(params["chat_id"]), reply_to["message_id"]) in self._messages
            if not known and reply_to.get("allow_sending_without_reply") is not True:
                return _fail(400, "Bad Request: message to be replied not found")
        self.replies.put_nowait(Reply(params, asyncio.get_running_loop().time()))
        return answer

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[BotApi]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(runner, sock)
        await site.start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        try:
            yield self
        finally:
            self._closing.set()  # long polls still open answer now, so the server stops at once
            self._wake()
            await runner.cleanup()
            sock.close()


def _params(request: web.Request, body: bytes) -> dict[str, Any]:
    """The Bot API takes parameters in the query string, as a form, or as a JSON body."""
    params: dict[str, Any] = dict(parse_qsl(request.query_string))
    kind = request.headers.get("Content-Type", "")
    if body and "application/json" in kind:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("the JSON body must be an object")
        return {**params, **data}
    if body and "application/x-www-form-urlencoded" in kind:
        params.update(parse_qsl(body.decode()))
    for key, value in params.items():  # form and query values are strings, JSON-serialized when structured
        if isinstance(value, str) and re.fullmatch(r"-?\d+|\[.*\]|\{.*\}", value):
            params[key] = json.loads(value)
    return params


# -- the rig -------------------------------------------------------------------------------------------


def run(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(scenario())


@pytest.fixture(autouse=True)
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record of the test, at every level; none may show the bot token."""
    caplog.set_level(logging.DEBUG)
    yield caplog
    secret = TOKEN.split(":", 1)[1]
    for record in caplog.records:
        shown = record.getMessage() + (record.exc_text or "")
        assert secret not in shown, f"the bot token leaked into the log: {record.name}"
    assert secret not in caplog.text


def wired(container: Container, api: BotApi) -> Container:
    env = {"BOT_TOKEN": TOKEN, "BOT_API_URL": api.url, "ADMIN_CHAT_ID": str(ADMIN_CHAT)}
    spec = parse_spec(SPEC, filename="chatops.yaml", env=env)
    return dataclasses.replace(
        container, spec=spec, policy=Policy.from_spec(spec), plans=PlanCache(), outbox_listeners=[]
    )


def alert(wire: Container, *, service: str, severity: str, summary: str, ago: timedelta) -> int:
    now = wire.clock.now() - ago
    labels = {"alertname": f"{service.title()}Trouble", "service": service, "severity": severity}
    firing = AlertIn(
        labels=labels, annotations={"summary": summary}, status=AlertStatus.FIRING, starts_at=now
    )
    result = ingest.ingest(
        uow=wire.db, policy=wire.policy, alerts=[firing], source="test", actor="test", now=now
    )
    return result.opened[0]


def ping(wire: Container, service: str, kind: str) -> None:
    plan = wire.check_plan()
    token = next(c.push_token for c in plan.checks if c.service == service)
    assert token is not None
    now = wire.clock.now() - timedelta(minutes=1)
    assert checks.ping(uow=wire.db, policy=wire.policy, plan=plan, token=token, kind=kind, now=now)


def incident(wire: Container, incident_id: int) -> dict[str, Any]:
    return incidents.get_incident(uow=wire.db, incident_id=incident_id)


@asynccontextmanager
async def polling(wire: Container, api: BotApi) -> AsyncIterator[TelegramCommands]:
    """The real loop, from its first long poll (the backlog skipped) until it stopped."""
    commands = TelegramCommands(wire, backoff=FAST)
    stop = asyncio.Event()
    task = asyncio.create_task(commands.run(stop))
    waiting = asyncio.create_task(api.long_polling.wait())
    await asyncio.wait({task, waiting}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    assert not task.done(), "the loop ended"
    assert api.long_polling.is_set(), "the loop did not start long-polling"
    try:
        yield commands
    finally:
        stop.set()
        loop = asyncio.get_running_loop()
        asked = loop.time()
        await asyncio.wait_for(task, 5)
        assert loop.time() - asked < WITHIN, "stopping waited for the long poll to end"


async def command(api: BotApi, text: str, **sender: Any) -> tuple[Reply, float]:
    """Queue ``text``; return Siaga's reply to it and how long it took."""
    message_id, queued_at = api.queue(text, **sender)
    answer = await api.reply()
    assert answer.replied_to == message_id, f"the reply went to message {answer.replied_to}"
    return answer, answer.at - queued_at


def _lines(text: str) -> list[str]:
    return text.split("\n")


# -- tests -----------------------------------------------------------------------------------------------


def test_status_and_incidents_list_the_right_things(
    container: Container, record_property: Callable[[str, object], None]
) -> None:
    async def scenario() -> None:
        async with BotApi().serving() as api:
            wire = wired(container, api)
            first = alert(
                wire,
                service="database",
                severity="P2",
                summary="Replica <lag> & drift",
                ago=timedelta(hours=3, minutes=5),
            )
            second = alert(
                wire, service="web", severity="critical", summary="Checkout down", ago=timedelta(seconds=40)
            )
            ping(wire, "database", "fail")  # database: down (its heartbeat alert fires); api: impacted
            ping(wire, "web", "success")
            opened = incidents.list_incidents(uow=wire.db, statuses=["triggered", "acknowledged"])
            async with polling(wire, api):
                status, status_took = await command(api, "/status")
                listing, listing_took = await command(api, "/incidents@siaga_test_bot")
            assert not api.rejected
            record_property("reply_seconds", max(status_took, listing_took))
            assert status_took < WITHIN
            assert listing_took < WITHIN

        assert status.payload["parse_mode"] == "HTML"
        assert status.payload["chat_id"] == ADMIN_CHAT
        assert _lines(status.text) == [
            "<b>prisma-chatops</b> · 4 services: 1 down, 1 impacted, 1 unknown, 1 up",
            "✕ down · <b>database</b>",
            "◎ impacted · <b>api</b> (by database)",
            "? unknown · <b>chatbot</b>",
            "● up · <b>web</b>",
            "",
            f"{len(opened)} open incidents: /incidents",
        ]
        assert len(opened) == 3  # the two alerts' incidents and the database heartbeat's
        lines = _lines(listing.text)
        assert lines[0] == "<b>3 open incidents</b>"
        # Most urgent first: the P1 (written `critical`), then the P2, then the heartbeat's P3.
        assert lines[1] == f"<b>#{second}</b> P1 · triggered · 40s · Checkout down [web]"
        assert (
            lines[2] == f"<b>#{first}</b> P2 · triggered · 3h05m · Replica &lt;lag&gt; &amp; drift [database]"
        )
        assert lines[3].startswith("<b>#3</b> P3 · triggered · 1m · ")
        assert len(lines) == 4

    run(scenario)


def test_incidents_lists_the_20_most_urgent(container: Container) -> None:
    async def scenario() -> str:
        async with BotApi().serving() as api:
            wire = wired(container, api)
            now = wire.clock.now()
            storm = [
                AlertIn(
                    labels={
                        "alertname": f"Trouble{n}",
                        "service": "web",
                        "severity": "P1" if n % 8 == 0 else "P3",
                    },
                    status=AlertStatus.FIRING,
                    starts_at=now,
                )
                for n in range(30)
            ]
            ingest.ingest(uow=wire.db, policy=wire.policy, alerts=storm, source="test", actor="test", now=now)
            async with polling(wire, api):
                answer, _ = await command(api, "/incidents")
            return answer.text

    lines = _lines(run(scenario))
    assert lines[0] == "<b>30 open incidents</b>, the 20 most urgent:"
    assert len(lines) == 21
    assert [" P1 · " in line for line in lines[1:6]] == [True, True, True, True, False]


def test_ack_and_resolve_from_the_allowed_chat_change_the_incident(container: Container) -> None:
    woken: list[str] = []

    async def scenario() -> tuple[Reply, Reply]:
        async with BotApi().serving() as api:
            wire = wired(container, api)
            wire.outbox_listeners.append(lambda: woken.append("woken"))
            number = alert(
                wire, service="database", severity="P1", summary="Primary down", ago=timedelta(minutes=3)
            )
            assert number == 1
            async with polling(wire, api):
                ack, ack_took = await command(api, "/ack 1")
                assert incident(wire, 1)["status"] == "acknowledged"
                resolve, resolve_took = await command(api, "/resolve@Siaga_Test_Bot #1 restarted the primary")
            assert ack_took < WITHIN
            assert resolve_took < WITHIN
            assert not api.rejected
            return ack, resolve

    ack, resolve = run(scenario)
    assert ack.text == "Acknowledged <b>#1</b> · Primary down (as telegram:andi)"
    assert resolve.text == "Resolved <b>#1</b> · Primary down (as telegram:andi)"
    assert resolve.payload["reply_parameters"]["allow_sending_without_reply"] is True
    done = incident(container, 1)
    assert done["status"] == "resolved"
    assert done["acknowledged_by"] == "telegram:andi"
    assert done["resolved_by"] == "telegram:andi"
    changes = [(e["actor"], e["message"]) for e in done["timeline"] if e["kind"] == "status"]
    assert changes[-2:] == [
        ("telegram:andi", "acknowledged"),
        ("telegram:andi", "resolved: restarted the primary"),
    ]
    assert len(woken) == 2  # the dispatcher is told each time: acknowledge/resolve messages were queued


def test_a_sender_without_a_username_is_named_by_id(container: Container) -> None:
    async def scenario() -> None:
        async with BotApi().serving() as api:
            wire = wired(container, api)
            alert(wire, service="web", severity="P3", summary="Slow pages", ago=timedelta(minutes=1))
            async with polling(wire, api):
                answer, _ = await command(api, "/ack 1", username=None)
            assert answer.text.endswith("(as telegram:10010)")

    run(scenario)
    assert incident(container, 1)["acknowledged_by"] == "telegram:10010"


def test_other_chats_change_nothing(container: Container, logs: pytest.LogCaptureFixture) -> None:
    async def scenario() -> Reply:
        async with BotApi().serving() as api:
            wire = wired(container, api)
            alert(wire, service="database", severity="P1", summary="Primary down", ago=timedelta(minutes=3))
            async with polling(wire, api):
                refused, took = await command(api, "/ack 1", chat=STRANGER_CHAT, username="mallory")
                listing, _ = await command(api, "/incidents", chat=STRANGER_CHAT, username="mallory")
            assert took < WITHIN
            assert listing.text == refused.text  # no information either
            assert not api.rejected
            return refused

    refused = run(scenario)
    assert refused.payload["chat_id"] == STRANGER_CHAT
    assert refused.text == "This chat (666) may not command Siaga: list it in commands.allowed_chats."
    after = incident(container, 1)
    assert after["status"] == "triggered"
    assert after["acknowledged_by"] is None
    assert not [e for e in after["timeline"] if e["actor"].startswith("telegram:")]
    warnings = [r.getMessage() for r in logs.records if r.levelno == logging.WARNING]
    assert any("chat 666 is not allowed" in line and "mallory" in line for line in warnings)


def test_mistakes_get_one_line_answers_and_other_bots_commands_are_left_alone(container: Container) -> None:
    async def scenario() -> list[str]:
        async with BotApi().serving() as api:
            wire = wired(container, api)
            alert(wire, service="database", severity="P1", summary="Primary down", ago=timedelta(minutes=3))
            texts = []
            async with polling(wire, api):
                for text in (
                    "/ack 999",
                    "/ack",
                    "/ack twelve",
                    "/resolve 1",
                    "/resolve 1",
                    "/ack 1",
                    "/uptime",
                ):
                    answer, took = await command(api, text)
                    assert took < WITHIN
                    texts.append(answer.text)
                api.queue("good morning, is the database ok?")
                api.queue("/status@other_bot")
                help_text, _ = await command(api, "/help")  # the next reply answers this one
                texts.append(help_text.text)
            assert not api.rejected
            return texts

    texts = run(scenario)
    assert texts[:7] == [
        "no incident 999",
        "Usage: /ack ID, e.g. /ack 12",
        "Usage: /ack ID, e.g. /ack 12",
        "Resolved <b>#1</b> · Primary down (as telegram:andi)",
        "#1: cannot resolve an incident that is resolved",
        "#1: cannot acknowledge an incident that is resolved",
        "Unknown command /uptime; /help lists the commands.",
    ]
    assert all("\n" not in text for text in texts[:7])
    assert texts[7] == chatops.HELP


def test_commands_sent_before_polling_started_are_skipped(container: Container) -> None:
    async def scenario() -> Reply:
        async with BotApi().serving() as api:
            wire = wired(container, api)
            alert(wire, service="database", severity="P1", summary="Primary down", ago=timedelta(minutes=3))
            api.queue("/ack 1")  # sent while Siaga was down
            api.queue("/resolve 1")
            async with polling(wire, api):
                answer, _ = await command(api, "/status")
            assert api.polls[0] == {"offset": -1, "timeout": 0}
            later = api.polls[1]
            assert later["allowed_updates"] == ["message"]
            assert later["timeout"] == 25
            assert later["offset"] == 724_003  # one past the skipped /resolve
            return answer

    assert run(scenario).text.startswith("<b>prisma-chatops</b>")
    assert incident(container, 1)["status"] == "triggered"


def test_failures_back_off_recover_and_never_show_the_token(
    container: Container, logs: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> list[str]:
        async with BotApi().serving() as api:
            wire = wired(container, api)
            alert(wire, service="database", severity="P1", summary="Primary down", ago=timedelta(minutes=3))
            api.script.extend(
                [
                    Answer(502, "<html>Bad Gateway</html>", content_type="text/html"),
                    _fail(429, "Too Many Requests: retry after 0", retry_after=0),
                    _fail(401, f"Unauthorized: /bot{TOKEN}/getUpdates"),  # a proxy quoting the URL back
                    _fail(409, "Conflict: can't use getUpdates method while webhook is active"),
                ]
            )
            async with polling(wire, api):
                api.send_script.append(_fail(500, "Internal Server Error"))
                api.queue("/ack 1")  # carried out; its answer is lost, and the command is not run again
                answer, took = await command(api, "/incidents")
                assert took < WITHIN
            assert api.polls[0] == api.polls[4] == {"offset": -1, "timeout": 0}  # each failed one retried
            return [answer.text]

    texts = run(scenario)
    assert "#1</b> P1 · acknowledged" in texts[0]
    assert incident(container, 1)["acknowledged_by"] == "telegram:andi"
    warnings = [r.getMessage() for r in logs.records if r.levelno == logging.WARNING]
    retries = [line for line in warnings if "retrying in" in line]
    assert len(retries) == 4
    assert "HTTP 502, not a Bot API answer" in retries[0]
    assert "401 Unauthorized: /bot***/getUpdates" in retries[2]
    assert any("reply to chat 1001 not sent" in line for line in warnings)
    assert all("admin-telegram" in line for line in retries)  # named by channel, not by token


class _Retries(logging.Handler):
    """Sets ``enough`` once the loop has logged ``count`` retries (it logs from the loop's own thread)."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count
        self.enough = asyncio.Event()
        self.delays: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        found = re.search(r"retrying in ([\d.]+)s", record.getMessage())
        if found:
            self.delays.append(float(found[1]))
            if len(self.delays) >= self.count:
                self.enough.set()


def test_an_unreachable_api_backs_off_without_ending_the_loop(container: Container) -> None:
    async def scenario() -> list[float]:
        retries = _Retries(4)
        logger = logging.getLogger("siaga.runtime.telegram_bot")
        logger.addHandler(retries)
        try:
            with receivers.refused_port() as port:
                env = {"BOT_TOKEN": TOKEN, "BOT_API_URL": f"http://127.0.0.1:{port}", "ADMIN_CHAT_ID": "1001"}
                spec = parse_spec(SPEC, env=env)
                wire = dataclasses.replace(
                    container, spec=spec, policy=Policy.from_spec(spec), plans=PlanCache()
                )
                stop = asyncio.Event()
                task = asyncio.create_task(TelegramCommands(wire, backoff=FAST).run(stop))
                await asyncio.wait_for(retries.enough.wait(), 10)
                assert not task.done()
                stop.set()
                await asyncio.wait_for(task, 5)
        finally:
            logger.removeHandler(retries)
        return retries.delays

    assert run(scenario)[:4] == [0.05, 0.1, 0.2, 0.2]  # doubling up to the cap


def test_stopping_does_not_wait_for_a_silent_api(container: Container) -> None:
    async def scenario() -> float:
        asked = asyncio.Event()
        held: list[asyncio.StreamWriter] = []

        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            held.append(writer)
            await reader.readuntil(b"\r\n\r\n")  # a request came in: never answer it
            asked.set()
            await reader.read()

        server = await asyncio.start_server(hold, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        env = {"BOT_TOKEN": TOKEN, "BOT_API_URL": url, "ADMIN_CHAT_ID": "1001"}
        spec = parse_spec(SPEC, env=env)
        wire = dataclasses.replace(container, spec=spec, policy=Policy.from_spec(spec), plans=PlanCache())
        stop = asyncio.Event()
        task = asyncio.create_task(TelegramCommands(wire, backoff=FAST).run(stop))
        await asyncio.wait_for(asked.wait(), 5)  # the loop now waits on getMe, which gets no answer
        loop = asyncio.get_running_loop()
        stopping = loop.time()
        stop.set()
        await asyncio.wait_for(task, 5)
        took = loop.time() - stopping
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()
        return took

    assert run(scenario) < WITHIN


@contextmanager
def threaded_bot_api() -> Iterator[tuple[BotApi, asyncio.AbstractEventLoop]]:
    """The stand-in on its own loop in a thread, for a Siaga app that runs its loop elsewhere."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    done: asyncio.Future[None] | None = None
    holder: list[BotApi] = []

    async def serve() -> None:
        nonlocal done
        done = loop.create_future()
        async with BotApi().serving() as api:
            holder.append(api)
            ready.set()
            await done

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield holder[0], loop
    finally:
        assert done is not None
        loop.call_soon_threadsafe(done.set_result, None)
        thread.join(10)
        loop.close()


def test_the_app_answers_commands_while_it_runs(container: Container) -> None:
    with threaded_bot_api() as (api, loop):
        wire = wired(container, api)
        app = create_app(wire, run_sweeper=False, watch_spec=False, dispatch=True)
        with TestClient(app):

            async def exchange() -> tuple[Reply, float]:
                await asyncio.wait_for(api.long_polling.wait(), 10)
                return await command(api, "/status")

            answer, took = asyncio.run_coroutine_threadsafe(exchange(), loop).result(15)
        assert not api.rejected
    assert answer.text.startswith("<b>prisma-chatops</b> · 4 services")
    assert took < WITHIN


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/status", chatops.Command("status", "", None)),
        ("/ACK@siaga_bot  12 ", chatops.Command("ack", "12", "siaga_bot")),
        ("/resolve 3 disk\nfreed", chatops.Command("resolve", "3 disk\nfreed", None)),
        ("status", None),
        ("/", None),
        ("a /status", None),
    ],
)
def test_parse(text: str, expected: chatops.Command | None) -> None:
    assert chatops.parse(text) == expected


def test_ages_read_in_two_units() -> None:
    spans = [
        timedelta(seconds=40),
        timedelta(minutes=12),
        timedelta(hours=3, minutes=5),
        timedelta(days=2, hours=4),
    ]
    assert [chatops.age(span) for span in spans] == ["40s", "12m", "3h05m", "2d4h"]
