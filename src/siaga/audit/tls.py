"""TLS audit: the protocols and cipher suites a server accepts, the certificate it presents, and HSTS.

``scan_tls(host, port)`` collects ``TlsFacts`` (blocking: run it in a thread from async code); the pure
``tls_rules(facts, policy, now)`` turns them into findings. A host that does not resolve, answer or speak
TLS gives facts with a ``failure`` (so a finding), never an exception.

One host costs at most 50 connections (``CONNECTION_LIMIT``) and ``budget`` seconds (10):

1. the host is resolved once; one TCP connect and handshake (Python's ``ssl``) tell quickly whether
   anything speaks TLS there (sslyze's own connectivity test would wait out its timeout up to 11 times on a
   silent port);
2. sslyze's ``Scanner``, at most ``concurrency`` connections at once, tests connectivity (≤ 13 connections)
   and runs CERTIFICATE_INFO (4), HTTP_HEADERS (≤ 4, following redirects) and TLS_1_3_CIPHER_SUITES (5);
3. SSL 2.0 to TLS 1.2 are probed here through sslyze's connection helpers with grouped cipher lists, instead
   of sslyze's one-connection-per-suite commands (528 connections for those five versions): per version one
   handshake offering every suite; then, while the server accepts, one offering only the weak suites of the
   categories not seen yet (NULL, anonymous, EXPORT, RC4, DES, 3DES); for TLS 1.0 one offering CBC suites if
   none was seen. These probes share what is left of the 50 (23), start none that could outlast the
   deadline, and what they could not check is listed in ``skipped``.

When sslyze has not finished by the deadline the facts say ``timeout`` and the scan returns; sslyze's
(daemon) threads then end on their own connection timeouts, unwaited for.

So the suites listed for SSL 2.0 to TLS 1.2 are the server's own pick plus one per weak category found, not an
exhaustive list (TLS 1.3's is exhaustive). ROBOT, Heartbleed, CCS injection, renegotiation and resumption are
not run: each costs many connections, and the protocol and cipher rules flag what they depend on.

The chain is verified (cryptography's verifier, through sslyze's ``TrustStore``) against ``ca_file`` when
given, else sslyze's bundled Mozilla store, at a time inside the leaf's validity and for a name the leaf
itself carries: expiry and the host name are judged apart, so an expired or misnamed certificate from a
trusted CA is reported as exactly that. Every certificate deployment sslyze finds (an RSA and an ECDSA leaf)
is judged; per rule the worst finding is kept.
"""

from __future__ import annotations

import math
import re
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from ipaddress import ip_address
from pathlib import Path
from traceback import TracebackException
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning
from nassl._nassl import OpenSSLError
from nassl.ssl_client import ClientCertificateRequested
from sslyze.connection_helpers.tls_connection import NoCiphersAvailableBugInSSlyze
from sslyze.errors import ConnectionToServerFailed, ServerTlsConfigurationNotSupported, TlsHandshakeFailed
from sslyze.plugins.certificate_info.implementation import CertificateInfoScanResult
from sslyze.plugins.certificate_info.trust_stores.trust_store import TrustStore
from sslyze.plugins.certificate_info.trust_stores.trust_store_repository import TrustStoresRepository
from sslyze.plugins.http_headers_plugin import HttpHeadersScanResult
from sslyze.plugins.openssl_cipher_suites.cipher_suites import CipherSuitesRepository
from sslyze.plugins.scan_commands import ScanCommand
from sslyze.scanner.models import ServerConnectivityStatusEnum, ServerScanRequest, ServerScanResult
from sslyze.scanner.scan_command_attempt import ScanCommandAttempt, ScanCommandAttemptStatusEnum
from sslyze.scanner.scanner import Scanner
from sslyze.server_connectivity import ServerConnectivityInfo, TlsVersionEnum
from sslyze.server_setting import ServerNetworkConfiguration, ServerNetworkLocation

from siaga.domain.audit import Finding, Severity
from siaga.integrations.probes.tcp import connect_failure
from siaga.integrations.probes.tls import hostname_matches
from siaga.spec.security import TlsPolicy

