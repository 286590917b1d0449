"""Slack incoming webhook: Block Kit in an attachment coloured by severity, with a link to the incident."""

from __future__ import annotations

from typing import Any

import aiohttp

from siaga.domain.notifications import Kind, Message
from siaga.integrations.channels.base import RateLimit, Receipt
from siaga.integrations.channels.http import DEFAULT_TIMEOUT, post, short_hash
from siaga.integrations.channels.templates import render
from siaga.spec.channels import SlackChannel

RED, ORANGE, BLUE, GREEN, PURPLE = "#d92d20", "#f79009", "#1570ef", "#12b76a", "#7a5af8"


def colour(message: Message) -> str:
    if message.kind is Kind.RESOLVED:
        return GREEN
    if message.kind is Kind.ACKNOWLEDGED:
        return PURPLE
    return {0: RED, 1: ORANGE}.get(message.severity_rank if message.severity_rank is not None else 9, BLUE)


def payload(message: Message, config: SlackChannel) -> dict[str, Any]:
    title, body = render(message, config.template, html=False)
    if message.recipient is not None and message.recipient.slack:
        body = f"<@{message.recipient.slack}> {body}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": body[:3000]}},
    ]
    facts = [f"*{k}:* {v}" for k, v in (("Severity", message.severity), ("Status", message.status)) if v]
    if facts:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "  ".join(facts)}]})
    if message.url:
        button = {
            "type": "button",
            "text": {"type": "plain_text", "text": "Open incident"},
            "url": message.url,
        }
        blocks.append({"type": "actions", "elements": [button]})
    data: dict[str, Any] = {
        "text": f"{title}\n{body}"[:3000],
        "attachments": [{"color": colour(message), "blocks": blocks}],
    }
    if config.channel:
        data["channel"] = config.channel
    return data


class SlackSender:
    def __init__(
        self,
        name: str,
        config: SlackChannel,
        session: aiohttp.ClientSession,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.name, self._config, self._session, self._timeout = name, config, session, timeout
        self._key = short_hash(config.webhook_url.get_secret_value())

    def limits(self, message: Message) -> list[RateLimit]:
        return [RateLimit(f"slack:{self._key}", 1, 1.0)]  # Slack: about one message per second per webhook

    async def send(self, message: Message) -> Receipt:
        url = self._config.webhook_url.get_secret_value()
        return await post(self._session, url, json_body=payload(message, self._config), timeout=self._timeout)
