"""Generic webhook: Siaga's JSON message, signed with HMAC-SHA256 when a secret is set."""

from __future__ import annotations

import hashlib
import hmac
import time

import aiohttp
import orjson

from siaga.domain.notifications import Message
from siaga.integrations.channels.base import RateLimit, Receipt
from siaga.integrations.channels.http import DEFAULT_TIMEOUT, post
from siaga.spec.channels import WebhookChannel


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``"<timestamp>." + body`` (the timestamp defeats replays)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookSender:
    def __init__(
        self,
        name: str,
        config: WebhookChannel,
        session: aiohttp.ClientSession,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.name, self._config, self._session, self._timeout = name, config, session, timeout

    def limits(self, message: Message) -> list[RateLimit]:
        return []

    async def send(self, message: Message) -> Receipt:
        body = orjson.dumps(message.to_json())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "siaga",
            "Idempotency-Key": message.idempotency_key,
        }
        if self._config.secret is not None:
            stamp = str(int(time.time()))
            headers["X-Siaga-Timestamp"] = stamp
            headers["X-Siaga-Signature"] = signature(self._config.secret.get_secret_value(), stamp, body)
        url = self._config.url.get_secret_value()
        return await post(self._session, url, data=body, headers=headers, timeout=self._timeout)
