"""Slack incoming webhook: Block Kit inside an attachment coloured by severity, with a link to the incident.

Slack answers ``200 ok``; errors are short text bodies (``invalid_payload``, ``no_service``,
``channel_not_found``…) classified by status like any HTTP answer. Values are escaped for mrkdwn (``&``,
``<``, ``>``), so an alert titled ``<!channel>`` cannot ping a whole channel.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import orjson

from siaga.domain.notifications import Kind, Message
from siaga.integrations.channels.base import RateLimit, Receipt
from siaga.integrations.channels.templates import render
from siaga.integrations.channels.webhook import (
    DEFAULT_TIMEOUT,
    Reply,
    error_detail,
    post,
    receipt,
    short_hash,
)
from siaga.spec.channels import SlackChannel

RED, ORANGE, BLUE, GREEN, PURPLE = "#d92d20", "#f79009", "#1570ef", "#12b76a", "#7a5af8"
HEADER_CHARS = 150  # Block Kit limits
SECTION_CHARS = 3000
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_PARTIAL_ENTITY = re.compile(r"&[a-z]*$")


def escape(text: str) -> str:
    """mrkdwn escaping: the three characters Slack treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def colour(message: Message) -> str:
    """Green when resolved, purple when acknowledged, else red / orange / blue by severity rank."""
    if message.kind is Kind.RESOLVED:
        return GREEN
    if message.kind is Kind.ACKNOWLEDGED:
        return PURPLE
    return {0: RED, 1: ORANGE}.get(message.severity_rank if message.severity_rank is not None else -1, BLUE)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return _PARTIAL_ENTITY.sub("", text[: limit - 1]) + "…"  # never leave half an &amp;


def mention(message: Message) -> str:
    """``<@U123>`` for a recipient with a Slack member id; a plain ``@name`` otherwise."""
    if message.recipient is None or not message.recipient.slack:
        return ""
    who = message.recipient.slack.lstrip("@")
    return f"<@{who}>" if _USER_ID.match(who) else f"@{escape(who)}"


def payload(message: Message, config: SlackChannel) -> dict[str, Any]:
    """The incoming-webhook JSON: fallback ``text`` (with the mention) and one coloured attachment."""
    header, _ = render(message, config.template, html=False)  # plain_text: shown as is
    title, body = render(message, config.template, html=False, escape=escape)
    facts = [escape(fact) for fact in (message.project, message.severity, message.service) if fact]
    if message.incident_id is not None:
        facts.append(f"incident #{message.incident_id}")
    # Slack shows the time in each reader's own zone; the text after | is the fallback.
    fallback = message.at.strftime("%Y-%m-%d %H:%M %Z").strip()
    facts.append(f"<!date^{int(message.at.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(header, HEADER_CHARS), "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(body, SECTION_CHARS)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(facts)}]},
    ]
    if message.url:
        link = f"<{escape(message.url)}|Open incident #{message.incident_id} in Siaga>"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": link}})
    who = mention(message)
    data: dict[str, Any] = {
        "text": _cut(f"{who} {title}" if who else title, SECTION_CHARS),
        "attachments": [{"color": colour(message), "blocks": blocks}],
    }
    if config.channel:
        data["channel"] = config.channel
    return data


class SlackSender:
    """One Slack incoming webhook."""

    def __init__(
        self,
        name: str,
        config: SlackChannel,
        session: aiohttp.ClientSession,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.name = name
        self._config = config
        self._url = config.webhook_url.get_secret_value()
        self._key = f"slack:{short_hash(self._url)}"
        self._session = session
        self._timeout = timeout

    def limits(self, message: Message) -> list[RateLimit]:
        return [RateLimit(self._key, 1, 1.0)]  # Slack allows about one message a second per webhook

    async def send(self, message: Message) -> Receipt:
        body = orjson.dumps(payload(message, self._config))
        headers = {"Content-Type": "application/json"}
        reply = await post(self._session, self._url, body, headers, timeout=self._timeout)
        if isinstance(reply, Reply):
            detail = "" if 200 <= reply.status < 300 else error_detail(reply)
            return receipt(reply, detail, [self._url])
        return reply
