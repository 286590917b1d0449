"""An audit as JSON (schema in docs/audit.md), SARIF 2.1.0 (for code-scanning UIs) and an HTML report a
manager can read for the quarterly security review."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape

from siaga import __version__
from siaga.audit.run import AuditResult
from siaga.domain.audit import Finding, Severity

JSON_SCHEMA_VERSION = 1
_SARIF_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}


def finding_json(finding: Finding, accepted: bool = False) -> dict[str, Any]:
    return {
        "key": finding.key,
        "rule": finding.rule,
        "area": finding.area,
        "severity": finding.severity.label,
        "location": finding.location,
        "message": finding.message,
        "evidence": finding.evidence,
        "fix": finding.fix,
        "accepted": accepted,
    }


def to_json(result: AuditResult, new: Sequence[Finding] = (), fixed: Sequence[str] = ()) -> dict[str, Any]:
    """The documented JSON form (``docs/audit.md``)."""
    return {
        "schema": JSON_SCHEMA_VERSION,
        "started_at": result.started.isoformat(),
        "finished_at": result.finished.isoformat(),
        "overall": result.scores.overall,
        "areas": {
            a.area: {"score": a.score, "findings": a.findings, **({"grade": a.grade} if a.grade else {})}
            for a in result.scores.areas
        },
        "findings": [finding_json(f) for f in result.findings],
        "accepted": [finding_json(f, accepted=True) for f in result.accepted],
        "expired_acceptances": [
            {"rule": a.rule, "location": a.location, "reason": a.reason, "expires": a.expires}
            for a in result.expired
        ],
        "new": [f.key for f in new],
        "fixed": list(fixed),
    }


def to_sarif(result: AuditResult) -> dict[str, Any]:
    rules = sorted({f.rule: f for f in result.findings}.items())
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "siaga audit",
                        "version": __version__,
                        "informationUri": "https://github.com/siaga/siaga",
                        "rules": [
                            {
                                "id": rule,
                                "shortDescription": {"text": f.message},
                                "help": {"text": f.fix or f.message},
                            }
                            for rule, f in rules
                        ],
                    }
                },
                "results": [_sarif_result(f) for f in result.findings],
            }
        ],
    }


def _sarif_result(finding: Finding) -> dict[str, Any]:
    location: dict[str, Any]
    path, _, line = finding.location.rpartition(":")
    if path and line.isdigit() and "://" not in finding.location:
        location = {
            "physicalLocation": {"artifactLocation": {"uri": path}, "region": {"startLine": int(line)}}
        }
    else:
        location = {"logicalLocations": [{"fullyQualifiedName": finding.location}]}
    return {
        "ruleId": finding.rule,
        "level": _SARIF_LEVEL[finding.severity],
        "message": {"text": f"{finding.message}" + (f" Fix: {finding.fix}" if finding.fix else "")},
        "locations": [location],
        "partialFingerprints": {"siagaKey/v1": finding.key},
        "properties": {"severity": finding.severity.label, "area": finding.area},
    }


# The template lives beside this module (long HTML lines read better in their own file).
_TEMPLATE = (Path(__file__).with_name("report.html")).read_text(encoding="utf-8")
_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))


def to_html(
    result: AuditResult,
    *,
    project: str,
    new: Sequence[Finding] = (),
    fixed: Sequence[str] = (),
    history: Sequence[Mapping[str, Any]] = (),
) -> str:
    trend = [
        {
            "started": row["started_at"].strftime("%Y-%m-%d"),
            "overall": row["overall"],
            "count": len(row["findings"]),
        }
        for row in history
    ]
    return _ENV.from_string(_TEMPLATE).render(
        project=project,
        started=result.started.strftime("%Y-%m-%d %H:%M UTC"),
        overall=result.scores.overall,
        areas=result.scores.areas,
        findings=result.findings,
        accepted=result.accepted,
        new={f.key for f in new},
        fixed=fixed,
        trend=trend,
        version=__version__,
    )
