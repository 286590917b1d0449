"""PagerDuty Events API v2: one PagerDuty alert per Siaga incident, triggered, acknowledged and resolved.

Every event of an incident carries ``dedup_key = siaga-<incident id>``, so escalations and repeats fold
into the open alert and acknowledge / resolve reach it. Messages without an incident (announcements,
notices, tests) are ``info`` triggers keyed by their idempotency key. PagerDuty answers 202; 400 means the
event was rejected (permanent); 429 and 5xx are temporary.
"""

from __future__ import annotations

import hashlib
from typing import Any

import aiohttp
import orjson

from siaga.domain.notifications import Kind, Message
from siaga.integrations.channels.base import Outcome, RateLimit, Receipt
from siaga.integrations.channels.templates import render
from siaga.integrations.channels.webhook import DEFAULT_TIMEOUT, Reply, post, receipt, short_hash
from siaga.spec.channels import PagerDutyChannel

SEVERITIES = ("critical", "error", "warning")  # by severity rank; lower urgency is "info"
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255
_ACTIONS = {Kind.ACKNOWLEDGED: "acknowledge", Kind.RESOLVED: "resolve"}


def dedup_key(message: Message) -> str:
    """The incident's key, or (no incident) the message's own idempotency key, hashed if too long."""
    key = message.dedup_key or message.idempotency_key
    if len(key) > MAX_DEDUP_KEY:
        key = "siaga-" + hashlib.sha256(key.encode()).hexdigest()
    return key


def severity(message: Message) -> str:
    rank = message.severity_rank
    if message.incident_id is None or rank is None or not 0 <= rank < len(SEVERITIES):
        return "info"
    return SEVERITIES[rank]


def summary(message: Message, config: PagerDutyChannel) -> str:
    """The alert's title: the channel's title template, else ``[SEV-1] Database down`` (no verb: PagerDuty
    keeps the first trigger's summary for the whole alert)."""
    if config.template is not None and config.template.title is not None:
        text, _ = render(message, config.template, html=False)
    elif message.severity:
        text = f"[{message.severity}] {message.title}"
    else:
        text, _ = render(message, None, html=False)
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 1] + "…"


def event(message: Message, routing_key: str, config: PagerDutyChannel) -> dict[str, Any]:
    """The Events API v2 body for ``message``."""
    action = _ACTIONS.get(message.kind) if message.dedup_key is not None else None
    if action is not None:
        return {"routing_key": routing_key, "event_action": action, "dedup_key": dedup_key(message)}
    details: dict[str, Any] = dict(message.labels)
    if message.url:
        details["url"] = message.url
    payload: dict[str, Any] = {
        "summary": summary(message, config),
        "source": message.labels.get("instance") or message.service or message.project or "siaga",
        "severity": severity(message),
        "timestamp": message.at.isoformat(),
        "custom_details": details,
    }
    if message.service:
        payload["component"] = message.service
    if message.project:
        payload["group"] = message.project
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(message),
        "payload": payload,
        "client": "Siaga",
    }
    if message.url:
        body["client_url"] = message.url
        body["links"] = [{"href": message.url, "text": "Incident in Siaga"}]
    return body


class PagerDutySender:
    """One Events API v2 integration (routing key)."""

    def __init__(
        self,
        name: str,
        config: PagerDutyChannel,
        session: aiohttp.ClientSession,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.name = name
        self._config = config
        self._routing_key = config.routing_key.get_secret_value()
        self._url = f"{config.api_url.rstrip('/')}/v2/enqueue"
        self._key = f"pagerduty:{short_hash(self._routing_key)}"
        self._session = session
        self._timeout = timeout

    def limits(self, message: Message) -> list[RateLimit]:
        return [RateLimit(self._key, 120, 60.0)]  # PagerDuty throttles above ~120 events a minute per key

    async def send(self, message: Message) -> Receipt:
        if message.kind in _ACTIONS and message.dedup_key is None:
            return Receipt(Outcome.PERMANENT, None, f"{message.kind.value} needs an incident")
        body = orjson.dumps(event(message, self._routing_key, self._config))
        reply = await post(
            self._session, self._url, body, {"Content-Type": "application/json"}, timeout=self._timeout
        )
        if isinstance(reply, Receipt):
            return reply
        return receipt(reply, _detail(reply), [self._routing_key])


def _detail(reply: Reply) -> str:
    """PagerDuty's ``message`` and ``errors`` (``Event object is invalid: …``), or the status."""
    try:
        data: Any = orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        data = None
    if 200 <= reply.status < 300:
        return ""
    if not isinstance(data, dict):
        return f"HTTP {reply.status} {reply.reason}".strip()
    errors = data.get("errors")
    text = str(data.get("message") or data.get("status") or "")
    if isinstance(errors, list) and errors:
        text += ": " + "; ".join(str(error) for error in errors)
    return f"HTTP {reply.status}: {text}"
