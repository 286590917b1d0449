"""The collectors of each audit area, as the audit runner calls them: async, over the request's targets.

Blocking collectors (file parsers) run in a worker thread, so the network collectors go on meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from siaga.audit.run import AuditRequest, Collector
from siaga.domain.audit import Finding


async def containers(request: AuditRequest) -> tuple[list[Finding], dict[str, str]]:
    from siaga.audit.containers import audit_containers

    return await asyncio.to_thread(audit_containers, list(request.paths)), {}


async def nginx(request: AuditRequest) -> tuple[list[Finding], dict[str, str]]:
    from siaga.audit.nginx import audit_nginx

    return await asyncio.to_thread(audit_nginx, list(request.paths), request.headers.require), {}


COLLECTORS: Sequence[tuple[str, Collector]] = (
    ("containers", containers),
    ("nginx", nginx),
)
