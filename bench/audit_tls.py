"""One TLS audit (``scan_tls``) of local test servers: wall time and the connections each server accepted.

    .venv/bin/python bench/audit_tls.py [--runs 5] [--concurrency 10]

Goal (audit issue): one host costs ≤ 10 s and ≤ 50 connections. The servers are the integration tests'
(tests/integration/audit/test_tls.py: Python's ssl in threads on 127.0.0.1, certificates made with
cryptography), in three shapes: a modern one (TLS 1.2 + 1.3, HSTS), a legacy one (TLS 1.0 to 1.3 at
OpenSSL's security level 0, so the weak-suite and CBC probes run too) and one that also accepts NULL and
anonymous suites (the longest probe chains). Each server counts the connections it accepts and the most it
held at once; the figures are per scan. Loopback only, so the time is the scanner's own cost (handshakes,
sslyze's threads, chain verification), not the network's.
"""

from __future__ import annotations

import argparse
import ssl
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import table  # noqa: E402
from tests.integration.audit.test_tls import Authority, server_context, serving  # noqa: E402

from siaga.audit.tls import CONNECTION_LIMIT, scan_tls, tls_rules  # noqa: E402
from siaga.spec.security import TlsPolicy  # noqa: E402

WEAK = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-NULL-SHA:AECDH-AES128-SHA:@SECLEVEL=0"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=10, help="scan_tls's per-host connection limit")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="siaga-bench-tls-") as directory:
        ca = Authority(Path(directory), "Bench CA")
        leaf = ca.issue("localhost", "127.0.0.1", days=90, label="leaf")
        shapes = {
            "modern": server_context(leaf),
            "legacy (TLS 1.0+)": server_context(
                leaf, ciphers="DEFAULT:@SECLEVEL=0", oldest=ssl.TLSVersion.TLSv1
            ),
            "weak suites": server_context(leaf, ciphers=WEAK),
        }
        rows = []
        worst_time, worst_connections = 0.0, 0
        for shape, context in shapes.items():
            times, connections, peaks = [], [], []
            findings = 0
            with serving(context) as server:
                for _ in range(args.runs):
                    server.reset()
                    started = time.perf_counter()
                    facts = scan_tls(
                        "127.0.0.1",
                        server.port,
                        "localhost",
                        ca_file=ca.ca_file,
                        concurrency=args.concurrency,
                    )
                    times.append(time.perf_counter() - started)
                    time.sleep(0.2)  # let the last handshakes the scanner broke off reach the counters
                    connections.append(server.accepted)
                    peaks.append(server.peak)
                    if facts.failure:
                        raise RuntimeError(f"{shape}: {facts.failure}: {facts.error}")
                    findings = len(tls_rules(facts, TlsPolicy(), datetime.now(UTC)))
            worst_time = max(worst_time, *times)
            worst_connections = max(worst_connections, *connections)
            rows.append(
                [
                    shape,
                    f"{statistics.median(times):.2f}",
                    f"{max(times):.2f}",
                    f"{min(connections)}-{max(connections)}",
                    max(peaks),
                    findings,
                ]
            )
            print(
                f"{shape}: median {statistics.median(times):.2f} s, {max(connections)} connections",
                flush=True,
            )
    print()
    print(table(["server", "median s", "max s", "connections", "most at once", "findings"], rows))
    ok = worst_time <= 10 and worst_connections <= CONNECTION_LIMIT
    print(
        f"\nworst: {worst_time:.2f} s (goal ≤ 10 s), {worst_connections} connections"
        f" (goal ≤ {CONNECTION_LIMIT}): {'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
