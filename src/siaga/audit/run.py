"""One audit: every collector over its targets, concurrently, each isolated from the others' failures.

A collector that breaks (a bug, an unexpected answer) becomes an ``audit.collector-error`` finding for its
area and the rest of the audit still runs: an audit that stops at its first surprise tells nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from siaga.domain.audit import Accepted, Finding, Scores, Severity, apply_baseline, score
from siaga.spec.security import HeaderPolicy, HostPolicy, TlsPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditRequest:
    """What to audit: from the spec's `security:` section or from `siaga audit`'s ad hoc flags."""

    urls: tuple[str, ...] = ()
    hosts: tuple[HostPolicy, ...] = ()
    paths: tuple[Path, ...] = ()
    headers: HeaderPolicy = field(default_factory=HeaderPolicy)
    tls: TlsPolicy = field(default_factory=TlsPolicy)
    baseline: tuple[Accepted, ...] = ()

    @property
    def areas(self) -> list[str]:
        """The areas this request audits (an area with no target is not scored)."""
        found = []
        if self.urls:
            found += ["headers", "tls"]
        if self.hosts:
            found.append("ports")
        if self.paths:
            found += ["secrets", "containers", "nginx"]
        return found


@dataclass(frozen=True)
class AuditResult:
    started: datetime
    finished: datetime
    areas: tuple[str, ...]
    findings: tuple[Finding, ...]  # active: after the baseline
    accepted: tuple[Finding, ...]
    expired: tuple[Accepted, ...]
    scores: Scores
    grades: dict[str, str] = field(default_factory=dict)

    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)


Collector = Callable[[AuditRequest], Awaitable[tuple[list[Finding], dict[str, str]]]]


async def _isolated(
    area: str, collector: Collector, request: AuditRequest
) -> tuple[list[Finding], dict[str, str]]:
    try:
        return await collector(request)
    except Exception as exc:  # one collector's bug must not hide the other areas' findings
        log.exception("the %s audit failed", area)
        return [
            Finding(
                rule="audit.collector-error",
                area=area,
                severity=Severity.MEDIUM,
                location=area,
                message=f"the {area} audit could not finish: {type(exc).__name__}",
                fix="see Siaga's log for the cause; the other areas were audited",
            )
        ], {}


async def run(
    request: AuditRequest, collectors: Sequence[tuple[str, Collector]], *, now: Callable[[], datetime]
) -> AuditResult:
    """Run the collectors of the request's areas and score what they found."""
    started = now()
    wanted = [(area, c) for area, c in collectors if area in request.areas]
    outcomes = await asyncio.gather(*(_isolated(area, c, request) for area, c in wanted))
    findings = [f for found, _ in outcomes for f in found]
    grades = {k: v for _, g in outcomes for k, v in g.items()}
    triage = apply_baseline(findings, request.baseline, started.date().isoformat())
    ordered = tuple(sorted(triage.active, key=lambda f: (-f.severity, f.area, f.rule, f.location)))
    return AuditResult(
        started=started,
        finished=now(),
        areas=tuple(request.areas),
        findings=ordered,
        accepted=triage.accepted,
        expired=triage.expired,
        scores=score(ordered, request.areas, grades),
        grades=grades,
    )
