"""TLS checks: a handshake, and the certificate the server presents.

The probe succeeds whenever a handshake completed, even with a certificate that does not verify: it then
reports ``cert.chain_valid`` / ``cert.hostname_valid`` as false and leaves the verdict to the conditions
(the default, ``cert.days_left > 0``, only judges expiry). The chain is verified by OpenSSL against
``ca_file`` or the system's store; when that fails a second handshake without verification reads the
certificate anyway. The host name is matched here, against the leaf's subjectAltName entries (RFC 6125:
a wildcard covers exactly one leftmost label; the subject CN is not used, as in browsers), so that both
answers are known even when the chain is broken.

``min_version`` TLSv1 / TLSv1.1 also lowers OpenSSL's security level for the probe, since OpenSSL 3
refuses those protocols (and SHA-1 signatures) at its default level and the check asked to allow them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from pydantic import BaseModel

from siaga.integrations.probes.base import ProbeResult
from siaga.integrations.probes.tcp import connect_failure
from siaga.spec.checks import TlsProbe

_VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}
# OpenSSL's reasons for "we share no protocol version" (each side may be the one to notice).
_NO_COMMON_VERSION = frozenset(
    {"UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION", "NO_PROTOCOLS_AVAILABLE", "VERSION_TOO_LOW"}
)
_CLOSE_GRACE = 1.0  # seconds a close_notify exchange may take before we stop waiting for it
_SECONDS_PER_DAY = 86400.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class TlsProber:
    """Probes ``tls`` checks; ``now`` gives the time ``cert.days_left`` counts from.

    SSL contexts (loading a CA store costs milliseconds) are built once per (ca_file, min_version).
    """

    def __init__(self, *, now: Callable[[], datetime] = _utc_now) -> None:
        self._now = now
        self._contexts: dict[tuple[str | None, str, bool], ssl.SSLContext] = {}

    async def probe(self, settings: BaseModel, timeout: float) -> ProbeResult:
        """Handshake with ``settings.host:port``; ok, with the certificate's facts, once one completed."""
        if not isinstance(settings, TlsProbe):
            raise TypeError(f"TlsProber cannot probe {type(settings).__name__}")
        started = time.perf_counter()
        name = settings.server_name or settings.host
        try:
            verifying = self._context(settings, verify=True)
        except OSError as exc:
            error = f"TLS: cannot read ca_file {settings.ca_file}: {exc.strerror or type(exc).__name__}"
            return ProbeResult(False, time.perf_counter() - started, error)
        try:
            async with asyncio.timeout(timeout):
                try:
                    der, protocol = await _handshake(settings.host, settings.port, name, verifying)
                    chain_valid = True
                except ssl.SSLCertVerificationError:
                    unverified = self._context(settings, verify=False)
                    der, protocol = await _handshake(settings.host, settings.port, name, unverified)
                    chain_valid = False
        except TimeoutError:
            return ProbeResult(False, time.perf_counter() - started, f"timed out after {timeout:g}s")
        except ssl.SSLError as exc:
            return ProbeResult(False, time.perf_counter() - started, _tls_failure(exc, settings.min_version))
        except OSError as exc:
            return ProbeResult(False, time.perf_counter() - started, connect_failure(exc, settings.host))
        latency = time.perf_counter() - started
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            return ProbeResult(False, latency, "TLS: the server's certificate could not be parsed")
        facts = certificate_facts(cert, name, self._now())
        return ProbeResult(
            True, latency, None, {"cert": {**facts, "chain_valid": chain_valid}, "protocol": protocol}
        )

    def _context(self, settings: TlsProbe, *, verify: bool) -> ssl.SSLContext:
        key = (settings.ca_file, settings.min_version, verify)
        context = self._contexts.get(key)
        if context is None:
            context = _make_context(settings.ca_file if verify else None, settings.min_version, verify=verify)
            self._contexts[key] = context
        return context

    async def close(self) -> None:
        self._contexts.clear()


def _make_context(ca_file: str | None, min_version: str, *, verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file) if verify else ssl.create_default_context()
    context.check_hostname = False  # matched in certificate_facts, so a broken chain still gets an answer
    if not verify:
        context.verify_mode = ssl.CERT_NONE
    version = _VERSIONS[min_version]
    if version < ssl.TLSVersion.TLSv1_2:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings(action="ignore", category=DeprecationWarning):
            context.minimum_version = version  # deprecated protocols, which the check explicitly allows
    else:
        context.minimum_version = version
    return context


async def _handshake(host: str, port: int, name: str, context: ssl.SSLContext) -> tuple[bytes, str]:
    """The peer's certificate (DER) and the negotiated protocol, from one handshake."""
    _, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=name)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True)
        protocol = ssl_object.version() or "unknown"
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(_CLOSE_GRACE):
                await writer.wait_closed()
    if der is None:
        raise ssl.SSLError("the server sent no certificate")
    return der, protocol


def certificate_facts(cert: x509.Certificate, name: str, now: datetime) -> dict[str, Any]:
    """What conditions see of ``cert`` (but ``chain_valid``), checked against host ``name`` at ``now``."""
    not_after = cert.not_valid_after_utc
    return {
        "days_left": (not_after - now).total_seconds() / _SECONDS_PER_DAY,
        "not_after": not_after.isoformat(),
        "subject": _name_text(cert.subject, (NameOID.COMMON_NAME,)),
        "issuer": _name_text(cert.issuer, (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME)),
        "hostname_valid": hostname_matches(cert, name),
        "serial": f"{cert.serial_number:X}",
    }


def _name_text(name: x509.Name, oids: tuple[x509.ObjectIdentifier, ...]) -> str:
    for oid in oids:
        attributes = name.get_attributes_for_oid(oid)
        if attributes:
            value = attributes[0].value
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return name.rfc4514_string()


def hostname_matches(cert: x509.Certificate, name: str) -> bool:
    """Whether ``cert``'s subjectAltName covers ``name`` (a DNS name or an IP address)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):  # ValueError: a malformed extensions block
        return False
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        wanted = name.rstrip(".").lower()
        return any(_dns_name_matches(pattern, wanted) for pattern in san.get_values_for_type(x509.DNSName))
    return address in san.get_values_for_type(x509.IPAddress)


def _dns_name_matches(pattern: str, name: str) -> bool:
    pattern = pattern.rstrip(".").lower()
    if pattern.startswith("*."):
        label, _, rest = name.partition(".")
        return bool(label) and rest == pattern[2:]
    return pattern == name


def _tls_failure(exc: ssl.SSLError, min_version: str) -> str:
    reason = exc.reason or ""
    if reason in _NO_COMMON_VERSION:
        return f"TLS: server offers nothing at or above {min_version}"
    detail = reason.replace("_", " ").lower() if reason else (exc.strerror or str(exc))
    return f"TLS: handshake failed: {' '.join(detail.split())[:200]}"
