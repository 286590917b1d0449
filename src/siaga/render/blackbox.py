"""Checks marked ``via: blackbox``: their blackbox_exporter module, and the alert that watches the probe.

blackbox_exporter cannot evaluate CEL, so such a check's conditions are limited to the forms that have a
meaning there: ``status == N`` and ``status in [..]`` (the module's valid status codes), ``latency <
duration("3s")`` and ``cert.days_left > N`` (terms of the alert expression). Anything else is refused when
the spec loads, naming the condition, rather than silently dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from siaga.spec.durations import format_duration, parse_duration

if TYPE_CHECKING:
    from siaga.spec.checks import Check

KINDS = ("http", "tcp", "tls", "dns")
_STATUS_EQ = re.compile(r"^status\s*==\s*(\d{3})$")
_STATUS_IN = re.compile(r"^status\s+in\s+\[\s*(\d{3}(?:\s*,\s*\d{3})*)\s*\]$")
_LATENCY = re.compile(r"""^latency\s*<=?\s*duration\(\s*["']([0-9a-z.]+)["']\s*\)$""")
_DAYS_LEFT = re.compile(r"^cert\.days_left\s*(>=?)\s*(\d+)$")
_TLS_VERSIONS = {"TLSv1": "TLS10", "TLSv1.1": "TLS11", "TLSv1.2": "TLS12", "TLSv1.3": "TLS13"}
# The conditions a check gets when it lists none; blackbox's own defaults mean the same.
_DEFAULTS = frozenset(
    {"status >= 200 && status < 400", "cert.days_left > 0", 'rcode == "NOERROR"', "size(records) > 0"}
)


@dataclass(frozen=True, slots=True)
class Expectations:
    """A blackbox check's conditions, translated."""

    status_codes: tuple[int, ...] = ()
    max_latency_s: float | None = None
    min_days_left: int | None = None
    notes: tuple[str, ...] = field(default=())


def _translate(check: Check) -> tuple[Expectations | None, str | None]:
    codes: list[int] = []
    latency: float | None = None
    days: int | None = None
    for text in check.expect:
        condition = " ".join(text.split())
        if condition in _DEFAULTS:
            continue
        if check.kind == "http" and (match := _STATUS_EQ.match(condition)):
            codes.append(int(match.group(1)))
        elif check.kind == "http" and (match := _STATUS_IN.match(condition)):
            codes.extend(int(code) for code in match.group(1).split(","))
        elif match := _LATENCY.match(condition):
            try:
                latency = parse_duration(match.group(1)).total_seconds()
            except ValueError as exc:
                return None, str(exc)
        elif check.kind == "tls" and (match := _DAYS_LEFT.match(condition)):
            days = int(match.group(2)) + (1 if match.group(1) == ">" else 0)
        else:
            return None, (
                f"blackbox_exporter cannot evaluate '{text}'; a `via: blackbox` check may only use "
                "`status == N`, `status in [..]`, `latency < duration(..)` and `cert.days_left > N` "
                "(let Siaga run this check, or write a PromQL rule)"
            )
    return Expectations(tuple(sorted(set(codes))), latency, days), None


def untranslatable(check: Check) -> str | None:
    """Why this ``via: blackbox`` check cannot run on blackbox_exporter, or None when it can."""
    if check.kind not in KINDS:
        return f"a {check.kind} check cannot run on blackbox_exporter (it probes {', '.join(KINDS)})"
    if check.degraded_if:
        return "blackbox_exporter has no 'degraded' state: drop degraded_if or let Siaga run this check"
    if check.http is not None and (check.http.basic_auth or check.http.bearer_token):
        return "credentials would have to be written into blackbox.yml: let Siaga run this check"
    if check.dns is not None:
        if check.dns.server is None:
            return "a dns check via blackbox needs `server` (blackbox_exporter queries that resolver)"
        if len(check.dns.expect_values) > 1:
            return "blackbox_exporter can require one expected DNS value, not several"
    return _translate(check)[1]


def expectations(check: Check) -> Expectations:
    translated, problem = _translate(check)
    if translated is None:
        raise ValueError(problem)
    return translated


def module_name(service: str, check: Check) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{service}__{check.name}")


def target(check: Check) -> str:
    """What the blackbox module probes (its ``target`` parameter)."""
    if check.http is not None:
        return check.http.url
    if check.tcp is not None:
        return f"{check.tcp.host}:{check.tcp.port}"
    if check.tls is not None:
        return f"{check.tls.host}:{check.tls.port}"
    if check.dns is None or check.dns.server is None:
        raise ValueError(f"check {check.name}: a blackbox dns check needs `server`")
    server = check.dns.server
    return server if ":" in server.rsplit("]", 1)[-1] else f"{server}:53"


def module(check: Check) -> dict[str, Any]:
    """The blackbox_exporter module for a check (keys in blackbox's documented order)."""
    found = expectations(check)
    timeout = format_duration(check.timeout)
    if check.http is not None:
        http: dict[str, Any] = {"method": check.http.method, "preferred_ip_protocol": "ip4"}
        if found.status_codes:
            http["valid_status_codes"] = list(found.status_codes)
        if check.http.headers:
            http["headers"] = dict(sorted(check.http.headers.items()))
        if check.http.body is not None:
            http["body"] = check.http.body
        if not check.http.follow_redirects:
            http["follow_redirects"] = False
        if not check.http.verify_tls:
            http["tls_config"] = {"insecure_skip_verify": True}
        return {"prober": "http", "timeout": timeout, "http": http}
    if check.tcp is not None:
        tcp: dict[str, Any] = {"preferred_ip_protocol": "ip4"}
        steps: list[dict[str, str]] = []
        if check.tcp.send is not None:
            steps.append({"send": check.tcp.send})
        if check.tcp.receive is not None:
            steps.append({"expect": re.escape(check.tcp.receive)})
        if steps:
            tcp["query_response"] = steps
        return {"prober": "tcp", "timeout": timeout, "tcp": tcp}
    if check.tls is not None:
        tls_config: dict[str, Any] = {"min_version": _TLS_VERSIONS[check.tls.min_version]}
        if check.tls.server_name:
            tls_config["server_name"] = check.tls.server_name
        if check.tls.ca_file:
            tls_config["ca_file"] = check.tls.ca_file
        return {
            "prober": "tcp",
            "timeout": timeout,
            "tcp": {"preferred_ip_protocol": "ip4", "tls": True, "tls_config": tls_config},
        }
    if check.dns is None:
        raise ValueError(f"check {check.name}: a {check.kind} check cannot run on blackbox_exporter")
    dns: dict[str, Any] = {
        "query_name": check.dns.name,
        "query_type": check.dns.type,
        "valid_rcodes": ["NOERROR"],
        "preferred_ip_protocol": "ip4",
    }
    if check.dns.expect_values:
        dns["validate_answer_rrs"] = {
            "fail_if_none_matches_regexp": [f".*{re.escape(check.dns.expect_values[0])}$"]
        }
    return {"prober": "dns", "timeout": timeout, "dns": dns}


def alert_expr(selector: str, check: Check) -> str:
    """PromQL that holds while the check fails: the probe failed, or it was too slow, or the certificate
    is too close to expiry. Every term keeps the series of ``probe_success``, so the alert has one label
    set."""
    found = expectations(check)
    terms = [f"probe_success{selector} < 1"]
    if found.max_latency_s is not None:
        terms.append(
            f"(probe_success{selector} and probe_duration_seconds{selector} >= {found.max_latency_s:g})"
        )
    if found.min_days_left is not None:
        terms.append(
            f"(probe_success{selector} and (probe_ssl_earliest_cert_expiry{selector} - time()) "
            f"< {found.min_days_left} * 86400)"
        )
    return " or ".join(terms)
