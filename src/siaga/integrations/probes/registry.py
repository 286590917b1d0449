"""The one place that knows every probed check kind: kind name → the Prober of that kind.

One prober per kind, shared by every check of that kind; heartbeat checks are pushed, not probed, so
they have none. HTTP probes use the ``aiohttp.ClientSession`` given, or a pooled one of their own.
"""

from __future__ import annotations

import aiohttp

from siaga.integrations.probes.base import Prober
from siaga.integrations.probes.db import DbProber
from siaga.integrations.probes.dns import DnsProber
from siaga.integrations.probes.host import HostProber
from siaga.integrations.probes.http import HttpProber
from siaga.integrations.probes.tcp import TcpProber
from siaga.integrations.probes.tls import TlsProber

__all__ = ["PROBED_KINDS", "close_probers", "make_probers"]

PROBED_KINDS = ("http", "tcp", "tls", "dns", "host", "db")


def make_probers(session: aiohttp.ClientSession | None = None) -> dict[str, Prober]:
    """A prober for every probed kind, by kind name; HTTP goes through ``session`` when given."""
    return {
        "http": HttpProber(session),
        "tcp": TcpProber(),
        "tls": TlsProber(),
        "dns": DnsProber(),
        "host": HostProber(),
        "db": DbProber(),
    }


async def close_probers(probers: dict[str, Prober]) -> None:
    """Close every prober (an injected HTTP session stays open: its owner closes it)."""
    for prober in probers.values():
        await prober.close()
