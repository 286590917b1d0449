"""The security posture a standard promises: headers, TLS, open ports, secrets, container and nginx hardening.

Audits run on `every`; each finding is a signal through the same rules, routes and escalations as alerts.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from siaga.spec.durations import Duration


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HeaderPolicy(_Model):
    """Response headers every URL must send."""

    profile: Literal["owasp", "observatory", "none"] = Field(
        "owasp",
        description="Baseline: `owasp` (OWASP Secure Headers Project recommendations), `observatory` (only "
        "what the HTTP Observatory scores), or `none` (only `require`).",
    )
    require: dict[str, str] = Field(
        {}, description="Headers the standard adds, with the exact value each must have (case-insensitive)."
    )
    min_grade: str | None = Field(
        None, pattern=r"^(A\+|A|A-|B\+|B|B-|C\+|C|C-|D\+|D|D-|F)$", description="Lowest acceptable grade."
    )


class HostPolicy(_Model):
    """One host and the ports it may expose; only `check_ports` are probed (TCP connect)."""

    host: str = Field(min_length=1, description="Host name or address (only this one is probed).")
    allow_ports: list[int] = Field([], description="Ports that may be open.")
    check_ports: list[int] = Field(
        [], description="Ports to probe; an open one not in allow_ports is a finding. Default: allow_ports."
    )

    @model_validator(mode="after")
    def _ports(self) -> Self:
        for port in [*self.allow_ports, *self.check_ports]:
            if not 1 <= port <= 65535:
                raise ValueError(f"port {port} is not between 1 and 65535")
        return self


class Targets(_Model):
    """What is audited over the network."""

    urls: list[str] = Field(
        [], description="URLs whose responses are audited (headers, cookies, redirect, TLS)."
    )
    hosts: list[HostPolicy] = Field([], description="Hosts with the ports they may expose.")


class TlsPolicy(_Model):
    """TLS requirements."""

    min_version: Literal["1.0", "1.1", "1.2", "1.3"] = Field("1.2", description="Lowest protocol allowed.")
    expiry_warning: list[Duration] = Field(
        ["30d", "14d", "7d"],  # validated into durations
        validate_default=True,
        description="Certificate expiry thresholds; the nearest one crossed sets the severity.",
    )


class Security(_Model):
    """The security audit."""

    headers: HeaderPolicy = Field(default_factory=HeaderPolicy, description="Required response headers.")
    targets: Targets = Field(default_factory=Targets, description="URLs and hosts to audit.")
    tls: TlsPolicy = Field(default_factory=TlsPolicy, description="TLS policy.")
    scan_paths: list[str] = Field(
        [],
        description="Directories (relative to the spec file) scanned for secrets, compose files, Dockerfiles "
        "and nginx configs.",
    )
    baseline: str | None = Field(
        None,
        description="YAML file of accepted findings (rule, location, reason, expires), relative to the spec.",
    )
    every: Duration | None = Field(None, description="Audit on this schedule under `siaga run` (e.g. 1d).")
    fail_under: int = Field(70, ge=0, le=100, description="`siaga audit` exits 1 under this overall score.")
