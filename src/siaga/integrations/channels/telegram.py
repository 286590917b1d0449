"""Telegram Bot API ``sendMessage`` in HTML parse mode, to the recipient's chat or the channel's.

The bot token is part of the URL path (``/bot<token>/sendMessage``): it is scrubbed from every receipt and
never logged. Telegram answers ``{"ok": true, …}``; an ``ok: false`` answer is permanent unless its
``error_code`` is 429 (``parameters.retry_after`` seconds) or 5xx.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import markupsafe
import orjson

from siaga.domain.notifications import Message
from siaga.integrations.channels.base import Outcome, RateLimit, Receipt
from siaga.integrations.channels.templates import render
from siaga.integrations.channels.webhook import (
    DEFAULT_TIMEOUT,
    Reply,
    error_detail,
    post,
    receipt,
    scrub,
    short_hash,
)
from siaga.spec.channels import TelegramChannel

MAX_TEXT = 4096  # Telegram's limit, counted here in UTF-16 units as Telegram does
_TOKEN = re.compile(r"<[^<>]*>|&#?\w+;|[^<&]+|[<&]")
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z0-9-]+)")
_ELLIPSIS = "…"


def _units(text: str) -> int:
    return sum(2 if ord(char) > 0xFFFF else 1 for char in text)


def _prefix(text: str, room: int) -> str:
    """The longest start of ``text`` that fits in ``room`` UTF-16 units."""
    for index, char in enumerate(text):
        room -= 2 if ord(char) > 0xFFFF else 1
        if room < 0:
            return text[:index]
    return text


def truncate_html(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` cut to ``limit`` UTF-16 units without splitting a tag or an entity; open tags are closed."""
    if _units(text) <= limit:
        return text
    kept: list[str] = []
    open_tags: list[str] = []
    used = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        room = limit - used - len(_ELLIPSIS) - sum(len(name) + 3 for name in open_tags)
        tag = _TAG_NAME.match(token) if len(token) > 1 and token.startswith("<") else None
        if tag is not None and token.startswith("</"):
            name = tag.group(1).lower()
            if name not in open_tags:
                continue  # a stray closing tag: dropped
            del open_tags[len(open_tags) - 1 - open_tags[::-1].index(name)]
            piece = token  # fits: its room was reserved when the tag opened
        elif tag is not None:
            name = tag.group(1).lower()
            if len(token) + len(name) + 3 > room:
                break
            open_tags.append(name)
            piece = token
        elif len(token) > 1 and token.startswith("&"):
            if len(token) > room:
                break
            piece = token
        else:
            piece = _prefix(token, room)
        kept.append(piece)
        used += _units(piece)
        if piece != token:
            break
    return "".join(kept) + _ELLIPSIS + "".join(f"</{name}>" for name in reversed(open_tags))


def text(message: Message, config: TelegramChannel) -> str:
    """The HTML text: the title in bold, the body, then a link to the incident; at most 4096 units."""
    title, body = render(message, config.template, html=True)
    head = f"<b>{title}</b>\n\n"
    link = ""
    if message.url:
        href = markupsafe.escape(message.url)
        link = f'\n\n<a href="{href}">Open incident #{message.incident_id} in Siaga</a>'
    room = MAX_TEXT - _units(head) - _units(link)
    if room < 200:  # a giant title: give the body a fair share rather than nothing
        head = f"<b>{truncate_html(title, MAX_TEXT // 4)}</b>\n\n"
        room = MAX_TEXT - _units(head) - _units(link)
    return head + truncate_html(body, room) + link


class TelegramSender:
    """One Telegram bot; the chat is the recipient's (``telegram`` contact) or the channel's ``chat_id``."""

    def __init__(
        self,
        name: str,
        config: TelegramChannel,
        session: aiohttp.ClientSession,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.name = name
        self._config = config
        self._token = config.bot_token.get_secret_value()
        self._url = f"{config.api_url.rstrip('/')}/bot{self._token}/sendMessage"
        self._bot = f"telegram:{short_hash(self._token)}"
        self._session = session
        self._timeout = timeout

    def chat(self, message: Message) -> str:
        if message.recipient is not None and message.recipient.telegram:
            return message.recipient.telegram
        return self._config.chat_id

    def limits(self, message: Message) -> list[RateLimit]:
        # Telegram: about one message a second to one chat, thirty a second for the whole bot.
        return [RateLimit(f"{self._bot}:chat:{self.chat(message)}", 1, 1.0), RateLimit(self._bot, 30, 1.0)]

    async def send(self, message: Message) -> Receipt:
        body = orjson.dumps(
            {
                "chat_id": self.chat(message),
                "text": text(message, self._config),
                "parse_mode": "HTML",
                "disable_web_page_preview": True,
            }
        )
        reply = await post(
            self._session, self._url, body, {"Content-Type": "application/json"}, timeout=self._timeout
        )
        if isinstance(reply, Receipt):
            return reply
        return self._read(reply)

    def _read(self, reply: Reply) -> Receipt:
        secrets = [self._token, self._url]
        try:
            data: Any = orjson.loads(reply.body)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict) or "ok" not in data:
            # Not the Bot API talking (a proxy, a load balancer): judge by the status.
            return receipt(reply, "" if 200 <= reply.status < 300 else error_detail(reply), secrets)
        if data["ok"] is True:
            return Receipt(Outcome.SENT, reply.status, "")
        code = data.get("error_code")
        code = code if isinstance(code, int) else reply.status
        parameters = data.get("parameters")
        wait = parameters.get("retry_after") if isinstance(parameters, dict) else None
        temporary = code == 429 or code >= 500
        return Receipt(
            Outcome.TEMPORARY if temporary else Outcome.PERMANENT,
            code,
            scrub(f"HTTP {code}: {data.get('description', 'not sent')}", secrets),
            float(wait) if temporary and isinstance(wait, int | float) else None,
        )
