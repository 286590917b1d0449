"""Builds a Sender for each channel of the spec."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from siaga.domain.notifications import Message
from siaga.integrations.channels.apprise_channel import AppriseSender
from siaga.integrations.channels.base import RateLimit, Receipt, Sender
from siaga.integrations.channels.email import EmailSender
from siaga.integrations.channels.http import DEFAULT_TIMEOUT
from siaga.integrations.channels.pagerduty import PagerDutySender
from siaga.integrations.channels.slack import SlackSender
from siaga.integrations.channels.telegram import TelegramSender
from siaga.integrations.channels.webhook import WebhookSender
from siaga.spec.channels import (
    AppriseChannel,
    EmailChannel,
    PagerDutyChannel,
    SlackChannel,
    TelegramChannel,
    WebhookChannel,
)

ChannelConfig = (
    SlackChannel | TelegramChannel | PagerDutyChannel | EmailChannel | WebhookChannel | AppriseChannel
)


class _Limited:
    """Adds the spec's ``rate_limit_per_minute`` to a sender's own limits."""

    def __init__(self, inner: Sender, per_minute: int) -> None:
        self.name, self._inner, self._per_minute = inner.name, inner, per_minute

    def limits(self, message: Message) -> list[RateLimit]:
        return [*self._inner.limits(message), RateLimit(f"channel:{self.name}", self._per_minute, 60.0)]

    async def send(self, message: Message) -> Receipt:
        return await self._inner.send(message)


def build_sender(
    name: str, config: ChannelConfig, session: aiohttp.ClientSession, *, timeout: float = DEFAULT_TIMEOUT
) -> Sender:
    sender: Sender
    if isinstance(config, SlackChannel):
        sender = SlackSender(name, config, session, timeout)
    elif isinstance(config, TelegramChannel):
        sender = TelegramSender(name, config, session, timeout)
    elif isinstance(config, PagerDutyChannel):
        sender = PagerDutySender(name, config, session, timeout)
    elif isinstance(config, EmailChannel):
        sender = EmailSender(name, config, timeout)
    elif isinstance(config, WebhookChannel):
        sender = WebhookSender(name, config, session, timeout)
    else:
        sender = AppriseSender(name, config)
    if config.rate_limit_per_minute:
        return _Limited(sender, config.rate_limit_per_minute)
    return sender


def build_senders(channels: Mapping[str, ChannelConfig], session: aiohttp.ClientSession) -> dict[str, Sender]:
    return {name: build_sender(name, config, session) for name, config in channels.items()}
