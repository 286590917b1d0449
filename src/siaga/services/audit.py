"""The security audit as a service: the spec's request, the run, its record, and the signals it raises.

Findings become alerts through the same pipeline as everything else: a critical finding (an open database
port, a certificate expiring within 7 days) at the most urgent level, a high one (expiring within 14 days, a
required header missing) at the second; medium and lower are reported, not paged. A finding's alert fires
when it first appears and resolves when an audit no longer finds it — in the same transaction as the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from siaga.audit.report import finding_json
from siaga.audit.run import AuditRequest, AuditResult, Collector
from siaga.domain.alerts import AlertIn, AlertStatus, fingerprint
from siaga.domain.audit import Accepted, Finding, Severity, diff
from siaga.services import ingest
from siaga.services.policy import Policy
from siaga.services.ports import UnitOfWork
from siaga.spec.models import Spec

log = logging.getLogger(__name__)
SOURCE = "audit"
ACTOR = "siaga:audit"
PAGED = {Severity.CRITICAL: 0, Severity.HIGH: 1}  # finding severity → index in the severity ladder


class AuditInputError(Exception):
    """Bad input to an audit (unreadable baseline, a path that does not exist): one line."""


def load_baseline(path: Path) -> tuple[Accepted, ...]:
    """A baseline file: a list of {rule, location, reason, expires: YYYY-MM-DD}."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except OSError as exc:
        raise AuditInputError(f"cannot read baseline {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise AuditInputError(f"baseline {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    entries = data.get("accepted", data) if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise AuditInputError(f"baseline {path}: expected a list of accepted findings")
    found = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not {"rule", "location", "reason", "expires"} <= set(entry):
            raise AuditInputError(f"baseline {path}: entry {i + 1} needs rule, location, reason and expires")
        expires = entry["expires"]
        try:
            expires_text = (
                expires.isoformat()
                if isinstance(expires, date)
                else date.fromisoformat(str(expires)).isoformat()
            )
        except ValueError:
            raise AuditInputError(
                f"baseline {path}: entry {i + 1} expires '{expires}' is not YYYY-MM-DD"
            ) from None
        found.append(Accepted(str(entry["rule"]), str(entry["location"]), str(entry["reason"]), expires_text))
    return tuple(found)


def request_from_spec(spec: Spec, spec_dir: Path) -> AuditRequest:
    security = spec.security
    baseline = load_baseline(spec_dir / security.baseline) if security.baseline else ()
    return AuditRequest(
        urls=tuple(security.targets.urls),
        hosts=tuple(security.targets.hosts),
        paths=tuple(spec_dir / p for p in security.scan_paths),
        headers=security.headers,
        tls=security.tls,
        baseline=baseline,
    )


def _level(spec: Spec, severity: Severity) -> str | None:
    index = PAGED.get(severity)
    if index is None:
        return None
    return spec.severities[min(index, len(spec.severities) - 1)].name


def _alert(spec: Spec, finding: dict[str, Any], status: AlertStatus, now: datetime) -> AlertIn | None:
    level = _level(spec, Severity.parse(finding["severity"]))
    if level is None:
        return None
    return AlertIn(
        labels={
            "alertname": f"Security: {finding['rule']}",
            "category": "security",
            "audit_rule": finding["rule"],
            "location": finding["location"],
            "severity": level,
        },
        status=status,
        starts_at=now,
        ends_at=now if status is AlertStatus.RESOLVED else None,
        annotations={
            "summary": f"{finding['message']} ({finding['location']})",
            "fix": finding.get("fix", ""),
        },
        fingerprint=fingerprint({"audit": finding["key"]}),
    )


def record(
    *, uow: UnitOfWork, policy: Policy, spec: Spec, result: AuditResult
) -> tuple[list[Finding], list[str]]:
    """Store the run; raise alerts for new paged findings and resolve those fixed; return (new, fixed)."""
    now = result.finished
    with uow.transaction() as store:
        previous = store.audit_runs(limit=1)
        before = {f["key"]: f for f in previous[0]["findings"] if not f.get("accepted")} if previous else {}
        new, fixed = diff(before, result.findings)
        rows = [finding_json(f) for f in result.findings] + [
            finding_json(f, accepted=True) for f in result.accepted
        ]
        store.insert_audit_run(
            {
                "started_at": result.started,
                "finished_at": now,
                "overall": result.scores.overall,
                "scores": {
                    a.area: {"score": a.score, "findings": a.findings, "grade": a.grade}
                    for a in result.scores.areas
                },
                "findings": rows,
            }
        )
        alerts = [_alert(spec, finding_json(f), AlertStatus.FIRING, now) for f in new]
        alerts += [_alert(spec, before[key], AlertStatus.RESOLVED, now) for key in fixed]
        wanted = [a for a in alerts if a is not None]
        if wanted:
            ingest.apply(store, policy, [ingest.Submission(wanted, SOURCE, ACTOR)], now)
    return new, fixed


def history(*, uow: UnitOfWork, limit: int = 12) -> list[dict[str, Any]]:
    with uow.read() as store:
        return [dict(row) for row in store.audit_runs(limit=limit)]


def default_collectors() -> Sequence[tuple[str, Collector]]:
    from siaga.audit.collectors import COLLECTORS

    return COLLECTORS


async def audit(
    request: AuditRequest,
    *,
    now: Callable[[], datetime],
    collectors: Sequence[tuple[str, Collector]] | None = None,
) -> AuditResult:
    from siaga.audit.run import run

    return await run(request, collectors if collectors is not None else default_collectors(), now=now)