__all__ = [
    "CONNECTION_LIMIT",
    "FAILURES",
    "PROTOCOLS",
    "Certificate",
    "Hsts",
    "TlsFacts",
    "cipher_weaknesses",
    "expiry_severity",
    "scan_tls",
    "tls_rules",
]

AREA = "tls"
PROTOCOLS = ("SSL 2.0", "SSL 3.0", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3")
FAILURES = ("unreachable", "not-tls", "handshake", "timeout")  # TlsFacts.failure: nothing could be judged
CONNECTION_LIMIT = 50
_SSLYZE_CONNECTIONS = 27  # at most: pre-check 1, connectivity 13, certificate 4, HTTP 4, TLS 1.3 suites 5
_PROBED = {
    "SSL 2.0": TlsVersionEnum.SSL_2_0,
    "SSL 3.0": TlsVersionEnum.SSL_3_0,
    "TLS 1.0": TlsVersionEnum.TLS_1_0,
    "TLS 1.1": TlsVersionEnum.TLS_1_1,
    "TLS 1.2": TlsVersionEnum.TLS_1_2,
}
_PROTOCOL_RULE = {
    "SSL 2.0": "ssl2",
    "SSL 3.0": "ssl3",
    "TLS 1.0": "tls10",
    "TLS 1.1": "tls11",
    "TLS 1.2": "tls12",
}
_EVERY_SUITE = "ALL:COMPLEMENTOFALL:-PSK:-SRP"
# How a reply that is no TLS at all (an SSH banner, an HTTP error page) looks to OpenSSL.
_NOT_TLS = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST"}
)


@dataclass(frozen=True, slots=True)
class Certificate:
    """One leaf the server presents, and how it verified."""

    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    names: tuple[str, ...]  # subjectAltName DNS names and IP addresses
    trusted: bool  # the chain verifies against the trust store (at a time the leaf is valid)
    trust_error: str
    hostname_matches: bool  # the leaf covers the server name (RFC 6125, subjectAltName only)


@dataclass(frozen=True, slots=True)
class Hsts:
    max_age: int | None
    include_subdomains: bool
    preload: bool


