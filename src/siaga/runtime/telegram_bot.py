"""Telegram commands: long-poll every bot whose channel enables ``commands`` and answer through chatops.

One poller per distinct bot (Bot API base URL and token) among the Telegram channels with
``commands.enabled``. It asks ``getMe`` once (the bot's username, so ``/status@other_bot`` in a shared group
is left to the other bot), calls ``getUpdates`` with offset -1 once, then long-polls ``getUpdates``
(offset = last update_id + 1, ``timeout`` = poll_timeout, allowed_updates ``["message"]``). Each command
runs through ``chatops.handle`` in a worker thread (it reads and writes the database) and is answered with
``sendMessage`` in HTML parse mode, as a reply to the command.

Commands sent while no poller ran are skipped, not obeyed late: an ``/ack`` typed during an outage of
Siaga may no longer be what its sender wants once Siaga is back. So the offset lives in memory only; it
survives a spec reload, not a restart.

An update is confirmed (the offset moves past it) before its command runs, whether or not the answer then
goes out, so a command is never obeyed twice. Failures back off 1 s → 60 s and never end the loop. The
token is in every URL, so URLs are never logged and every error text is scrubbed of the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from siaga.bootstrap import Container
from siaga.integrations.channels.telegram import truncate_html
from siaga.integrations.channels.webhook import USER_AGENT, scrub, short_hash
from siaga.services import chatops
from siaga.spec import Spec, TelegramChannel

log = logging.getLogger(__name__)

SEND_TIMEOUT = 10.0
_POLL_SLACK = 10.0  # seconds a long poll may take beyond its own timeout before the client gives up
_MAX_ANSWER = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Bot:
    """One bot to poll: the channels sharing it (a bot answers one getUpdates poller at a time)."""

    api_url: str
    token: str = field(repr=False)
    poll_timeout: int  # seconds
    channels: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str]:
        return self.api_url, self.token

    @property
    def label(self) -> str:
        return f"{'+'.join(self.channels)} ({short_hash(self.token)})"

    def url(self, method: str) -> str:
        return f"{self.api_url}/bot{self.token}/{method}"


def bots(spec: Spec) -> list[Bot]:
    """The bots to poll for ``spec``: Telegram channels with commands enabled, grouped by base URL and token
    (the shortest poll_timeout among a bot's channels wins)."""
    grouped: dict[tuple[str, str], list[tuple[str, TelegramChannel]]] = {}
    for name, channel in spec.channels.items():
        if isinstance(channel, TelegramChannel) and channel.commands and channel.commands.enabled:
            key = (channel.api_url.rstrip("/"), channel.bot_token.get_secret_value())
            grouped.setdefault(key, []).append((name, channel))
    found = []
    for (api_url, token), members in grouped.items():
        timeout = min(int(c.commands.poll_timeout.total_seconds()) for _, c in members if c.commands)
        found.append(Bot(api_url, token, timeout, tuple(name for name, _ in members)))
    return found


@dataclass(frozen=True, slots=True)
class PollBackoff:
    first: float = 1.0
    cap: float = 60.0

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after ``failures`` failures in a row: doubling from ``first`` up to ``cap``."""
        return float(max(min(self.cap, self.first * 2 ** max(0, failures - 1)), retry_after or 0.0))


class BotApiError(Exception):
    """The Bot API answered ``ok: false`` (or not as the Bot API); the text holds no token."""

    def __init__(self, description: str, *, retry_after: float | None = None) -> None:
        super().__init__(description)
        self.retry_after = retry_after


async def _stopped(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds``; True as soon as ``stop`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()


class _Poller:
    def __init__(
        self,
        bot: Bot,
        container: Container,
        session: aiohttp.ClientSession,
        offsets: dict[tuple[str, str], int],
        backoff: PollBackoff,
    ) -> None:
        self._bot = bot
        self._container = container
        self._session = session
        self._offsets = offsets
        self._backoff = backoff
        self._username: str | None = None

    def _scrub(self, text: str) -> str:
        return scrub(text, [self._bot.url(""), self._bot.token])

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                updates = await self._next_updates(stop)
                failures = 0
                for update in updates:
                    await self._take(update)
            except (aiohttp.ClientError, TimeoutError, BotApiError) as exc:
                failures += 1
                wait = self._backoff.delay(failures, getattr(exc, "retry_after", None))
                detail = self._scrub(str(exc) or type(exc).__name__)
                log.warning("telegram bot %s: %s; retrying in %gs", self._bot.label, detail, wait)
                if await _stopped(stop, wait):
                    return
            except Exception as exc:  # noqa: BLE001 - a bug must not end command handling for good
                failures += 1
                wait = self._backoff.delay(failures)
                trace = self._scrub_lines("".join(traceback.format_exception(exc)))
                log.error("telegram bot %s failed; retrying in %gs\n%s", self._bot.label, wait, trace)
                if await _stopped(stop, wait):
                    return

    def _scrub_lines(self, text: str) -> str:
        return text.replace(self._bot.token, "***")

    async def _next_updates(self, stop: asyncio.Event) -> list[Mapping[str, Any]]:
        """The next updates, or none when ``stop`` is set first (the request in flight is then dropped:
        nothing is confirmed or changed until an answer has been read)."""
        fetching = asyncio.ensure_future(self._fetch())
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({fetching, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not fetching.done():
                fetching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await fetching
        return [] if fetching.cancelled() else fetching.result()

    async def _fetch(self) -> list[Mapping[str, Any]]:
        if self._username is None:
            me = await self._call("getMe", {}, timeout=SEND_TIMEOUT)
            self._username = str(me.get("username") or "") if isinstance(me, dict) else ""
        key = self._bot.key
        if key not in self._offsets:
            # Forget whatever was sent while nobody polled (see the module docstring).
            skip = {"offset": -1, "timeout": 0}
            backlog = self._updates(await self._call("getUpdates", skip, timeout=SEND_TIMEOUT))
            self._offsets[key] = max((int(u["update_id"]) + 1 for u in backlog), default=0)
            if backlog:
                log.info("telegram bot %s: skipped commands sent before it started polling", self._bot.label)
        payload: dict[str, Any] = {"timeout": self._bot.poll_timeout, "allowed_updates": ["message"]}
        if self._offsets[key]:
            payload["offset"] = self._offsets[key]
        result = await self._call("getUpdates", payload, timeout=self._bot.poll_timeout + _POLL_SLACK)
        return self._updates(result)

    @staticmethod
    def _updates(result: Any) -> list[Mapping[str, Any]]:
        if not isinstance(result, list):
            raise BotApiError("getUpdates did not answer a list of updates")
        return [u for u in result if isinstance(u, dict) and isinstance(u.get("update_id"), int)]

    async def _take(self, update: Mapping[str, Any]) -> None:
        key = self._bot.key
        self._offsets[key] = max(self._offsets.get(key, 0), int(update["update_id"]) + 1)
        message = update.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("text"), str):
            return
        chat = message.get("chat")
        if not isinstance(chat, dict) or "id" not in chat or chatops.parse(message["text"]) is None:
            return
        reply = await self._answer(message["text"], str(chat["id"]), _sender(message))
        if reply:
            await self._reply(chat["id"], message.get("message_id"), reply)

    async def _answer(self, text: str, chat_id: str, sender: str) -> str:
        try:
            return await asyncio.to_thread(self._handle, text, chat_id, sender)
        except Exception as exc:  # noqa: BLE001 - the sender gets a short answer; the trace goes to the log
            trace = self._scrub_lines("".join(traceback.format_exception(exc)))
            log.error("telegram bot %s: command from chat %s failed\n%s", self._bot.label, chat_id, trace)
            return "Sorry, that failed inside Siaga; see its log."

    def _handle(self, text: str, chat_id: str, sender: str) -> str:
        wired = self._container
        reply = chatops.handle(
            uow=wired.db,
            spec=wired.spec,
            policy=wired.policy,
            plan=wired.check_plan(),
            text=text,
            chat_id=chat_id,
            sender=sender,
            now=wired.clock.now(),
            bot_username=self._username or None,
        )
        command = chatops.parse(text)
        allowed = chat_id in chatops.allowed_chats(wired.spec)
        if command is not None and command.name in chatops.CHANGES_INCIDENTS and allowed:
            wired.outbox_changed()  # acknowledge / resolve notifications may be waiting
        return reply

    async def _reply(self, chat_id: Any, message_id: Any, text: str) -> None:
        payload: dict[str, Any] = {"chat_id": chat_id, "text": truncate_html(text), "parse_mode": "HTML"}
        if isinstance(message_id, int):
            payload["reply_parameters"] = {"message_id": message_id, "allow_sending_without_reply": True}
        try:
            await self._call("sendMessage", payload, timeout=SEND_TIMEOUT)
        except (aiohttp.ClientError, TimeoutError, BotApiError) as exc:
            # Not retried by the loop: the command was carried out, and running it again is not safe.
            detail = self._scrub(str(exc) or type(exc).__name__)
            log.warning("telegram bot %s: reply to chat %s not sent: %s", self._bot.label, chat_id, detail)

    async def _call(self, method: str, payload: Mapping[str, Any], *, timeout: float) -> Any:
        """POST ``payload`` as JSON to ``method``; return its ``result``; raise BotApiError for ``ok: false``
        (aiohttp errors and TimeoutError pass through; their texts may hold the URL, so scrub them)."""
        async with self._session.post(
            self._bot.url(method),
            data=orjson.dumps(payload),
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            body = await response.content.read(_MAX_ANSWER)
            status = response.status
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict) or "ok" not in data:
            raise BotApiError(f"{method}: HTTP {status}, not a Bot API answer")
        if data["ok"] is not True:
            parameters = data.get("parameters")
            wait = parameters.get("retry_after") if isinstance(parameters, dict) else None
            description = self._scrub(str(data.get("description", "no description")))
            raise BotApiError(
                f"{method}: {data.get('error_code', status)} {description}",
                retry_after=float(wait) if isinstance(wait, int | float) else None,
            )
        return data.get("result")


def _sender(message: Mapping[str, Any]) -> str:
    """Who sent it: the username, else the user id, else the chat that sent it (anonymous group admins)."""
    user = message.get("from")
    if isinstance(user, dict):
        if user.get("username"):
            return str(user["username"])
        if "id" in user:
            return str(user["id"])
    sender_chat = message.get("sender_chat")
    if isinstance(sender_chat, dict) and "id" in sender_chat:
        return f"chat{sender_chat['id']}"
    return "unknown"


class TelegramCommands:
    """Runs one poller per bot with commands enabled; follows spec reloads (looked at every few seconds)."""

    def __init__(
        self,
        container: Container,
        *,
        backoff: PollBackoff | None = None,
        reload_check_seconds: float = 5.0,
    ) -> None:
        self._container = container
        self._backoff = backoff or PollBackoff()
        self._reload_check = reload_check_seconds
        self._offsets: dict[tuple[str, str], int] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; an in-flight long poll is abandoned at once when it is."""
        running: dict[Bot, tuple[asyncio.Event, asyncio.Task[None]]] = {}
        retiring: set[asyncio.Task[None]] = set()
        seen: Spec | None = None
        async with aiohttp.ClientSession() as session:
            try:
                while True:
                    spec = self._container.spec
                    if spec is not seen:
                        seen = spec
                        wanted = set(bots(spec))
                        for bot in set(running) - wanted:
                            event, task = running.pop(bot)
                            event.set()
                            retiring.add(task)
                        for bot in wanted - set(running):
                            event = asyncio.Event()
                            poller = _Poller(bot, self._container, session, self._offsets, self._backoff)
                            running[bot] = (event, asyncio.create_task(poller.run(event)))
                            log.info("telegram bot %s: polling for commands", bot.label)
                    retiring = {task for task in retiring if not task.done()}
                    if await _stopped(stop, self._reload_check):
                        break
            finally:
                for event, task in running.values():
                    event.set()
                    retiring.add(task)
                await asyncio.gather(*retiring, return_exceptions=True)
