"""The one contract every channel module implements, and what a send attempt reports."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from siaga.domain.notifications import Message


class Outcome(StrEnum):
    SENT = "sent"
    TEMPORARY = "temporary"  # worth retrying: timeouts, connection errors, 429, 5xx
    PERMANENT = "permanent"  # retrying cannot help: 4xx other than 408/429, a rejected payload, bad config


@dataclass(frozen=True)
class Receipt:
    """What one attempt gave. ``detail`` is for the timeline: short, and never holds a secret."""

    outcome: Outcome
    status_code: int | None = None
    detail: str = ""
    retry_after: float | None = None  # seconds, when the service said (Retry-After, Telegram's retry_after)


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` messages per ``per_seconds`` for all messages sharing ``key``."""

    key: str
    count: int
    per_seconds: float


@runtime_checkable
class Closable(Protocol):
    """A sender holding connections of its own (e-mail keeps SMTP connections): closed when replaced."""

    async def close(self) -> None: ...


class Sender(Protocol):
    """A configured channel. ``send`` never raises for delivery problems: it returns a Receipt."""

    name: str

    def limits(self, message: Message) -> list[RateLimit]:
        """The rate limits this message counts against (per channel, per chat, per routing key…)."""
        ...

    async def send(self, message: Message) -> Receipt: ...
