"""The probe contract: one module per check kind, each a `Prober` that never raises for a target's fault.

A prober is given the check's probe settings (the pydantic model of its kind) and a timeout, and returns a
`ProbeResult`: whether it reached the target and got an answer (`ok`), how long that took, a one-line
`error` when not ok (never a secret: URLs are shown without credentials), and the `variables` the check's
CEL conditions see (see siaga.spec.checks.CHECK_VARIABLES). The engine adds `latency` itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    latency: float  # seconds from start to answer (or to failure)
    error: str | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)


class Prober(Protocol):
    async def probe(self, settings: BaseModel, timeout: float) -> ProbeResult:
        """Run one probe with these settings, finishing within ``timeout`` seconds; never raise for the
        target's faults (refused, timed out, bad certificate…): return ``ok=False`` with the reason."""
        ...

    async def close(self) -> None:
        """Release pooled resources (sessions, connections)."""
        ...