@dataclass(frozen=True, slots=True)
class TlsFacts:
    """What one scan of ``host:port`` saw; ``failure`` (one of FAILURES) when it saw nothing to judge."""

    host: str
    port: int
    server_name: str
    address: str | None = None  # the one address scanned
    failure: str | None = None
    error: str = ""
    accepted: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # protocol -> IANA suite names
    certificates: tuple[Certificate, ...] = ()
    https: bool = True
    hsts: Hsts | None = None
    http_error: str = ""  # why no HTTP response was read (HSTS unknown then)
    skipped: tuple[str, ...] = ()  # what could not be checked, each with its reason
    elapsed: float = 0.0

    @property
    def location(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


# -- collecting --------------------------------------------------------------------------------------


def scan_tls(
    host: str,
    port: int,
    server_name: str | None = None,
    timeout: float = 3.0,
    *,
    ca_file: Path | None = None,
    https: bool = True,
    concurrency: int = 10,
    budget: float = 10.0,
) -> TlsFacts:
    """Scan ``host:port`` (SNI and the name checked: ``server_name``, default ``host``) and return the facts.

    ``timeout`` bounds each connection, ``budget`` the whole scan; ``https`` asks for the HSTS header.
    Raises ValueError only for a ``ca_file`` that is not a file; the host's failures are facts.
    """
    if ca_file is not None and not ca_file.is_file():
        raise ValueError(f"CA file {ca_file} does not exist")
    started = time.monotonic()
    deadline = started + budget
    name = server_name or host
    facts = TlsFacts(host=host, port=port, server_name=name, https=https)

    def failed(failure: str, error: str) -> TlsFacts:
        return replace(facts, failure=failure, error=error, elapsed=time.monotonic() - started)

    try:
        address = str(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0])
    except OSError as exc:
        return failed("unreachable", connect_failure(exc, host))
    facts = replace(facts, address=address)
    refused = _speaks_tls(address, port, name, timeout)
    if refused is not None:
        return failed(*refused)

    location = ServerNetworkLocation(hostname=name, port=port, ip_address=address)
    network = ServerNetworkConfiguration(
        tls_server_name_indication=name, network_timeout=math.ceil(timeout), network_max_retries=1
    )
    commands = {ScanCommand.CERTIFICATE_INFO, ScanCommand.TLS_1_3_CIPHER_SUITES}
    if https:
        commands.add(ScanCommand.HTTP_HEADERS)
    request = ServerScanRequest(
        server_location=location, network_configuration=network, scan_commands=commands
    )
    result, error = _run_scanner(request, concurrency, deadline)
    if result is None:
        return failed("timeout" if error == "timeout" else "handshake", error)
    probing, attempts = result.connectivity_result, result.scan_result
    if (
        result.connectivity_status is not ServerConnectivityStatusEnum.COMPLETED
        or not probing
        or not attempts
    ):
        return failed("handshake", _last_line(result.connectivity_error_trace))

    info = ServerConnectivityInfo(location, network, probing)
    # a probe may take a connect and a handshake timeout: none starts that close to the deadline
    probes = _Budget(CONNECTION_LIMIT - _SSLYZE_CONNECTIONS, until=deadline - 2 * math.ceil(timeout))
    accepted: dict[str, tuple[str, ...]] = {}
    skipped: list[str] = []
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(_PROBED)))) as pool:
        for label, (suites, note) in zip(
            _PROBED, pool.map(lambda p: _probe(info, p, probes), _PROBED), strict=True
        ):
            if suites:
                accepted[label] = suites
            if note:
                skipped.append(f"{label}: {note}")
    tls13 = attempts.tls_1_3_cipher_suites
    if tls13.result is None:
        skipped.append(f"TLS 1.3 cipher suites: {_attempt_error(tls13)}")
    elif tls13.result.accepted_cipher_suites:
        accepted["TLS 1.3"] = tuple(s.cipher_suite.name for s in tls13.result.accepted_cipher_suites)
    cert_info = attempts.certificate_info
    if cert_info.result is None:
        skipped.append(f"certificate: {_attempt_error(cert_info)}")
    hsts, http_error = _hsts(attempts.http_headers) if https else (None, "")
    return replace(
        facts,
        accepted={p: accepted[p] for p in PROTOCOLS if p in accepted},
        certificates=_certificates(cert_info.result, name, ca_file),
        hsts=hsts,
        http_error=http_error,
        skipped=tuple(skipped),
        elapsed=time.monotonic() - started,
    )


def _speaks_tls(address: str, port: int, name: str, timeout: float) -> tuple[str, str] | None:
    """None when something answers a ClientHello as TLS servers do (an alert counts), else (failure, why)."""
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        return "unreachable", connect_failure(exc, address)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only "is this TLS?" here; the chain is judged later
    try:
        with context.wrap_socket(sock, server_hostname=name):
            return None
    except TimeoutError:
        return "not-tls", f"no TLS answer to a ClientHello within {timeout:g} s"
    except ssl.SSLError as exc:
        if exc.reason in _NOT_TLS:
            return (
                "not-tls",
                f"the answer to a ClientHello is not TLS ({exc.reason.lower().replace('_', ' ')})",
            )
        return None  # a TLS alert: a TLS server, only not one for this client's offer
    except OSError:
        return None  # closed or reset during the handshake: sslyze's tests tell more
    finally:
        sock.close()


