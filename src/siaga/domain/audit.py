"""Security audit findings and scores, pure: what every collector's rules produce and how they add up.

A rule id names the check (``headers.missing-hsts``, ``ports.forbidden-open``, ``secrets.literal``…); a
finding is one rule failing at one location, with the evidence seen and a fix hint. Areas (headers, tls,
ports, secrets, containers, nginx) are scored 0 to 100 each; the overall score is the lowest area's, because a
posture is as strong as its weakest part.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum

AREAS = ("headers", "tls", "ports", "secrets", "containers", "nginx")


class Severity(IntEnum):
    """Finding severities, comparable (``Severity.HIGH > Severity.LOW``)."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity '{text}' (one of {names})") from None

    @property
    def label(self) -> str:
        return self.name.lower()


# Points an area loses per finding of each severity (an area starts at 100 and stops at 0).
PENALTY: Mapping[Severity, int] = {
    Severity.INFO: 0,
    Severity.LOW: 5,
    Severity.MEDIUM: 15,
    Severity.HIGH: 30,
    Severity.CRITICAL: 60,
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One failed rule at one place."""

    rule: str  # e.g. "headers.missing-x-frame-options"
    area: str  # one of AREAS
    severity: Severity
    location: str  # URL, host:port, path:line
    message: str  # what is wrong, one line
    evidence: str = ""  # what was seen (never a secret's value: secrets are shown masked)
    fix: str = ""  # how to fix it, one line

    @property
    def key(self) -> str:
        """Stable identity across runs (for baselines and new / fixed): rule + location."""
        return hashlib.sha256(f"{self.rule}\0{self.location}".encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class AreaScore:
    area: str
    score: int
    findings: int
    grade: str | None = None  # the headers area also carries the Observatory grade


@dataclass(frozen=True, slots=True)
class Scores:
    areas: tuple[AreaScore, ...] = ()
    overall: int = 100

    def area(self, name: str) -> AreaScore | None:
        return next((a for a in self.areas if a.area == name), None)


def area_score(findings: Iterable[Finding]) -> int:
    lost = sum(PENALTY[f.severity] for f in findings)
    return max(0, 100 - lost)


def score(
    findings: Iterable[Finding], audited: Iterable[str], grades: Mapping[str, str] | None = None
) -> Scores:
    """Scores of the ``audited`` areas (areas not audited are left out, not counted as perfect)."""
    by_area: dict[str, list[Finding]] = {}
    for finding in findings:
        by_area.setdefault(finding.area, []).append(finding)
    areas = tuple(
        AreaScore(
            name, area_score(by_area.get(name, [])), len(by_area.get(name, [])), (grades or {}).get(name)
        )
        for name in AREAS
        if name in set(audited)
    )
    return Scores(areas, min((a.score for a in areas), default=100))


@dataclass(frozen=True, slots=True)
class Accepted:
    """A baseline entry: a finding accepted until ``expires`` (ISO date), for ``reason``."""

    rule: str
    location: str
    reason: str
    expires: str


@dataclass(frozen=True, slots=True)
class Triage:
    """Findings after the baseline: those that count, those accepted, and expired acceptances."""

    active: tuple[Finding, ...] = ()
    accepted: tuple[Finding, ...] = ()
    expired: tuple[Accepted, ...] = field(default=())


def apply_baseline(findings: Iterable[Finding], baseline: Iterable[Accepted], today: str) -> Triage:
    """Given findings and a baseline (ISO ``today``), split them; an expired acceptance counts no more."""
    entries = list(baseline)
    live = {(a.rule, a.location) for a in entries if a.expires >= today}
    active: list[Finding] = []
    accepted: list[Finding] = []
    for finding in findings:
        (accepted if (finding.rule, finding.location) in live else active).append(finding)
    expired = tuple(a for a in entries if a.expires < today)
    return Triage(tuple(active), tuple(accepted), expired)


def diff(previous: Iterable[str], current: Iterable[Finding]) -> tuple[list[Finding], list[str]]:
    """What is new since the last run (findings) and what was fixed (keys no longer found)."""
    before = set(previous)
    now = {f.key: f for f in current}
    return [f for k, f in now.items() if k not in before], sorted(before - set(now))
