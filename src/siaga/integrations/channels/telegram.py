"""Telegram Bot API ``sendMessage`` in HTML parse mode."""

from __future__ import annotations

import html
import json

import aiohttp

from siaga.domain.notifications import Message
from siaga.integrations.channels.base import Outcome, RateLimit, Receipt
from siaga.integrations.channels.http import DEFAULT_TIMEOUT, post, short_hash
from siaga.integrations.channels.templates import render
from siaga.spec.channels import TelegramChannel

LIMIT = 4096


def text(message: Message, config: TelegramChannel) -> str:
    title, body = render(message, config.template, html=True)
    link = f'\n<a href="{html.escape(message.url, quote=True)}">Open incident</a>' if message.url else ""
    room = LIMIT - len(title) - len(link) - 10
    if len(body) > room:
        # Cut on a line boundary so no escaped entity or tag is split; the body holds no tags of its own.
        body = body[: max(0, room)].rsplit("\n", 1)[0] + "\n…"
    return f"<b>{title}</b>\n{body}{link}"


def _read(status: int, raw: bytes) -> Receipt | None:
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("ok") is not False:
        return None
    code = int(data.get("error_code") or status)
    retry_after = (data.get("parameters") or {}).get("retry_after")
    outcome = Outcome.TEMPORARY if code == 429 or code >= 500 else Outcome.PERMANENT
    return Receipt(outcome, code, str(data.get("description", ""))[:200], retry_after)


class TelegramSender:
    def __init__(
        self,
        name: str,
        config: TelegramChannel,
        session: aiohttp.ClientSession,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.name, self._config, self._session, self._timeout = name, config, session, timeout
        self._bot = short_hash(config.bot_token.get_secret_value())

    def _chat(self, message: Message) -> str:
        if message.recipient is not None and message.recipient.telegram:
            return message.recipient.telegram
        return self._config.chat_id

    def limits(self, message: Message) -> list[RateLimit]:
        # Telegram: about one message per second per chat, thirty per second per bot.
        return [
            RateLimit(f"telegram:{self._bot}:{self._chat(message)}", 1, 1.0),
            RateLimit(f"telegram:{self._bot}", 30, 1.0),
        ]

    async def send(self, message: Message) -> Receipt:
        token = self._config.bot_token.get_secret_value()
        url = f"{self._config.api_url.rstrip('/')}/bot{token}/sendMessage"
        body = {
            "chat_id": self._chat(message),
            "text": text(message, self._config),
            "parse_mode": "HTML",
            "disable_web_page_preview": True,
        }
        receipt = await post(self._session, url, json_body=body, timeout=self._timeout, read=_read)
        return Receipt(
            receipt.outcome, receipt.status_code, receipt.detail.replace(token, "***"), receipt.retry_after
        )
