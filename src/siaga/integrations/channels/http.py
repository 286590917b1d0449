"""What every HTTP channel shares: one POST with a time limit, turned into a Receipt without secrets."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from siaga.integrations.channels.base import Outcome, Receipt

DEFAULT_TIMEOUT = 10.0


def short_hash(secret: str) -> str:
    """A stable, non-reversible tag for a secret (rate-limit keys must not hold the secret itself)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def classify(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome.SENT
    if status in (408, 425, 429) or status >= 500:
        return Outcome.TEMPORARY
    return Outcome.PERMANENT


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


async def post(
    session: aiohttp.ClientSession,
    url: str,
    *,
    json_body: Any = None,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    read: Callable[[int, bytes], Receipt | None] | None = None,
) -> Receipt:
    """POST and classify the answer; ``read`` may turn a body into a more precise receipt (Telegram's
    ``ok: false``). Errors never carry the URL, which may embed a token."""
    try:
        async with session.post(
            url,
            json=json_body,
            data=data,
            headers=dict(headers or {}),
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=False,
        ) as response:
            body = await response.read()
            if read is not None and (special := read(response.status, body)) is not None:
                return special
            outcome = classify(response.status)
            detail = "" if outcome is Outcome.SENT else body[:200].decode("utf-8", "replace").strip()
            return Receipt(outcome, response.status, detail, _retry_after(response.headers))
    except TimeoutError:
        return Receipt(Outcome.TEMPORARY, None, f"timeout after {timeout:g} s")
    except asyncio.CancelledError:
        raise
    except aiohttp.ClientConnectorError as error:
        return Receipt(Outcome.TEMPORARY, None, f"cannot connect ({error.os_error.strerror or 'refused'})")
    except aiohttp.ClientError as error:
        return Receipt(Outcome.TEMPORARY, None, f"HTTP error: {type(error).__name__}")