def _run_scanner(
    request: ServerScanRequest, concurrency: int, deadline: float
) -> tuple[ServerScanResult | None, str]:
    """sslyze's result for ``request``, or None and why ("timeout": the deadline came first)."""
    outcome: list[ServerScanResult] = []
    errors: list[str] = []

    def scan() -> None:
        try:
            scanner = Scanner(
                per_server_concurrent_connections_limit=concurrency, concurrent_server_scans_limit=1
            )
            scanner.queue_scans([request])
            outcome.extend(scanner.get_results())
        except Exception as exc:  # noqa: BLE001  # a scanner bug must become a finding, not end the audit
            errors.append(f"sslyze failed: {type(exc).__name__}: {exc}")

    _trust_stores()  # parsed here, in the caller's thread (see _trust_stores)
    thread = threading.Thread(target=scan, name="siaga-tls-scan", daemon=True)  # as sslyze's own threads
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    if outcome:
        return outcome[0], ""
    return None, errors[0] if errors else "timeout"


class _Budget:
    """Connections the protocol probes may still open, and the (monotonic) time after which they open none."""

    def __init__(self, connections: int, *, until: float) -> None:
        self._left = connections
        self._until = until
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._left <= 0 or time.monotonic() > self._until:
                return False
            self._left -= 1
            return True


class _OutOfBudget(Exception):
    pass


def _probe(info: ServerConnectivityInfo, label: str, budget: _Budget) -> tuple[tuple[str, ...], str]:
    """The suites seen accepted with protocol ``label`` (see the module docstring), and a note if cut short"""
    version = _PROBED[label]
    suites = CipherSuitesRepository.get_all_cipher_suites(version)
    seen: list[str] = []
    try:
        first = _handshake(info, version, "SSLv2" if label == "SSL 2.0" else _EVERY_SUITE, budget)
        seen += [first] if first else []
        # SSL 2.0 has weak suites only; below TLS 1.2 the first offer held every suite legacy OpenSSL has,
        # while modern OpenSSL (TLS 1.2's) lacks the weak ones, so TLS 1.2 always gets the weak offer.
        if label == "SSL 2.0" or (first is None and label != "TLS 1.2"):
            return tuple(seen), ""
        found = frozenset().union(*map(cipher_weaknesses, seen))
        while wanted := [s.openssl_name for s in suites if cipher_weaknesses(s.name) - found]:
            chosen = _handshake(info, version, ":".join(wanted), budget, legacy=label == "TLS 1.2")
            if chosen is None or not cipher_weaknesses(chosen) - found:
                break
            seen.append(chosen)
            found |= cipher_weaknesses(chosen)
        if label == "TLS 1.0" and seen and not any("_CBC_" in s for s in seen):
            cbc = ":".join(s.openssl_name for s in suites if "_CBC_" in s.name)
            seen += filter(None, [_handshake(info, version, cbc, budget)])
    except _OutOfBudget:
        return tuple(seen), "not every weak suite checked (connection or time budget used up)"
    except ClientCertificateRequested:  # accepted, but the suite is not told before a client certificate
        unknown = ("(unknown: a client certificate was asked for)",)
        return tuple(seen) or unknown, "suites not listed: the server asks for a client certificate"
    except (ConnectionToServerFailed, OSError, OpenSSLError) as exc:
        return tuple(seen), f"probe failed: {' '.join(str(exc).split())[:160]}"
    return tuple(seen), ""


def _handshake(
    info: ServerConnectivityInfo,
    version: TlsVersionEnum,
    ciphers: str,
    budget: _Budget,
    *,
    legacy: bool = False,
) -> str | None:
    """The IANA name of the suite the server picks from ``ciphers`` with ``version``; None if it refuses."""
    if not budget.take():
        raise _OutOfBudget
    connection = info.get_preconfigured_tls_connection(
        override_tls_version=version, should_use_legacy_openssl=True if legacy else None
    )
    try:
        connection.ssl_client.set_cipher_list(ciphers)
        connection.connect(should_retry_connection=False)
        picked = connection.ssl_client.get_current_cipher_name()
    except ServerTlsConfigurationNotSupported:  # sslyze's client refused the server's weak DH: accepted
        return "(a suite with DH parameters too weak to complete)"
    except (TlsHandshakeFailed, NoCiphersAvailableBugInSSlyze):
        return None
    finally:
        connection.close()
    try:
        return CipherSuitesRepository.get_cipher_suite_with_openssl_name(version, picked).name
    except ValueError:
        return picked


