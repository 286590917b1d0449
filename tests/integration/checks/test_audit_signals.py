"""Audit findings are signals: a critical finding pages at the most urgent level, a high one at the
second, lower ones are only reported; a finding fixed by the next audit resolves its alert; the baseline
mutes accepted findings until they expire; a collector that breaks does not stop the others."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from siaga.adapters.clock import ManualClock
from siaga.audit import report
from siaga.audit.run import AuditRequest, Collector, run
from siaga.bootstrap import Container
from siaga.domain.audit import Accepted, Finding, Severity
from siaga.services import audit as service
from siaga.services import incidents
from siaga.spec import Spec
from siaga.spec.security import HostPolicy
from tests.integration.checks.conftest import make_spec

DB_PORT = Finding(
    "ports.forbidden-open", "ports", Severity.CRITICAL, "203.0.113.10:3306", "3306 is open", "", "close it"
)
CERT = Finding(
    "tls.expiry", "tls", Severity.HIGH, "https://p.test/", "certificate expires in 12 days", "", "renew"
)
HSTS = Finding("headers.missing-hsts", "headers", Severity.MEDIUM, "https://p.test/", "no HSTS", "", "add it")


def _collectors(found: dict[str, list[Finding]]) -> list[tuple[str, Collector]]:
    def make(area: str) -> Collector:
        async def collect(_request: AuditRequest) -> tuple[list[Finding], dict[str, str]]:
            if area == "secrets":
                raise RuntimeError("boom")
            return list(found.get(area, [])), ({"headers": "B"} if area == "headers" else {})

        return collect

    return [(area, make(area)) for area in ("headers", "tls", "ports", "secrets")]


def _audit(request: AuditRequest, found: dict[str, list[Finding]], clock: ManualClock):  # type: ignore[no-untyped-def]
    return asyncio.run(run(request, _collectors(found), now=clock.now))


def test_findings_page_by_severity_and_resolve_when_fixed(
    wire: Callable[[Spec], Container], clock: ManualClock, tmp_path: Path
) -> None:
    spec = make_spec("services: {}\n")
    container = wire(spec)
    request = AuditRequest(
        urls=("https://p.test/",),
        hosts=(HostPolicy(host="203.0.113.10", allow_ports=[22]),),
        paths=(tmp_path,),
    )
    first = _audit(request, {"ports": [DB_PORT], "tls": [CERT], "headers": [HSTS]}, clock)
    # The broken secrets collector is a finding of its own; the other areas were still audited.
    assert {f.rule for f in first.findings} == {DB_PORT.rule, CERT.rule, HSTS.rule, "audit.collector-error"}
    assert first.scores.area("ports").score == 40  # type: ignore[union-attr]
    assert first.scores.overall == 40
    new, fixed = service.record(uow=container.db, policy=container.policy, spec=spec, result=first)
    assert len(new) == 4
    assert fixed == []
    levels = {i["title"]: i["severity"] for i in incidents.list_incidents(uow=container.db)}
    assert levels == {
        "3306 is open (203.0.113.10:3306)": "SEV-1",
        "certificate expires in 12 days (https://p.test/)": "SEV-2",
    }

    second = _audit(request, {"tls": [CERT], "headers": [HSTS]}, clock)
    new, fixed = service.record(uow=container.db, policy=container.policy, spec=spec, result=second)
    assert new == []
    assert fixed == [DB_PORT.key]
    detail = incidents.get_incident(
        uow=container.db,
        incident_id=next(
            int(i["id"]) for i in incidents.list_incidents(uow=container.db) if "3306" in i["title"]
        ),
    )
    assert detail["alerts"][0]["status"] == "resolved"

    data = report.to_json(second, new, fixed)
    assert data["schema"] == 1
    assert data["fixed"] == [DB_PORT.key]
    assert data["areas"]["headers"]["grade"] == "B"
    sarif = report.to_sarif(second)
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} == {
        CERT.rule,
        HSTS.rule,
        "audit.collector-error",
    }
    html = report.to_html(
        second, project="pustani", new=new, fixed=fixed, history=service.history(uow=container.db)
    )
    assert "Security posture — pustani" in html
    assert "certificate expires in 12 days" in html
    json.dumps(data)


def test_baseline_accepts_until_it_expires(clock: ManualClock, tmp_path: Path) -> None:
    clock.set(datetime(2026, 12, 1, tzinfo=UTC))
    baseline = tmp_path / "security-baseline.yaml"
    baseline.write_text(
        "- {rule: headers.missing-hsts, location: 'https://p.test/', reason: 'CDN adds it',"
        " expires: 2026-12-31}\n"
        "- {rule: tls.expiry, location: 'https://p.test/', reason: renewing, expires: 2026-11-30}\n"
    )
    accepted = service.load_baseline(baseline)
    assert accepted[0] == Accepted("headers.missing-hsts", "https://p.test/", "CDN adds it", "2026-12-31")
    request = AuditRequest(urls=("https://p.test/",), baseline=accepted)
    result = _audit(request, {"tls": [CERT], "headers": [HSTS]}, clock)
    assert [f.rule for f in result.findings] == [CERT.rule]  # its acceptance expired yesterday
    assert [f.rule for f in result.accepted] == [HSTS.rule]
    assert [a.rule for a in result.expired] == ["tls.expiry"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {rule: x}\n")
    with pytest.raises(service.AuditInputError, match="entry 1 needs rule, location, reason and expires"):
        service.load_baseline(bad)
