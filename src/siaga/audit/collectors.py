"""The collectors of each audit area, as the audit runner calls them: async, over the request's targets.

Blocking collectors (file parsers) run in a worker thread, so the network collectors go on meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

from siaga.audit.run import AuditRequest, Collector
from siaga.domain.audit import Finding


async def containers(request: AuditRequest) -> tuple[list[Finding], dict[str, str]]:
    from siaga.audit.containers import audit_containers

    return await asyncio.to_thread(audit_containers, list(request.paths)), {}


async def nginx(request: AuditRequest) -> tuple[list[Finding], dict[str, str]]:
    from siaga.audit.nginx import audit_nginx

    return await asyncio.to_thread(audit_nginx, list(request.paths), request.headers.require), {}


async def tls(request: AuditRequest) -> tuple[list[Finding], dict[str, str]]:
    """Each https URL's host:port, once (several URLs on one server are one TLS audit)."""
    from siaga.audit.tls import scan_tls, tls_rules

    servers = sorted(
        {
            (parts.hostname, parts.port or 443)
            for parts in map(urlsplit, request.urls)
            if parts.scheme == "https" and parts.hostname
        }
    )
    scans = await asyncio.gather(*(asyncio.to_thread(scan_tls, host, port) for host, port in servers))
    now = datetime.now(UTC)
    return [f for facts in scans for f in tls_rules(facts, request.tls, now)], {}


async def ports(request: AuditRequest) -> tuple[list[Finding], dict[str, str]]:
    from siaga.audit.ports import port_rules, probe_ports

    found: list[Finding] = []
    for policy in request.hosts:
        found += port_rules(await probe_ports(policy), policy)
    return found, {}


async def headers(request: AuditRequest) -> tuple[list[Finding], dict[str, str]]:
    import aiohttp

    from siaga.audit.headers import audit

    async with aiohttp.ClientSession() as session:
        return await audit(list(request.urls), request.headers, session=session, timeout=10.0)


async def secrets(request: AuditRequest) -> tuple[list[Finding], dict[str, str]]:
    from siaga.audit.secrets import scan_tree

    found: list[Finding] = []
    for root in request.paths:
        found += await asyncio.to_thread(scan_tree, root)
    return found, {}


COLLECTORS: Sequence[tuple[str, Collector]] = (
    ("secrets", secrets),
    ("headers", headers),
    ("tls", tls),
    ("ports", ports),
    ("containers", containers),
    ("nginx", nginx),
)
