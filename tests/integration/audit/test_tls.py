"""The TLS audit against real local servers: Python's ``ssl`` in threads, on ports the kernel picks.

Certificates are made here with ``cryptography``: trustme 1.2 marks subjectAltName critical next to a
non-empty subject, which cryptography's verifier (and so sslyze's) rejects, so no trustme chain would ever
verify. Each server differs from the good one in one respect, so each expects exactly its own findings.

The local OpenSSL (3.0) serves TLS 1.0/1.1 at ``@SECLEVEL=0``, and NULL and anonymous suites; it is built
without 3DES and RC4, so those two categories have no server here.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from siaga.audit.tls import CONNECTION_LIMIT, TlsFacts, scan_tls, tls_rules
from siaga.domain.audit import Severity
from siaga.spec.security import TlsPolicy

POLICY = TlsPolicy()  # min TLS 1.2, expiry warnings at 30d / 14d / 7d
HSTS = b"Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n"


# -- certificates ------------------------------------------------------------------------------------


class Authority:
    """A CA that issues server certificates, written as PEM files under ``directory``."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.name = name
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            self._builder(
                subject, subject, self.key.public_key(), now - timedelta(days=60), now + timedelta(days=900)
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_usage(cert_sign=True), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.ca_file = directory / f"{name.replace(' ', '-')}.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def _builder(
        self,
        subject: x509.Name,
        issuer: x509.Name,
        public: ec.EllipticCurvePublicKey,
        start: datetime,
        end: datetime,
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        )

    def issue(self, *names: str, days: float, label: str) -> tuple[Path, Path]:
        """A leaf for ``names`` (DNS names or IP addresses) valid until ``days`` from now: (cert, key)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        end = now + timedelta(days=days)
        start = min(now, end) - timedelta(days=30)
        alt: list[x509.GeneralName] = []
        for name in names:
            try:
                alt.append(x509.IPAddress(ip_address(name)))
            except ValueError:
                alt.append(x509.DNSName(name))
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
        cert = (
            self._builder(subject, self.cert.subject, key.public_key(), start, end)
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        cert_file, key_file = self.directory / f"{label}.crt", self.directory / f"{label}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cert_file, key_file


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


# -- servers -----------------------------------------------------------------------------------------


def server_context(
    leaf: tuple[Path, Path], *, ciphers: str | None = None, oldest: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*leaf)
    if ciphers:
        context.set_ciphers(ciphers)
    if oldest is not None:
        with warnings.catch_warnings():  # TLSv1 / TLSv1_1 are deprecated names: the point of this server
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = oldest
    return context


class TlsServer:
    """A threaded TLS server on 127.0.0.1 answering every HTTP request with 200 (and HSTS unless told).

    It counts the connections it accepts and the most it held at once.
    """

    def __init__(self, context: ssl.SSLContext | None, *, hsts: bool = True) -> None:
        self._context = context
        self._headers = HSTS if hsts else b""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self.accepted = 0
        self.peak = 0
        self._open = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def reset(self) -> None:
        with self._lock:
            self.accepted = self.peak = 0

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with self._lock:
            self._open += 1
            self.peak = max(self.peak, self._open)
        try:
            conn.settimeout(3)
            with conn:
                if self._context is None:  # plain TCP: read whatever comes, never answer
                    while conn.recv(65536):
                        pass
                    return
                with self._context.wrap_socket(conn, server_side=True) as tls:
                    request = b""
                    while b"\r\n\r\n" not in request and (chunk := tls.recv(4096)):
                        request += chunk
                    if request:
                        tls.sendall(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n"
                            + self._headers
                            + b"\r\nok"
                        )
        except OSError:  # handshakes the scanner breaks off on purpose
            pass
        finally:
            with self._lock:
                self._open -= 1

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        self._listener.close()


@contextmanager
def serving(context: ssl.SSLContext | None, *, hsts: bool = True) -> Iterator[TlsServer]:
    server = TlsServer(context, hsts=hsts)
    try:
        yield server
    finally:
        server.close()


@dataclass(frozen=True)
class Pki:
    ca: Authority
    stranger: Authority  # a CA the scans are not told about
    leaves: dict[str, tuple[Path, Path]]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca, stranger = Authority(directory, "Siaga Test CA"), Authority(directory, "Unknown CA")
    names = ("localhost", "127.0.0.1")
    leaves = {
        "good": ca.issue(*names, days=59, label="good"),
        "29d": ca.issue(*names, days=29, label="29d"),
        "7d": ca.issue(*names, days=7, label="7d"),
        "expired": ca.issue(*names, days=-2, label="expired"),
        "other-name": ca.issue("other.siaga.test", days=59, label="other-name"),
        "unknown-ca": stranger.issue(*names, days=59, label="unknown-ca"),
    }
    return Pki(ca, stranger, leaves)


def scan(pki: Pki, port: int, **kwargs: object) -> TlsFacts:
    options: dict[str, object] = {
        "server_name": "localhost",
        "timeout": 2.0,
        "ca_file": pki.ca.ca_file,
        **kwargs,
    }
    return scan_tls("127.0.0.1", port, **options)  # type: ignore[arg-type]


def judged(facts: TlsFacts, policy: TlsPolicy = POLICY) -> dict[str, Severity]:
    return {f.rule: f.severity for f in tls_rules(facts, policy, datetime.now(UTC))}


# -- the cases ---------------------------------------------------------------------------------------


def test_a_good_server_is_clean_within_the_connection_and_time_budget(pki: Pki) -> None:
    with serving(server_context(pki.leaves["good"])) as server:
        started = time.monotonic()
        facts = scan(pki, server.port)
        took = time.monotonic() - started
    assert facts.failure is None, facts.error
    assert tls_rules(facts, POLICY, datetime.now(UTC)) == []
    assert set(facts.accepted) == {"TLS 1.2", "TLS 1.3"}
    assert "TLS_AES_128_GCM_SHA256" in facts.accepted["TLS 1.3"]
    [cert] = facts.certificates
    assert cert.trusted
    assert cert.hostname_matches
    assert cert.names == ("localhost", "127.0.0.1")
    assert facts.hsts is not None
    assert facts.hsts.max_age == 31536000
    assert facts.hsts.include_subdomains
    assert server.accepted <= CONNECTION_LIMIT
    assert server.peak <= 10  # scan_tls's default concurrency
    assert took < 10


@pytest.mark.parametrize(
    ("leaf", "severity"),
    [("29d", Severity.MEDIUM), ("7d", Severity.CRITICAL)],
)
def test_a_certificate_near_its_end_is_judged_by_the_nearest_threshold(
    pki: Pki, leaf: str, severity: Severity
) -> None:
    with serving(server_context(pki.leaves[leaf])) as server:
        facts = scan(pki, server.port)
    assert judged(facts) == {"tls.cert-expiring": severity}
    # with a 14-day threshold nearer than 30, 29 days left is still medium; 7 days crosses only 14 here
    assert judged(facts, TlsPolicy(expiry_warning=["30d", "14d"]))["tls.cert-expiring"] == (
        Severity.MEDIUM if leaf == "29d" else Severity.HIGH
    )


def test_an_expired_certificate_is_critical_and_still_from_a_trusted_chain(pki: Pki) -> None:
    with serving(server_context(pki.leaves["expired"])) as server:
        facts = scan(pki, server.port)
    assert judged(facts) == {"tls.cert-expired": Severity.CRITICAL}
    assert facts.certificates[0].trusted


def test_a_certificate_for_another_name_is_a_hostname_mismatch(pki: Pki) -> None:
    with serving(server_context(pki.leaves["other-name"])) as server:
        facts = scan(pki, server.port)
    assert judged(facts) == {"tls.hostname-mismatch": Severity.HIGH}
    [finding] = tls_rules(facts, POLICY, datetime.now(UTC))
    assert "other.siaga.test" in finding.evidence
    assert finding.location == f"127.0.0.1:{server.port}"


def test_a_certificate_from_an_unknown_ca_is_an_untrusted_chain(pki: Pki) -> None:
    with serving(server_context(pki.leaves["unknown-ca"])) as server:
        facts = scan(pki, server.port)
        default_store = scan(pki, server.port, ca_file=None)  # sslyze's Mozilla store knows neither CA
    assert judged(facts) == {"tls.chain-untrusted": Severity.HIGH}
    assert judged(default_store) == {"tls.chain-untrusted": Severity.HIGH}


def test_tls_1_0_and_1_1_are_old_protocols_and_tls_1_0_cbc_is_flagged(pki: Pki) -> None:
    context = server_context(pki.leaves["good"], ciphers="DEFAULT:@SECLEVEL=0", oldest=ssl.TLSVersion.TLSv1)
    with serving(context) as server:
        facts = scan(pki, server.port)
    assert {"TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"} <= set(facts.accepted)
    assert judged(facts) == {
        "tls.old-protocol-tls10": Severity.HIGH,
        "tls.old-protocol-tls11": Severity.HIGH,
        "tls.tls10-cbc": Severity.MEDIUM,
    }
    assert judged(facts, TlsPolicy(min_version="1.0")) == {"tls.tls10-cbc": Severity.MEDIUM}
    assert judged(facts, TlsPolicy(min_version="1.1")) == {
        "tls.old-protocol-tls10": Severity.HIGH,
        "tls.tls10-cbc": Severity.MEDIUM,
    }


def test_null_and_anonymous_suites_are_weak_ciphers(pki: Pki) -> None:
    # not after DEFAULT: its "!eNULL" would bar the NULL suite for good
    ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-NULL-SHA:AECDH-AES128-SHA:@SECLEVEL=0"
    with serving(server_context(pki.leaves["good"], ciphers=ciphers)) as server:
        facts = scan(pki, server.port)
    assert judged(facts) == {
        "tls.weak-cipher-null": Severity.HIGH,
        "tls.weak-cipher-anonymous": Severity.HIGH,
    }
    assert "TLS_ECDHE_ECDSA_WITH_NULL_SHA" in facts.accepted["TLS 1.2"]
    assert server.accepted <= CONNECTION_LIMIT


def test_https_without_hsts_is_flagged_and_a_non_https_port_is_not(pki: Pki) -> None:
    with serving(server_context(pki.leaves["good"]), hsts=False) as server:
        facts = scan(pki, server.port)
        not_http = scan(pki, server.port, https=False)
    assert judged(facts) == {"tls.missing-hsts": Severity.MEDIUM}
    assert judged(not_http) == {}


def test_a_port_that_does_not_speak_tls_is_a_finding(pki: Pki) -> None:
    with serving(None) as silent:
        facts = scan(pki, silent.port, timeout=1.0)
    assert facts.failure == "not-tls"
    assert judged(facts) == {"tls.not-tls": Severity.HIGH}

    banner = socket.create_server(("127.0.0.1", 0))
    port = banner.getsockname()[1]

    def greet() -> None:
        conn, _ = banner.accept()
        with conn:
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
            conn.recv(1024)

    greeter = threading.Thread(target=greet, daemon=True)
    greeter.start()
    try:
        facts = scan(pki, port)
    finally:
        greeter.join(5)
        banner.close()
    assert facts.failure == "not-tls"
    assert "not TLS" in facts.error


def test_a_closed_port_and_an_unknown_host_are_findings_not_exceptions(pki: Pki) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    refused = scan(pki, closed)
    assert refused.failure == "unreachable"
    assert refused.error == "connection refused"
    assert judged(refused) == {"tls.unreachable": Severity.MEDIUM}
    unknown = scan_tls("no-such-host.invalid", 443, timeout=1.0)
    assert unknown.failure == "unreachable"
    assert "did not resolve" in unknown.error
    assert judged(unknown) == {"tls.unreachable": Severity.MEDIUM}


def test_a_scan_out_of_time_is_a_finding(pki: Pki) -> None:
    with serving(server_context(pki.leaves["good"])) as server:
        facts = scan(pki, server.port, budget=0.0)
    assert facts.failure == "timeout"
    assert judged(facts) == {"tls.scan-timeout": Severity.MEDIUM}
