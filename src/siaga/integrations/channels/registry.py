"""The one place that knows every channel kind: spec channel config → configured Sender.

All HTTP channels share the ``aiohttp.ClientSession`` they are given; each send has a total time limit
(``timeout``, 10 s by default). A channel's ``rate_limit_per_minute`` adds ``RateLimit("channel:<name>")``
to the limits its kind already has.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from siaga.domain.notifications import Message
from siaga.integrations.channels.apprise_channel import AppriseSender
from siaga.integrations.channels.base import RateLimit, Receipt, Sender
from siaga.integrations.channels.email import EmailSender
from siaga.integrations.channels.pagerduty import PagerDutySender
from siaga.integrations.channels.slack import SlackSender
from siaga.integrations.channels.telegram import TelegramSender
from siaga.integrations.channels.webhook import DEFAULT_TIMEOUT, WebhookSender
from siaga.spec.channels import (
    AppriseChannel,
    Channel,
    EmailChannel,
    PagerDutyChannel,
    SlackChannel,
    TelegramChannel,
    WebhookChannel,
)

__all__ = ["DEFAULT_TIMEOUT", "build_sender", "build_senders"]


class _ChannelLimited:
    """A sender plus the spec's own per-channel limit."""

    def __init__(self, inner: Sender, per_minute: int) -> None:
        self.name = inner.name
        self.inner = inner
        self.per_minute = per_minute

    def limits(self, message: Message) -> list[RateLimit]:
        return [*self.inner.limits(message), RateLimit(f"channel:{self.name}", self.per_minute, 60.0)]

    async def send(self, message: Message) -> Receipt:
        return await self.inner.send(message)


def build_sender(
    name: str, config: Channel, session: aiohttp.ClientSession, *, timeout: float = DEFAULT_TIMEOUT
) -> Sender:
    """The Sender for channel ``name``; raises TypeError for a config of no known kind."""
    sender: Sender
    match config:
        case SlackChannel():
            sender = SlackSender(name, config, session, timeout=timeout)
        case TelegramChannel():
            sender = TelegramSender(name, config, session, timeout=timeout)
        case PagerDutyChannel():
            sender = PagerDutySender(name, config, session, timeout=timeout)
        case WebhookChannel():
            sender = WebhookSender(name, config, session, timeout=timeout)
        case EmailChannel():
            sender = EmailSender(name, config, timeout=timeout)
        case AppriseChannel():
            sender = AppriseSender(name, config, timeout=timeout)
        case _:
            raise TypeError(f"channel {name!r}: no sender for {type(config).__name__}")
    if config.rate_limit_per_minute:
        return _ChannelLimited(sender, config.rate_limit_per_minute)
    return sender


def build_senders(
    channels: Mapping[str, Channel], session: aiohttp.ClientSession, *, timeout: float = DEFAULT_TIMEOUT
) -> dict[str, Sender]:
    """A Sender for every channel of the spec, by name."""
    return {name: build_sender(name, config, session, timeout=timeout) for name, config in channels.items()}
