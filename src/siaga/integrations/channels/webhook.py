"""The generic webhook channel, and the HTTP delivery every web channel (Slack, Telegram, PagerDuty) shares.

The webhook POSTs ``Message.to_json()`` (documented in docs/notifications.md). With a ``secret`` it signs
the request: ``X-Siaga-Timestamp`` is the send time in unix seconds, and ``X-Siaga-Signature`` is
``sha256=`` + the hex HMAC-SHA256, keyed with the secret, of the bytes ``<timestamp>.<body>`` — the
timestamp's decimal digits, one ``.``, then the exact request body.

Shared delivery: one POST with a total time limit, its answer classified (2xx sent; 408, 425, 429 and 5xx
temporary; other statuses permanent), and nothing secret in the detail — URLs are never quoted (they may
embed tokens) and each channel's secrets are scrubbed from whatever the server answered.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import aiohttp
import orjson

from siaga.domain.notifications import Message
from siaga.integrations.channels.base import Outcome, RateLimit, Receipt
from siaga.spec.channels import WebhookChannel

DEFAULT_TIMEOUT = 10.0
USER_AGENT = "siaga"
_DETAIL_CHARS = 200
_MAX_ANSWER = 64 * 1024


@dataclass(frozen=True)
class Reply:
    """An HTTP answer, whatever its status."""

    status: int
    reason: str
    body: bytes
    headers: Mapping[str, str]

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def short_hash(secret: str) -> str:
    """A stable tag for a secret, for rate-limit keys (which must not hold the secret itself)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` on one line, at most 200 characters, with every secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"


def classify(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome.SENT
    if status in (408, 425, 429) or status >= 500:
        return Outcome.TEMPORARY
    return Outcome.PERMANENT  # including 3xx: a moved endpoint needs a new URL in the spec


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a ``Retry-After: <seconds>`` header (the HTTP-date form is not used by our services)."""
    value = headers.get("Retry-After")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def receipt(reply: Reply, detail: str, secrets: Iterable[str] = ()) -> Receipt:
    """The receipt for ``reply`` by its status alone; ``detail`` is scrubbed of ``secrets``."""
    outcome = classify(reply.status)
    return Receipt(
        outcome,
        reply.status,
        scrub(detail, secrets),
        retry_after(reply.headers) if outcome is Outcome.TEMPORARY else None,
    )


def error_detail(reply: Reply) -> str:
    """``HTTP 400: <the answer's text>`` for text or JSON answers, ``HTTP 502 Bad Gateway`` otherwise."""
    kind = reply.headers.get("Content-Type", "")
    if reply.body and ("json" in kind or kind.startswith("text/plain") or not kind):
        return f"HTTP {reply.status}: {reply.text()}"
    return f"HTTP {reply.status} {reply.reason}".strip()


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
) -> Reply | Receipt:
    """POST ``body``; give the server's Reply, or a TEMPORARY/PERMANENT Receipt when no answer came.

    Never raises for network trouble, and the receipt never quotes the URL.
    """
    if not url.lower().startswith(("http://", "https://")):
        return Receipt(Outcome.PERMANENT, None, "the URL must start with http:// or https://")
    try:
        async with session.post(
            url,
            data=body,
            headers={"User-Agent": USER_AGENT, **headers},
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=False,
        ) as response:
            content = bytearray()
            async for chunk in response.content.iter_chunked(8192):
                content += chunk
                if len(content) >= _MAX_ANSWER:
                    break  # enough to classify; a huge answer is not worth holding
            return Reply(response.status, response.reason or "", bytes(content), response.headers)
    except TimeoutError:
        return Receipt(Outcome.TEMPORARY, None, f"timeout after {timeout:g} s")
    except aiohttp.InvalidURL:
        return Receipt(Outcome.PERMANENT, None, "invalid URL")
    except aiohttp.ClientConnectorCertificateError:
        return Receipt(Outcome.TEMPORARY, None, "TLS certificate not accepted")
    except aiohttp.ClientConnectorError as error:
        return Receipt(Outcome.TEMPORARY, None, _connect_failure(error.os_error))
    except aiohttp.ServerDisconnectedError:
        return Receipt(Outcome.TEMPORARY, None, "server disconnected")
    except aiohttp.ClientError as error:
        return Receipt(Outcome.TEMPORARY, None, f"HTTP client error: {type(error).__name__}")


def _connect_failure(error: OSError) -> str:
    if isinstance(error, socket.gaierror):
        return "DNS lookup failed"
    if isinstance(error, ssl.SSLError):
        return "TLS handshake failed"
    return "connection refused" if error.errno == errno.ECONNREFUSED else "connection failed"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 keyed with ``secret`` over ``timestamp + "." + body``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


class WebhookSender:
    """POST the message as JSON to any URL, signed when the channel has a ``secret``."""

    def __init__(
        self,
        name: str,
        config: WebhookChannel,
        session: aiohttp.ClientSession,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self._url = config.url.get_secret_value()
        self._secret = config.secret.get_secret_value() if config.secret is not None else None
        self._session = session
        self._timeout = timeout
        self._clock = clock

    def limits(self, message: Message) -> list[RateLimit]:
        return []

    async def send(self, message: Message) -> Receipt:
        body = orjson.dumps(message.to_json())
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.idempotency_key}
        if self._secret is not None:
            timestamp = str(int(self._clock()))
            headers["X-Siaga-Timestamp"] = timestamp
            headers["X-Siaga-Signature"] = signature(self._secret, timestamp, body)
        reply = await post(self._session, self._url, body, headers, timeout=self._timeout)
        if isinstance(reply, Receipt):
            return reply
        secrets = [self._url, self._secret or ""]
        return receipt(reply, "" if 200 <= reply.status < 300 else error_detail(reply), secrets)