_TRUST_STORES_LOCK = threading.Lock()


def _trust_stores() -> TrustStoresRepository:
    """sslyze's bundled stores, parsed once. Some of their roots have negative serial numbers, which
    cryptography warns about: the warning is about sslyze's data, not the audited server, so it is silenced
    here, in the caller's thread and under a lock (the filters are process-wide); in sslyze's threads an
    error filter would fail the scan command."""
    with _TRUST_STORES_LOCK:
        return _load_trust_stores()


@cache
def _load_trust_stores() -> TrustStoresRepository:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return TrustStoresRepository.get_default()


def _certificates(
    result: CertificateInfoScanResult | None, name: str, ca_file: Path | None
) -> tuple[Certificate, ...]:
    if result is None:
        return ()
    store = TrustStore(ca_file, "given CA file", "") if ca_file else _trust_stores().get_main_store()
    deployments = result.certificate_deployments
    return tuple(_certificate(d.received_certificate_chain, name, store) for d in deployments)


def _certificate(chain: Sequence[x509.Certificate], name: str, store: TrustStore) -> Certificate:
    leaf = chain[0]
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = [str(n) for n in san.get_values_for_type(x509.DNSName)]
        ips = [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    except (x509.ExtensionNotFound, ValueError):
        dns, ips = [], []
    # Verified for a name the leaf carries itself, so that a wrong host name is not also an untrusted chain.
    own: x509.DNSName | x509.IPAddress | None = None
    if dns:
        own = x509.DNSName(dns[0].replace("*", "wildcard", 1))
    elif ips:
        own = x509.IPAddress(ip_address(ips[0]))
    trusted, error = False, "the certificate has no subjectAltName"
    if own is not None:
        valid_at = min(max(datetime.now(UTC), leaf.not_valid_before_utc), leaf.not_valid_after_utc)
        pem = [c.public_bytes(Encoding.PEM).decode("ascii") for c in chain]
        checked = store.verify_certificate_chain(pem, own, validation_time=valid_at)
        trusted = checked.was_validation_successful
        error = "" if trusted else " ".join((checked.validation_error or "").split())[:240]
    return Certificate(
        subject=leaf.subject.rfc4514_string(),
        issuer=leaf.issuer.rfc4514_string(),
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        names=(*dns, *ips),
        trusted=trusted,
        trust_error=error,
        hostname_matches=hostname_matches(leaf, name),
    )


def _hsts(attempt: ScanCommandAttempt[HttpHeadersScanResult]) -> tuple[Hsts | None, str]:
    result = attempt.result
    if result is None:
        return None, _attempt_error(attempt)
    if result.http_error_trace is not None:
        return None, _last_line(result.http_error_trace)
    header = result.strict_transport_security_header
    if header is None:
        return None, ""
    return Hsts(header.max_age, header.include_subdomains, header.preload), ""


def _attempt_error(attempt: ScanCommandAttempt[Any]) -> str:
    if attempt.status is ScanCommandAttemptStatusEnum.NOT_SCHEDULED:
        return "not run"
    reason = attempt.error_reason.value.lower().replace("_", " ") if attempt.error_reason else "error"
    return f"{reason}: {_last_line(attempt.error_trace)}"


def _last_line(trace: TracebackException | None) -> str:
    text = "".join(trace.format_exception_only()).strip() if trace else ""
    return " ".join(re.sub(r"^[\w.]+\.(\w+):", r"\1:", text).split())[:240] or "unknown error"


# -- judging -----------------------------------------------------------------------------------------

_FindingMaker = Callable[[str, Severity, str, str, str], Finding]  # (rule, severity, message, evidence, fix)
_WEAK: Mapping[str, tuple[Severity, str]] = {
    "null": (Severity.HIGH, "NULL suites (no encryption at all)"),
    "anonymous": (Severity.HIGH, "anonymous suites (no server authentication: open to MITM)"),
    "export": (Severity.HIGH, "EXPORT suites (40/56-bit keys: FREAK, Logjam)"),
    "rc4": (Severity.HIGH, "RC4 suites (biased keystream, prohibited by RFC 7465)"),
    "des": (Severity.HIGH, "single-DES suites (56-bit keys)"),
    "3des": (Severity.MEDIUM, "3DES suites (64-bit blocks: Sweet32)"),
}
_CIPHERS_FIX = (
    "offer AEAD suites only, e.g. nginx `ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;` "
    "(Mozilla's intermediate profile)"
)
_RENEW = "renew it (`certbot renew`; check that the ACME client's timer runs and reloads the server)"


def cipher_weaknesses(suite: str) -> frozenset[str]:
    """The weak categories of an IANA cipher suite name: null, anonymous, export, rc4, des, 3des."""
    found = {
        category
        for category, hit in (
            ("null", "WITH_NULL" in suite),
            ("anonymous", "_anon_" in suite),
            ("export", "EXPORT" in suite),
            ("rc4", "_RC4_" in suite),
            ("3des", "3DES" in suite or "DES_192_EDE3" in suite),
        )
        if hit
    }
    if "3des" not in found and ("_DES_" in suite or "_DES40_" in suite):
        found.add("des")
    return frozenset(found)


def expiry_severity(left: timedelta, thresholds: Iterable[timedelta]) -> Severity | None:
    """The severity for a certificate with ``left`` to live, set by the nearest threshold it has crossed.

    That threshold's size decides: ≤ 7 days critical, ≤ 14 days high, ≤ 30 days medium, longer low; None when
    none is crossed. With the default 30d/14d/7d: medium from 30 days left, high from 14, critical from 7.
    """
    crossed = [t for t in thresholds if left <= t]
    if not crossed:
        return None
    nearest = min(crossed)
    if nearest <= timedelta(days=7):
        return Severity.CRITICAL
    if nearest <= timedelta(days=14):
        return Severity.HIGH
    return Severity.MEDIUM if nearest <= timedelta(days=30) else Severity.LOW


def tls_rules(facts: TlsFacts, policy: TlsPolicy, now: datetime) -> list[Finding]:
    """Given one scan's facts, the TLS policy and ``now`` (aware), return the findings (one per rule)."""

    def finding(rule: str, severity: Severity, message: str, evidence: str, fix: str) -> Finding:
        return Finding(f"tls.{rule}", AREA, severity, facts.location, message, evidence, fix)

    if facts.failure is not None:
        return [_failure(facts, finding)]
    findings = _protocol_findings(facts, policy, finding)
    per_leaf = [
        f for cert in facts.certificates for f in _certificate_findings(cert, facts, policy, now, finding)
    ]
    findings += _worst_per_rule(per_leaf)
    if facts.https and facts.http_error:
        message = "no HTTP response could be read, so HSTS was not checked"
        findings.append(finding("hsts-unknown", Severity.INFO, message, facts.http_error, ""))
    elif facts.https and (facts.hsts is None or not facts.hsts.max_age):
        seen = "max-age=0 (HSTS switched off)" if facts.hsts else "no Strict-Transport-Security header"
        fix = 'nginx: `add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;`'
        message = "HTTPS without HSTS: a first plain-HTTP visit can be downgraded"
        findings.append(finding("missing-hsts", Severity.MEDIUM, message, seen, fix))
    if facts.skipped:
        message = "parts of the TLS audit could not run"
        findings.append(finding("scan-incomplete", Severity.INFO, message, "; ".join(facts.skipped), ""))
    return findings


def _failure(facts: TlsFacts, finding: _FindingMaker) -> Finding:
    texts = {  # failure -> (rule, severity, message, fix)
        "unreachable": (
            "unreachable",
            Severity.MEDIUM,
            "not audited: the host did not answer",
            "check the host name, that the service listens, and that the firewall lets the auditor in",
        ),
        "not-tls": (
            "not-tls",
            Severity.HIGH,
            f"port {facts.port} does not speak TLS",
            "serve TLS on this port, or audit the port that does",
        ),
        "handshake": (
            "handshake-failed",
            Severity.MEDIUM,
            "not audited: no TLS handshake succeeded",
            "compare the server's protocols and suites with a current profile (TLS 1.2/1.3, AEAD suites)",
        ),
        "timeout": (
            "scan-timeout",
            Severity.MEDIUM,
            "not audited: the TLS scan did not finish in its time budget",
            "check the server's latency: a server that stalls handshakes stalls its clients too",
        ),
    }
    rule, severity, message, fix = texts.get(facts.failure or "", texts["handshake"])
    return finding(rule, severity, message, facts.error, fix)


def _protocol_findings(facts: TlsFacts, policy: TlsPolicy, finding: _FindingMaker) -> list[Finding]:
    found = []
    keep = "TLSv1.3" if policy.min_version == "1.3" else "TLSv1.2 TLSv1.3"
    for protocol in PROTOCOLS[: PROTOCOLS.index(f"TLS {policy.min_version}")]:
        if protocol in facts.accepted:
            rule = f"old-protocol-{_PROTOCOL_RULE[protocol]}"
            message = f"{protocol} is accepted (the policy's minimum is TLS {policy.min_version})"
            evidence = f"accepted with {', '.join(facts.accepted[protocol][:3])}"
            found.append(finding(rule, Severity.HIGH, message, evidence, f"nginx: `ssl_protocols {keep};`"))
    for category, (severity, what) in _WEAK.items():
        hits = [
            f"{s} ({p})"
            for p, suites in facts.accepted.items()
            for s in suites
            if category in cipher_weaknesses(s)
        ]
        if hits:
            found.append(
                finding(
                    f"weak-cipher-{category}", severity, f"{what} accepted", ", ".join(hits[:4]), _CIPHERS_FIX
                )
            )
    cbc = [s for s in facts.accepted.get("TLS 1.0", ()) if "_CBC_" in s]
    if cbc:
        message = "CBC suites with TLS 1.0 (BEAST: TLS 1.0's CBC IVs are predictable)"
        fix = "disable TLS 1.0; TLS 1.2 with AEAD suites has no such weakness"
        found.append(finding("tls10-cbc", Severity.MEDIUM, message, ", ".join(cbc[:3]), fix))
    return found


def _certificate_findings(
    cert: Certificate, facts: TlsFacts, policy: TlsPolicy, now: datetime, finding: _FindingMaker
) -> list[Finding]:
    found = []
    leaf = f"leaf {cert.subject}, issued by {cert.issuer}"
    if not cert.trusted:
        message = "the certificate chain does not verify against the trust store"
        fix = "serve the full chain (nginx: `ssl_certificate` with fullchain.pem) from a CA clients trust"
        found.append(finding("chain-untrusted", Severity.HIGH, message, f"{leaf}: {cert.trust_error}", fix))
    if not cert.hostname_matches:
        message = f"the certificate does not cover {facts.server_name}"
        evidence = f"{leaf}; names: {', '.join(cert.names) or 'none'}"
        fix = f"issue a certificate whose subjectAltName includes {facts.server_name}"
        found.append(finding("hostname-mismatch", Severity.HIGH, message, evidence, fix))
    left = cert.not_after - now
    evidence = f"not after {cert.not_after.isoformat()} ({left.total_seconds() / 86400:.1f} days left)"
    if left <= timedelta(0):
        found.append(
            finding("cert-expired", Severity.CRITICAL, "the certificate has expired", evidence, _RENEW)
        )
    elif (severity := expiry_severity(left, policy.expiry_warning)) is not None:
        message = f"the certificate expires in {left.days} days"
        found.append(finding("cert-expiring", severity, message, evidence, _RENEW))
    return found


def _worst_per_rule(findings: Iterable[Finding]) -> list[Finding]:
    worst: dict[str, Finding] = {}
    for f in findings:
        if f.rule not in worst or f.severity > worst[f.rule].severity:
            worst[f.rule] = f
    return list(worst.values())
