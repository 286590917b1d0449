"""The long tail (Discord, Teams, Matrix, Pushover, …) through Apprise, by Apprise URL."""

from __future__ import annotations

import asyncio

import apprise

from siaga.domain.notifications import Message
from siaga.integrations.channels.base import Outcome, RateLimit, Receipt
from siaga.integrations.channels.templates import render
from siaga.spec.channels import AppriseChannel


class AppriseSender:
    def __init__(self, name: str, config: AppriseChannel) -> None:
        self.name, self._config = name, config

    def limits(self, message: Message) -> list[RateLimit]:
        return []

    def _notify(self, title: str, body: str) -> bool:
        notifier = apprise.Apprise()
        if not notifier.add(self._config.url.get_secret_value()):
            return False
        return bool(notifier.notify(title=title, body=body))

    async def send(self, message: Message) -> Receipt:
        title, body = render(message, self._config.template, html=False)
        ok = await asyncio.to_thread(self._notify, title, body)
        # Apprise reports only success or failure, and its URL holds credentials: say nothing more.
        return (
            Receipt(Outcome.SENT, None, "")
            if ok
            else Receipt(Outcome.TEMPORARY, None, "apprise: not delivered")
        )
