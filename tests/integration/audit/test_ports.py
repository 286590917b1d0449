"""The open-port audit against real listeners on 127.0.0.1, on ports the kernel picks.

Listener ports stand in for the well-known ones: a policy's ``check_ports`` are the listeners' ports, and
``database_ports=`` marks one of them as "MariaDB". A hanging port is a listener whose accept queue is full
(backlog 0, one connection parked in it): Linux then drops further SYNs, so a connect waits out its
timeout, which is what makes the concurrency bound measurable from outside.
"""

from __future__ import annotations

import asyncio
import math
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from siaga.audit.ports import port_rules, probe_ports
from siaga.domain.audit import Severity
from siaga.spec.security import HostPolicy
from tests.integration.servers import wait_until


class Listener:
    """A TCP listener on 127.0.0.1 that accepts and counts connections, and the most it held at once."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self.port: int = self._socket.getsockname()[1]
        self.accepted = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        self._socket.close()


class HangingPort:
    """A port whose connects hang: backlog 0, never accepting, its one queue slot taken at start."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(0)
        self.port: int = self._socket.getsockname()[1]
        self._parked = socket.create_connection(("127.0.0.1", self.port), timeout=2)

    def close(self) -> None:
        self._parked.close()
        self._socket.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def listeners() -> Iterator[list[Listener]]:
    started = [Listener() for _ in range(3)]
    yield started
    for listener in started:
        listener.close()


def test_a_forbidden_open_database_port_is_critical_and_allowed_ports_are_fine(
    listeners: list[Listener],
) -> None:
    web, tls, database = (listener.port for listener in listeners)
    down = closed_port()
    policy = HostPolicy(
        host="127.0.0.1", allow_ports=[web, tls, down], check_ports=[web, tls, database, down]
    )
    states = asyncio.run(probe_ports(policy, timeout=1.0))

    assert {(s.port, s.open) for s in states} == {(web, True), (tls, True), (database, True), (down, False)}
    assert all(s.address == "127.0.0.1" and not s.unprobed for s in states)
    assert next(s for s in states if s.port == down).error == "connection refused"
    # The listeners' threads count accepts after the probe has gone: wait for them, then one each, no more.
    wait_until(lambda: all(listener.accepted >= 1 for listener in listeners), timeout=5, what="the accepts")
    assert all(listener.accepted == 1 for listener in listeners)

    findings = port_rules(states, policy, database_ports={database: "MariaDB"})
    assert sorted((f.rule, f.severity, f.location) for f in findings) == [
        ("ports.allowed-closed", Severity.INFO, f"127.0.0.1:{down}"),
        ("ports.forbidden-open", Severity.CRITICAL, f"127.0.0.1:{database}"),
    ]
    [forbidden] = [f for f in findings if f.rule == "ports.forbidden-open"]
    assert forbidden.fix == (
        f"close {database} to the internet: bind MariaDB to 127.0.0.1 or firewall it (ufw deny {database})"
    )
    # the same open port, not a database one: high
    assert {
        f.severity for f in port_rules(states, policy, database_ports={}) if f.rule == forbidden.rule
    } == {Severity.HIGH}


def test_check_ports_default_to_allow_ports(listeners: list[Listener]) -> None:
    policy = HostPolicy(host="127.0.0.1", allow_ports=[listeners[0].port])
    states = asyncio.run(probe_ports(policy))
    assert [(s.port, s.open) for s in states] == [(listeners[0].port, True)]
    assert port_rules(states, policy) == []
    wait_until(lambda: listeners[0].accepted >= 1, timeout=5, what="the accept")
    assert [listener.accepted for listener in listeners] == [1, 0, 0]


def test_the_concurrency_bound_holds_and_connects_time_out() -> None:
    hanging = [HangingPort() for _ in range(6)]
    try:
        policy = HostPolicy(host="127.0.0.1", allow_ports=[h.port for h in hanging])
        timeout, concurrency = 0.4, 2
        started = time.monotonic()
        states = asyncio.run(probe_ports(policy, concurrency=concurrency, timeout=timeout))
        took = time.monotonic() - started
    finally:
        for h in hanging:
            h.close()
    assert all(not s.open and s.error is not None and "no answer within 0.4 s" in s.error for s in states)
    waves = math.ceil(len(hanging) / concurrency)
    assert took >= waves * timeout * 0.95  # never more than 2 at once: 3 waves of 0.4 s
    assert took < len(hanging) * timeout * 0.9  # but 2 at once, not one after another
    assert {f.rule for f in port_rules(states, policy)} == {"ports.allowed-closed"}


def test_a_host_that_does_not_resolve_is_a_finding() -> None:
    policy = HostPolicy(host="no-such-host.invalid", allow_ports=[443], check_ports=[22, 443])
    states = asyncio.run(probe_ports(policy))
    assert [s.address for s in states] == [None, None]
    assert all(not s.open and "did not resolve" in (s.error or "") for s in states)
    [finding] = port_rules(states, policy)
    assert (finding.rule, finding.severity, finding.location) == (
        "ports.unresolved",
        Severity.MEDIUM,
        "no-such-host.invalid",
    )


def test_a_name_is_resolved_once_and_probed_on_the_first_address_of_each_family(
    listeners: list[Listener],
) -> None:
    port = listeners[0].port
    families: dict[int, str] = {}
    for family, _, _, _, sockaddr in socket.getaddrinfo("localhost", None, type=socket.SOCK_STREAM):
        families.setdefault(family, str(sockaddr[0]))
    policy = HostPolicy(host="localhost", allow_ports=[port])
    states = asyncio.run(probe_ports(policy))
    assert sorted(s.address or "" for s in states) == sorted(families.values())
    # the listener is on 127.0.0.1 only: open there, and so open, whatever ::1 answers
    assert any(s.open and s.address == "127.0.0.1" for s in states)
    assert port_rules(states, policy) == []
