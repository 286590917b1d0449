"""DNS checks: one query, through the system's resolver or a chosen server, answers as text.

A name that does not exist (NXDOMAIN) or has no record of the type is still an answer: ok, with no
records and the rcode for the conditions. A server that answers SERVFAIL or REFUSED, or none that
answers in time, fails the probe. With ``expect_values`` every value must be among the records.

Records as text: A/AAAA the address, CNAME/NS the target without the final dot, MX ``10 mail.example.``,
TXT its strings joined, other types in zone-file form.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.resolver
from pydantic import BaseModel

from siaga.integrations.probes.base import ProbeResult
from siaga.spec.checks import DnsProbe

DEFAULT_PORT = 53


class DnsProber:
    """Probes ``dns`` checks; the system resolver's configuration is read afresh for every probe."""

    async def probe(self, settings: BaseModel, timeout: float) -> ProbeResult:
        """Resolve ``settings.name``; ok for any answer from the server, NXDOMAIN included."""
        if not isinstance(settings, DnsProbe):
            raise TypeError(f"DnsProber cannot probe {type(settings).__name__}")
        started = time.perf_counter()
        try:
            server = split_server(settings.server) if settings.server is not None else None
        except ValueError:
            return ProbeResult(
                False, time.perf_counter() - started, f"DNS: invalid server {settings.server!r}"
            )
        try:
            async with asyncio.timeout(timeout):
                resolver = await _resolver(server)
                records, rcode = await _query(resolver, settings, timeout)
        except (TimeoutError, dns.exception.Timeout):
            return ProbeResult(False, time.perf_counter() - started, f"timed out after {timeout:g}s")
        except dns.resolver.NoNameservers as exc:
            rcode, error = _no_answer(exc)
            return ProbeResult(False, time.perf_counter() - started, error, {"records": [], "rcode": rcode})
        except dns.resolver.NoResolverConfiguration:
            return ProbeResult(False, time.perf_counter() - started, "DNS: no system resolver configured")
        except socket.gaierror as exc:
            error = f"DNS: server {settings.server} did not resolve ({exc.strerror or 'unknown error'})"
            return ProbeResult(False, time.perf_counter() - started, error)
        except dns.exception.DNSException as exc:
            error = f"DNS: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
            return ProbeResult(False, time.perf_counter() - started, error)
        latency = time.perf_counter() - started
        variables: dict[str, Any] = {"records": records, "rcode": rcode}
        missing = [value for value in settings.expect_values if not _among(value, records, settings.type)]
        if missing:
            got = ", ".join(records) if records else f"no records ({rcode})"
            return ProbeResult(False, latency, f"missing {', '.join(missing)} (got {got})"[:300], variables)
        return ProbeResult(True, latency, None, variables)

    async def close(self) -> None:
        return None


async def _resolver(server: tuple[str, int] | None) -> dns.asyncresolver.Resolver:
    if server is None:
        return dns.asyncresolver.Resolver()
    host, port = server
    resolver = dns.asyncresolver.Resolver(configure=False)
    try:
        ipaddress.ip_address(host)
        addresses = [host]
    except ValueError:  # a host name: dnspython wants addresses
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    resolver.nameservers = addresses
    resolver.port = port
    return resolver


def split_server(server: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address → (host, port); ValueError if neither."""
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else DEFAULT_PORT
    host, port = server, DEFAULT_PORT
    if server.count(":") == 1:
        host, _, port_text = server.partition(":")
        port = int(port_text)
    if not host or not 0 < port < 65536:
        raise ValueError(server)
    return host, port


async def _query(
    resolver: dns.asyncresolver.Resolver, settings: DnsProbe, timeout: float
) -> tuple[list[str], str]:
    try:
        answer = await resolver.resolve(
            settings.name, settings.type, raise_on_no_answer=False, lifetime=timeout, search=False
        )
    except dns.resolver.NXDOMAIN:
        return [], "NXDOMAIN"
    rcode = dns.rcode.to_text(answer.response.rcode()) if answer.response is not None else "NOERROR"
    records = [record_text(rdata) for rdata in answer.rrset] if answer.rrset is not None else []
    return records, rcode


def record_text(rdata: dns.rdata.Rdata) -> str:
    """One record as the text conditions and ``expect_values`` compare with."""
    match rdata.rdtype:
        case dns.rdatatype.A | dns.rdatatype.AAAA:
            return str(rdata.address)  # type: ignore[attr-defined]
        case dns.rdatatype.CNAME | dns.rdatatype.NS:
            return str(rdata.target.to_text(omit_final_dot=True))  # type: ignore[attr-defined]
        case dns.rdatatype.TXT:
            return b"".join(rdata.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]
    return str(rdata.to_text())


def _among(value: str, records: list[str], record_type: str) -> bool:
    """Whether ``value`` is one of ``records``; names compare without case or a final dot."""
    if record_type == "TXT":
        return value in records
    wanted = _normalized(value)
    return any(_normalized(record) == wanted for record in records)


def _normalized(text: str) -> str:
    return " ".join(token.rstrip(".") for token in text.lower().split())


def _no_answer(exc: dns.resolver.NoNameservers) -> tuple[str, str]:
    """(rcode, error) when no server gave a usable answer: SERVFAIL, REFUSED… or unreachable."""
    errors = exc.kwargs.get("errors") or []
    for error in errors:
        if len(error) > 3 and isinstance(error[3], str):
            return error[3], f"DNS: the server answered {error[3]}"
    if errors and len(errors[0]) > 3 and isinstance(errors[0][3], OSError):
        reason = errors[0][3]
        return (
            "SERVFAIL",
            f"DNS: server {errors[0][0]} unreachable ({reason.strerror or type(reason).__name__})",
        )
    return "SERVFAIL", "DNS: no server could answer"
