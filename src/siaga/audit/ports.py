"""Open-port audit: TCP connects to one declared host's declared ports, judged against ``allow_ports``.

``probe_ports(policy)`` resolves ``policy.host`` once and connects (a plain TCP connect, closed at once; no
byte is sent) to ``check_ports`` (default: ``allow_ports``) on the addresses it resolved to — never any other
address: when the name has several, only the first of each family (IPv4, IPv6) is probed, and every
``PortState`` names the others as ``unprobed``. At most ``concurrency`` connects run at once, each given
``timeout`` seconds. The pure ``port_rules(states, policy)`` then judges: an open port that is not allowed is
a finding (critical for the usual database and cache ports, high otherwise), an allowed port that is closed
is info, a host that does not resolve is a finding of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from siaga.domain.audit import Finding, Severity
from siaga.spec.security import HostPolicy

__all__ = ["DATABASE_PORTS", "PortState", "port_rules", "ports_to_check", "probe_ports"]

AREA = "ports"
DNS_TIMEOUT = 5.0  # seconds for the one name lookup
# Ports whose service must never face the internet: the finding is critical and the fix names the service.
DATABASE_PORTS: Mapping[int, str] = {
    3306: "MariaDB/MySQL",
    5432: "PostgreSQL",
    6379: "Redis",
    27017: "MongoDB",
    9200: "Elasticsearch",
    11211: "memcached",
}


@dataclass(frozen=True, slots=True)
class PortState:
    """One port on one address: open (a TCP connect succeeded) or not, and why not."""

    port: int
    open: bool
    error: str | None = None  # refused, timed out, unreachable, or the DNS failure
    address: str | None = None  # None: the host did not resolve, nothing was probed
    unprobed: tuple[str, ...] = ()  # other addresses the host resolved to, left alone on purpose


def ports_to_check(policy: HostPolicy) -> list[int]:
    """The ports a policy asks to probe: ``check_ports``, or ``allow_ports`` when none are listed."""
    return sorted(set(policy.check_ports or policy.allow_ports))


async def probe_ports(policy: HostPolicy, *, concurrency: int = 64, timeout: float = 1.5) -> list[PortState]:
    """Given a host policy, connect to each port to check; return one state per port and probed address.

    Never raises for the network's answers: a name that does not resolve gives states with ``address`` None.
    """
    ports = ports_to_check(policy)
    if not ports:
        return []
    try:
        addresses, others = await _resolve(policy.host)
    except (OSError, TimeoutError) as exc:
        return [PortState(port, False, _resolve_failure(exc, policy.host)) for port in ports]
    gate = asyncio.Semaphore(max(1, concurrency))

    async def probe(address: str, port: int) -> PortState:
        async with gate:
            error = await _connect(address, port, timeout)
        return PortState(port, error is None, error, address, others)

    return list(await asyncio.gather(*(probe(a, p) for p in ports for a in addresses)))


async def _resolve(host: str) -> tuple[list[str], tuple[str, ...]]:
    """The first address of each family ``host`` resolves to, and the addresses not chosen."""
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), DNS_TIMEOUT)
    chosen: dict[int, str] = {}
    every: list[str] = []
    for family, _, _, _, sockaddr in infos:
        address = str(sockaddr[0])
        if family not in (socket.AF_INET, socket.AF_INET6) or address in every:
            continue
        every.append(address)
        chosen.setdefault(family, address)
    if not chosen:
        raise OSError(f"{host} has no IPv4 or IPv6 address")
    picked = list(chosen.values())
    return picked, tuple(a for a in every if a not in picked)


async def _connect(address: str, port: int, timeout: float) -> str | None:
    """None when a TCP connect to ``address:port`` succeeds within ``timeout``, else why it did not."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
    except TimeoutError:
        return f"no answer within {timeout:g} s (filtered?)"
    except ConnectionRefusedError:
        return "connection refused"
    except OSError as exc:
        return exc.strerror or errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


def _resolve_failure(exc: BaseException, host: str) -> str:
    if isinstance(exc, TimeoutError):
        return f"DNS: no answer for {host} within {DNS_TIMEOUT:g} s"
    if isinstance(exc, socket.gaierror):
        return f"DNS: {host} did not resolve ({exc.strerror or 'unknown error'})"
    return f"DNS: {exc}"


def _where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def port_rules(
    states: Sequence[PortState], policy: HostPolicy, *, database_ports: Mapping[int, str] = DATABASE_PORTS
) -> list[Finding]:
    """Given the probed states of ``policy``'s host, return the findings.

    ``database_ports`` (port -> service) are the ports whose opening is critical. A port counts as open when
    it is open on any probed address.
    """
    host = policy.host
    unresolved = [s for s in states if s.address is None]
    if unresolved:
        return [
            Finding(
                "ports.unresolved",
                AREA,
                Severity.MEDIUM,
                host,
                f"not audited: {host} did not resolve",
                unresolved[0].error or "",
                "fix the host name in the spec, or its DNS record",
            )
        ]
    findings: list[Finding] = []
    allowed = set(policy.allow_ports)
    for port, seen in _by_port(states).items():
        opened = [s.address or "" for s in seen if s.open]
        if opened and port not in allowed:
            findings.append(_forbidden(host, port, opened, database_ports))
        elif not opened and port in allowed:
            why = "; ".join(f"{s.address}: {s.error}" for s in seen)
            findings.append(
                Finding(
                    "ports.allowed-closed",
                    AREA,
                    Severity.INFO,
                    _where(host, port),
                    f"allowed port {port} is closed",
                    why,
                    "nothing to fix if the service is meant to be off; else start it or open the firewall",
                )
            )
    unprobed = next((s.unprobed for s in states if s.unprobed), ())
    if unprobed:
        probed = sorted({s.address or "" for s in states})
        findings.append(
            Finding(
                "ports.addresses-unprobed",
                AREA,
                Severity.INFO,
                host,
                f"{host} has {len(probed) + len(unprobed)} addresses; the first of each family was probed",
                f"probed {', '.join(probed)}; not probed {', '.join(unprobed)}",
                "list the other addresses as hosts of their own to audit them",
            )
        )
    return findings


def _by_port(states: Iterable[PortState]) -> dict[int, list[PortState]]:
    grouped: dict[int, list[PortState]] = {}
    for state in states:
        grouped.setdefault(state.port, []).append(state)
    return dict(sorted(grouped.items()))


def _forbidden(host: str, port: int, opened: list[str], database_ports: Mapping[int, str]) -> Finding:
    service = database_ports.get(port)
    if service is not None:
        severity = Severity.CRITICAL
        message = f"{service} port {port} is open to the network"
        fix = f"close {port} to the internet: bind {service} to 127.0.0.1 or firewall it (ufw deny {port})"
    else:
        severity = Severity.HIGH
        message = f"port {port} is open but not in allow_ports"
        fix = f"close {port} (stop the service, bind it to 127.0.0.1 or ufw deny {port}), or allow it"
    return Finding(
        "ports.forbidden-open",
        AREA,
        severity,
        _where(host, port),
        message,
        f"TCP connect succeeded on {', '.join(opened)}",
        fix,
    )
