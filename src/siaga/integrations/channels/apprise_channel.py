"""The long tail (Discord, Teams, Matrix, ntfy, Pushover…) through Apprise, by Apprise URL.

Apprise says only "delivered" or "not": a failure is temporary with a generic detail, and the URL (which
holds the service's credentials) is never quoted.
"""

from __future__ import annotations

import asyncio

import apprise

from siaga.domain.notifications import Message
from siaga.integrations.channels.base import Outcome, RateLimit, Receipt
from siaga.integrations.channels.templates import render
from siaga.integrations.channels.webhook import DEFAULT_TIMEOUT
from siaga.spec.channels import AppriseChannel


class AppriseSender:
    """One Apprise URL."""

    def __init__(self, name: str, config: AppriseChannel, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.name = name
        self._config = config
        self._timeout = timeout

    def limits(self, message: Message) -> list[RateLimit]:
        return []

    async def send(self, message: Message) -> Receipt:
        title, body = render(message, self._config.template, html=False)
        if message.url:
            body += f"\n\nOpen the incident: {message.url}"
        notifier = apprise.Apprise()
        if not notifier.add(self._config.url.get_secret_value()):
            return Receipt(Outcome.PERMANENT, None, "Apprise did not accept the channel's URL")
        try:
            async with asyncio.timeout(self._timeout):
                delivered = await notifier.async_notify(body=body, title=title)
        except TimeoutError:
            return Receipt(Outcome.TEMPORARY, None, f"timeout after {self._timeout:g} s")
        if not delivered:
            return Receipt(Outcome.TEMPORARY, None, "Apprise could not deliver the message")
        return Receipt(Outcome.SENT, None, "")
