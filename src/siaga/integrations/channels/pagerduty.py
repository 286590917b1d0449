"""PagerDuty Events API v2: trigger, acknowledge and resolve one alert per incident (``dedup_key``)."""

from __future__ import annotations

from typing import Any

import aiohttp

from siaga.domain.notifications import Kind, Message
from siaga.integrations.channels.base import RateLimit, Receipt
from siaga.integrations.channels.http import DEFAULT_TIMEOUT, post, short_hash
from siaga.integrations.channels.templates import render
from siaga.spec.channels import PagerDutyChannel

SEVERITIES = ("critical", "error", "warning")


def event(message: Message, config: PagerDutyChannel) -> dict[str, Any]:
    key = config.routing_key.get_secret_value()
    dedup = message.dedup_key or message.idempotency_key
    if message.kind in (Kind.ACKNOWLEDGED, Kind.RESOLVED) and message.dedup_key:
        action = "acknowledge" if message.kind is Kind.ACKNOWLEDGED else "resolve"
        return {"routing_key": key, "event_action": action, "dedup_key": dedup}
    title, _ = render(message, config.template, html=False)
    rank = message.severity_rank
    details: dict[str, Any] = {**message.labels}
    if message.url:
        details["siaga_url"] = message.url
    body: dict[str, Any] = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": {
            "summary": title[:1024],
            "source": message.service or message.project or "siaga",
            "severity": SEVERITIES[rank] if rank is not None and rank < len(SEVERITIES) else "info",
            "timestamp": message.at.isoformat(),
            "component": message.service,
            "custom_details": details,
        },
        "client": "Siaga",
    }
    if message.url:
        body["links"] = [{"href": message.url, "text": "Incident in Siaga"}]
    return body


class PagerDutySender:
    def __init__(
        self,
        name: str,
        config: PagerDutyChannel,
        session: aiohttp.ClientSession,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.name, self._config, self._session, self._timeout = name, config, session, timeout
        self._key = short_hash(config.routing_key.get_secret_value())

    def limits(self, message: Message) -> list[RateLimit]:
        return [RateLimit(f"pagerduty:{self._key}", 120, 60.0)]  # PagerDuty: ~120 events a minute per key

    async def send(self, message: Message) -> Receipt:
        url = f"{self._config.api_url.rstrip('/')}/v2/enqueue"
        return await post(self._session, url, json_body=event(message, self._config), timeout=self._timeout)
