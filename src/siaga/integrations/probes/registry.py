"""The one place that knows every probed check kind: kind name → the Prober of that kind.

One prober per kind, shared by every check of that kind; heartbeat checks are pushed, not probed, so
they have none. HTTP probes use the ``aiohttp.ClientSession`` given, or a pooled one of their own.

A prober's module is imported when its kind is first asked for: the database drivers, DNS resolver and
TLS parser of kinds a spec does not use stay out of the server's memory (~20 MB of drivers here).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from siaga.integrations.probes.base import Prober

if TYPE_CHECKING:
    import aiohttp

__all__ = ["PROBED_KINDS", "close_probers", "make_probers"]

# kind → (module, class)
_PROBERS = {
    "http": ("siaga.integrations.probes.http", "HttpProber"),
    "tcp": ("siaga.integrations.probes.tcp", "TcpProber"),
    "tls": ("siaga.integrations.probes.tls", "TlsProber"),
    "dns": ("siaga.integrations.probes.dns", "DnsProber"),
    "host": ("siaga.integrations.probes.host", "HostProber"),
    "db": ("siaga.integrations.probes.db", "DbProber"),
}
PROBED_KINDS = tuple(_PROBERS)


class Probers(Mapping[str, Prober]):
    """A prober for every probed kind, made on first use."""

    def __init__(self, session: aiohttp.ClientSession | None = None) -> None:
        self._session = session
        self.made: dict[str, Prober] = {}

    def __getitem__(self, kind: str) -> Prober:
        if kind not in self.made:
            if kind not in _PROBERS:
                raise KeyError(kind)
            module, name = _PROBERS[kind]
            factory: Any = getattr(importlib.import_module(module), name)
            self.made[kind] = factory(self._session) if kind == "http" else factory()
        return self.made[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(_PROBERS)

    def __len__(self) -> int:
        return len(_PROBERS)


def make_probers(session: aiohttp.ClientSession | None = None) -> Probers:
    """A prober for every probed kind, by kind name; HTTP goes through ``session`` when given."""
    return Probers(session)


async def close_probers(probers: Mapping[str, Prober]) -> None:
    """Close every prober made (an injected HTTP session stays open: its owner closes it)."""
    made = probers.made if isinstance(probers, Probers) else dict(probers)
    for prober in made.values():
        await prober.close()
