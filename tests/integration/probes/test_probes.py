"""Every prober against real local targets: what conditions see, how failures read, that nothing leaks."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import redis
import trustme
from cryptography import x509
from pydantic import BaseModel, SecretStr

from siaga.domain.conditions import compile_condition
from siaga.integrations import probes
from siaga.integrations.probes.base import Prober, ProbeResult
from siaga.integrations.probes.db import DbProber
from siaga.integrations.probes.dns import DnsProber, split_server
from siaga.integrations.probes.host import HostProber
from siaga.integrations.probes.http import HttpProber
from siaga.integrations.probes.registry import PROBED_KINDS, close_probers, make_probers
from siaga.integrations.probes.tcp import TcpProber
from siaga.integrations.probes.tls import TlsProber, hostname_matches
from siaga.spec.checks import (
    CHECK_KINDS,
    BasicAuth,
    DbProbe,
    DnsProbe,
    HostProbe,
    HttpProbe,
    TcpProbe,
    TlsProbe,
)
from tests.integration.probes.conftest import (
    BASIC_PASSWORD,
    BASIC_USER,
    BEARER_TOKEN,
    CERT_DAYS,
    SLOW_SECONDS,
    Targets,
)

PG_URL = os.environ.get("SIAGA_TEST_PG_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")
MYSQL_URL = os.environ.get("SIAGA_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("SIAGA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
WRONG_PASSWORD = "wr0ng-P4ss-s3cret"
FAST = 0.3  # seconds: the timeout where a test waits for one


def probe(prober: Prober, settings: BaseModel, timeout: float = 2.0) -> ProbeResult:
    async def scenario() -> ProbeResult:
        try:
            return await prober.probe(settings, timeout)
        finally:
            await prober.close()

    return asyncio.run(scenario())


def holds(condition: str, result: ProbeResult) -> bool:
    variables = {**result.variables, "latency": timedelta(seconds=result.latency)}
    verdict = compile_condition(condition).evaluate(variables)
    assert verdict.error is None, verdict.error
    return verdict.holds


def http(targets: Targets, path: str, **settings: Any) -> ProbeResult:
    timeout = settings.pop("timeout", 2.0)
    return probe(HttpProber(), HttpProbe(url=f"{targets.http}{path}", **settings), timeout)


def db(url: str, query: str | None = None, timeout: float = 3.0) -> ProbeResult:
    return probe(DbProber(), DbProbe(url=SecretStr(url), query=query), timeout)


def with_password(url: str, password: str) -> str:
    scheme, _, rest = url.partition("://")
    userinfo, _, host = rest.rpartition("@")
    user = userinfo.split(":")[0] or "root"
    return f"{scheme}://{user}:{password}@{host}"


def closed(url: str, port: int) -> str:
    scheme, _, rest = url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    path = hostpart.partition("/")[2]
    return f"{scheme}://{userinfo}{at}127.0.0.1:{port}/{path}"


# -- the registry --------------------------------------------------------------------------------------


def test_the_registry_has_one_prober_per_probed_kind() -> None:
    async def scenario() -> None:
        made = make_probers()
        assert set(made) == set(PROBED_KINDS) == set(CHECK_KINDS) - {"heartbeat"}
        await close_probers(made)

    asyncio.run(scenario())


def test_the_package_exports_a_small_surface() -> None:
    assert sorted(probes.__all__) == [
        "PROBED_KINDS",
        "ProbeResult",
        "Prober",
        "close_probers",
        "make_probers",
    ]


def test_a_prober_refuses_settings_of_another_kind() -> None:
    with pytest.raises(TypeError, match="TcpProbe"):
        probe(HttpProber(), TcpProbe(host="127.0.0.1", port=1))


# -- http ----------------------------------------------------------------------------------------------


def test_http_healthy(targets: Targets) -> None:
    result = http(targets, "/health")
    assert result.ok, result.error
    assert result.variables["status"] == 200
    assert result.variables["body"] == "ok"
    assert result.variables["json"] is None
    assert result.variables["url"] == f"{targets.http}/health"
    assert result.variables["headers"]["content-type"].startswith("text/plain")
    assert 0 < result.latency < 1
    assert holds("status == 200", result)
    assert holds('body.contains("ok")', result)
    assert holds('latency < duration("1s")', result)


def test_http_500_is_an_answer_the_conditions_judge(targets: Targets) -> None:
    result = http(targets, "/error")
    assert result.ok, result.error
    assert result.variables["status"] == 500
    assert not holds("status >= 200 && status < 400", result)


def test_http_slow_answer_within_the_timeout(targets: Targets) -> None:
    result = http(targets, "/slow", timeout=3.0)
    assert result.ok, result.error
    assert result.latency >= SLOW_SECONDS
    assert not holds('latency < duration("1s")', result)


def test_http_hanging_server_times_out(targets: Targets) -> None:
    result = http(targets, "/hang", timeout=FAST)
    assert not result.ok
    assert result.error == "timed out after 0.3s"
    assert FAST <= result.latency < FAST + 0.5


def test_http_json_body(targets: Targets) -> None:
    result = http(targets, "/json")
    assert result.ok, result.error
    assert result.variables["json"] == {"status": "UP", "checks": {"db": "UP"}, "used": 3.0, "max": 10.0}
    assert holds('json.status == "UP"', result)
    assert holds('json.checks.db == "UP"', result)
    assert holds("json.used < json.max * 0.8", result)  # numbers are doubles, as in CEL's JSON


def test_http_redirects(targets: Targets) -> None:
    followed = http(targets, "/redirect")
    assert followed.variables["status"] == 200
    assert followed.variables["url"] == f"{targets.http}/health"
    kept = http(targets, "/redirect", follow_redirects=False)
    assert kept.ok
    assert kept.variables["status"] == 302
    assert kept.variables["headers"]["location"] == "/health"
    looping = http(targets, "/redirect-loop")
    assert not looping.ok
    assert looping.error == "too many redirects (more than 10)"


def test_http_basic_auth_and_bearer_token(targets: Targets) -> None:
    good = BasicAuth(username=BASIC_USER, password=SecretStr(BASIC_PASSWORD))
    assert http(targets, "/basic", basic_auth=good).variables["status"] == 200
    bad = BasicAuth(username=BASIC_USER, password=SecretStr("nope"))
    assert http(targets, "/basic", basic_auth=bad).variables["status"] == 401
    assert http(targets, "/basic").variables["status"] == 401
    assert http(targets, "/bearer", bearer_token=SecretStr(BEARER_TOKEN)).variables["status"] == 200
    assert http(targets, "/bearer", bearer_token=SecretStr("nope")).variables["status"] == 401


def test_http_method_body_and_headers(targets: Targets) -> None:
    result = http(targets, "/echo", method="POST", body="ping", headers={"X-Test": "yes"})
    assert result.variables["json"] == {"method": "POST", "body": "ping", "x_test": "yes"}
    assert result.variables["headers"]["x-multi"] == "one, two"


def test_http_keeps_only_max_body_bytes(targets: Targets) -> None:
    result = http(targets, "/big", max_body=10)
    assert result.ok, result.error
    assert result.variables["body"] == "x" * 10


def test_http_credentials_in_the_url_never_show(targets: Targets) -> None:
    url_with_secret = targets.http.replace("://", f"://{BASIC_USER}:{BASIC_PASSWORD}@")
    result = probe(HttpProber(), HttpProbe(url=f"{url_with_secret}/basic"))
    assert result.variables["status"] == 200  # aiohttp sends them as basic auth
    assert BASIC_PASSWORD not in result.variables["url"]
    assert result.variables["url"] == f"{targets.http}/basic"
    refused_url = f"http://{BASIC_USER}:{BASIC_PASSWORD}@127.0.0.1:{targets.closed_port}/"
    refused = probe(HttpProber(), HttpProbe(url=refused_url))
    assert refused.error == "connection refused"


def test_http_unresolvable_host() -> None:
    result = probe(HttpProber(), HttpProbe(url="http://no-such-host.invalid/"))
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith("DNS: no-such-host.invalid did not resolve")


def test_http_tls_certificate_not_accepted(targets: Targets) -> None:
    result = probe(HttpProber(), HttpProbe(url=f"{targets.https}/health"))
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith("TLS: certificate verify failed: ")
    assert "\n" not in result.error
    unverified = probe(HttpProber(), HttpProbe(url=f"{targets.https}/health", verify_tls=False))
    assert unverified.ok, unverified.error
    assert unverified.variables["status"] == 200


def test_http_through_an_injected_session_leaves_it_open(targets: Targets) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            prober = HttpProber(session)
            first = await prober.probe(HttpProbe(url=f"{targets.http}/health"), 2.0)
            await prober.close()
            assert not session.closed
            second = await prober.probe(HttpProbe(url=f"{targets.http}/json"), 2.0)
            assert first.variables["status"] == second.variables["status"] == 200

    asyncio.run(scenario())


# -- tcp -----------------------------------------------------------------------------------------------


def test_tcp_plain_connect(targets: Targets) -> None:
    result = probe(TcpProber(), TcpProbe(host="127.0.0.1", port=targets.line_port))
    assert result.ok, result.error
    assert result.variables == {"received": ""}


def test_tcp_send_and_receive(targets: Targets) -> None:
    settings = TcpProbe(host="127.0.0.1", port=targets.line_port, send="PING\n", receive="HELLO")
    result = probe(TcpProber(), settings)
    assert result.ok, result.error
    assert result.variables["received"] == "HELLO PING\n"
    assert result.latency < 1  # did not wait for the timeout: the answer was there
    assert holds('received.startsWith("HELLO")', result)


def test_tcp_send_without_receive_reads_the_first_answer(targets: Targets) -> None:
    result = probe(TcpProber(), TcpProbe(host="127.0.0.1", port=targets.line_port, send="hi\n"))
    assert result.ok, result.error
    assert result.variables["received"] == "HELLO hi\n"
    assert result.latency < 1


def test_tcp_unexpected_answer_fails(targets: Targets) -> None:
    settings = TcpProbe(host="127.0.0.1", port=targets.line_port, send="PING\n", receive="+PONG")
    result = probe(TcpProber(), settings, timeout=FAST)
    assert not result.ok
    assert result.error == "expected '+PONG', received 'HELLO PING\\n'"
    assert result.variables["received"] == "HELLO PING\n"


def test_tcp_listener_that_closes_at_once(targets: Targets) -> None:
    plain = probe(TcpProber(), TcpProbe(host="127.0.0.1", port=targets.closing_port))
    assert plain.ok, plain.error
    expecting = probe(TcpProber(), TcpProbe(host="127.0.0.1", port=targets.closing_port, receive="220"))
    assert not expecting.ok
    assert expecting.error == "expected '220', received nothing"


def test_tcp_refused(targets: Targets) -> None:
    result = probe(TcpProber(), TcpProbe(host="127.0.0.1", port=targets.closed_port))
    assert not result.ok
    assert result.error == "connection refused"


# -- tls -----------------------------------------------------------------------------------------------


def tls(targets: Targets, port: int, **settings: Any) -> ProbeResult:
    prober = TlsProber(**({"now": settings.pop("now")} if "now" in settings else {}))
    return probe(prober, TlsProbe(host="127.0.0.1", port=port, **settings))


def test_tls_certificate_expiring_in_ten_days(targets: Targets) -> None:
    result = tls(targets, targets.tls_port, server_name="localhost", ca_file=str(targets.ca_file))
    assert result.ok, result.error
    cert = result.variables["cert"]
    assert cert["days_left"] == pytest.approx(CERT_DAYS, abs=0.01)
    assert cert["chain_valid"] is True
    assert cert["hostname_valid"] is True
    assert cert["subject"] == "localhost"
    assert cert["issuer"].startswith("trustme")
    assert cert["not_after"] == targets.not_after.isoformat()
    assert int(cert["serial"], 16) > 0
    assert result.variables["protocol"] == "TLSv1.3"
    assert not holds("cert.days_left > 14", result)
    assert holds("cert.days_left > 0", result)
    assert holds('protocol == "TLSv1.3" && cert.chain_valid && cert.hostname_valid', result)


def test_tls_days_left_counts_from_the_injected_now(targets: Targets) -> None:
    three_days_before = targets.not_after - timedelta(days=3)
    result = tls(targets, targets.tls_port, ca_file=str(targets.ca_file), now=lambda: three_days_before)
    assert result.variables["cert"]["days_left"] == pytest.approx(3.0)
    assert result.variables["cert"]["hostname_valid"] is True  # 127.0.0.1 is in the certificate too


def test_tls_unknown_ca_still_reads_the_certificate(targets: Targets) -> None:
    result = tls(targets, targets.tls_port, server_name="localhost")  # the system's store: no trustme
    assert result.ok, result.error
    assert result.variables["cert"]["chain_valid"] is False
    assert result.variables["cert"]["hostname_valid"] is True
    assert result.variables["cert"]["days_left"] == pytest.approx(CERT_DAYS, abs=0.01)
    assert not holds("cert.chain_valid", result)


def test_tls_certificate_for_another_host(targets: Targets) -> None:
    result = tls(targets, targets.tls_other_port, server_name="localhost", ca_file=str(targets.ca_file))
    assert result.ok, result.error
    assert result.variables["cert"]["chain_valid"] is True
    assert result.variables["cert"]["hostname_valid"] is False
    assert result.variables["cert"]["subject"] == "other.siaga.test"


def test_tls_minimum_version_not_offered(targets: Targets) -> None:
    ok = tls(targets, targets.tls12_port, ca_file=str(targets.ca_file))
    assert ok.ok, ok.error
    assert ok.variables["protocol"] == "TLSv1.2"
    refused = tls(targets, targets.tls12_port, ca_file=str(targets.ca_file), min_version="TLSv1.3")
    assert not refused.ok
    assert refused.error == "TLS: server offers nothing at or above TLSv1.3"


def test_tls_failures(targets: Targets, tmp_path: Any) -> None:
    refused = tls(targets, targets.closed_port)
    assert refused.error == "connection refused"
    plain_tcp = tls(targets, targets.closing_port)
    assert not plain_tcp.ok
    assert plain_tcp.error is not None
    assert plain_tcp.error.startswith(("TLS: handshake failed", "connection reset"))
    missing = tls(targets, targets.tls_port, ca_file=str(tmp_path / "missing.pem"))
    assert missing.error is not None
    assert missing.error.startswith("TLS: cannot read ca_file")


def test_tls_wildcard_covers_exactly_one_label() -> None:
    leaf = trustme.CA().issue_cert("*.siaga.test")
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    assert hostname_matches(cert, "api.siaga.test")
    assert hostname_matches(cert, "API.siaga.test.")
    assert not hostname_matches(cert, "siaga.test")
    assert not hostname_matches(cert, "a.api.siaga.test")
    assert not hostname_matches(cert, "10.0.0.1")


# -- dns -----------------------------------------------------------------------------------------------


def resolve(targets: Targets, name: str, record_type: str = "A", **settings: Any) -> ProbeResult:
    timeout = settings.pop("timeout", 2.0)
    return probe(DnsProber(), DnsProbe(name=name, type=record_type, server=targets.dns, **settings), timeout)


def test_dns_a_records(targets: Targets) -> None:
    result = resolve(targets, "svc.siaga.test")
    assert result.ok, result.error
    assert sorted(result.variables["records"]) == ["10.0.0.1", "10.0.0.2"]
    assert result.variables["rcode"] == "NOERROR"
    assert holds('records.exists(r, r == "10.0.0.1")', result)
    assert holds('rcode == "NOERROR" && size(records) == 2', result)


def test_dns_expected_values(targets: Targets) -> None:
    assert resolve(targets, "svc.siaga.test", expect_values=["10.0.0.2"]).ok
    missing = resolve(targets, "svc.siaga.test", expect_values=["10.0.0.2", "10.0.0.9"])
    assert not missing.ok
    assert missing.error is not None
    assert missing.error.startswith("missing 10.0.0.9 (got ")


def test_dns_record_types_as_text(targets: Targets) -> None:
    assert resolve(targets, "svc.siaga.test", "MX").variables["records"] == ["10 mail.siaga.test."]
    assert resolve(targets, "svc.siaga.test", "TXT").variables["records"] == ["v=spf1 -all"]
    assert resolve(targets, "www.siaga.test", "CNAME").variables["records"] == ["svc.siaga.test"]
    assert resolve(targets, "siaga.test", "NS").variables["records"] == ["ns1.siaga.test"]
    assert resolve(targets, "svc.siaga.test", "MX", expect_values=["10 mail.siaga.test"]).ok


def test_dns_no_such_name_and_no_such_record_are_answers(targets: Targets) -> None:
    nxdomain = resolve(targets, "nope.siaga.test")
    assert nxdomain.ok, nxdomain.error
    assert nxdomain.variables == {"records": [], "rcode": "NXDOMAIN"}
    assert not holds('rcode == "NOERROR"', nxdomain)
    no_answer = resolve(targets, "svc.siaga.test", "AAAA")
    assert no_answer.ok, no_answer.error
    assert no_answer.variables == {"records": [], "rcode": "NOERROR"}
    expected = resolve(targets, "nope.siaga.test", expect_values=["10.0.0.1"])
    assert not expected.ok
    assert expected.error == "missing 10.0.0.1 (got no records (NXDOMAIN))"


def test_dns_server_failures(targets: Targets) -> None:
    servfail = resolve(targets, "broken.siaga.test")
    assert not servfail.ok
    assert servfail.error == "DNS: the server answered SERVFAIL"
    assert servfail.variables["rcode"] == "SERVFAIL"
    silent = resolve(targets, "silent.siaga.test", timeout=FAST)
    assert not silent.ok
    assert silent.error == "timed out after 0.3s"
    assert silent.latency < FAST + 0.5


def test_dns_server_address_forms() -> None:
    assert split_server("10.0.0.53") == ("10.0.0.53", 53)
    assert split_server("ns.example:5353") == ("ns.example", 5353)
    assert split_server("[::1]:5353") == ("::1", 5353)
    assert split_server("::1") == ("::1", 53)
    with pytest.raises(ValueError, match="70000"):
        split_server("ns.example:70000")


# -- host ----------------------------------------------------------------------------------------------


def test_host_figures() -> None:
    prober = HostProber()
    result = probe(prober, HostProbe(disks=["/"]))
    assert result.ok, result.error
    variables = result.variables
    assert 0.0 <= variables["cpu"]["percent"] <= 100.0
    assert 0.0 < variables["memory"]["percent"] < 100.0
    assert 0.0 < variables["memory"]["available_bytes"] <= variables["memory"]["total_bytes"]
    disk = variables["disk"]["/"]
    assert 0.0 <= disk["percent"] <= 100.0
    assert 0.0 <= disk["free_bytes"] <= disk["total_bytes"]
    assert all(variables["load"][key] >= 0.0 for key in ("load1", "load5", "load15"))
    numbers = [*variables["cpu"].values(), *variables["memory"].values(), *disk.values()]
    assert all(type(value) is float for value in [*numbers, *variables["load"].values()])
    assert holds('disk["/"].percent <= 100.0 && memory.percent < 100.0 && load.load1 >= 0.0', result)


def test_host_missing_mount_point(tmp_path: Any) -> None:
    result = probe(HostProber(), HostProbe(disks=["/", str(tmp_path / "gone")]))
    assert not result.ok
    assert result.error == f"disk {tmp_path / 'gone'}: No such file or directory"


# -- db: PostgreSQL ------------------------------------------------------------------------------------


def test_postgres_reachable() -> None:
    result = db(PG_URL)
    assert result.ok, result.error
    assert result.variables == {"row": {}, "rows": []}


def test_postgres_unreachable(targets: Targets) -> None:
    result = db(closed(PG_URL, targets.closed_port))
    assert not result.ok
    assert result.error == f"postgresql 127.0.0.1:{targets.closed_port}/postgres: connection refused"


def test_postgres_threshold_query() -> None:
    query = "select count(*) as used, current_setting('max_connections')::int as max from pg_stat_activity"
    result = db(PG_URL, query)
    assert result.ok, result.error
    row = result.variables["row"]
    assert type(row["used"]) is float
    assert type(row["max"]) is float
    assert holds("row.used < row.max * 0.8", result)
    assert not holds("row.used > row.max", result)


def test_postgres_values_become_plain() -> None:
    query = (
        "select now() as at, 1.5::numeric as n, 'x'::bytea as b, null as nothing, true as yes, "
        "interval '90 seconds' as wait, 'text' as t"
    )
    row = db(PG_URL, query).variables["row"]
    assert row["at"].endswith("+00:00")
    assert row["n"] == 1.5
    assert row["b"] == "x"
    assert row["nothing"] is None
    assert row["yes"] is True
    assert row["wait"] == timedelta(seconds=90)
    assert row["t"] == "text"


def test_postgres_keeps_at_most_100_rows() -> None:
    result = db(PG_URL, "select generate_series(1, 500) as n")
    assert len(result.variables["rows"]) == 100
    assert result.variables["row"] == {"n": 1.0}


def test_postgres_refuses_writes() -> None:
    table = f"siaga_probe_{uuid.uuid4().hex[:8]}"
    written = db(PG_URL, f"create table {table} (x int)")
    assert not written.ok
    assert written.error is not None
    assert "read-only transaction" in written.error
    sneaky = db(PG_URL, f"select 1; commit; create table {table} (x int)")
    assert not sneaky.ok
    assert sneaky.error is not None
    assert "read-only transaction" in sneaky.error


def test_postgres_query_timeout() -> None:
    result = db(PG_URL, "select pg_sleep(5)", timeout=0.5)
    assert not result.ok
    assert result.error is not None
    assert result.error.endswith("timed out after 0.5s")
    assert result.latency < 1.5


def test_postgres_errors_never_show_the_password() -> None:
    url = with_password(PG_URL, WRONG_PASSWORD).rsplit("/", 1)[0] + "/siaga_no_such_database"
    result = db(url)
    assert not result.ok
    assert result.error is not None
    assert WRONG_PASSWORD not in result.error
    assert "siaga_no_such_database" in result.error
    bad_query = db(with_password(PG_URL, WRONG_PASSWORD), f"select '{WRONG_PASSWORD}' + 1")
    if not bad_query.ok:  # with trust authentication the password is ignored and the query fails
        assert bad_query.error is not None
        assert WRONG_PASSWORD not in bad_query.error


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_db_silent_server_times_out(targets: Targets, scheme: str) -> None:
    # The line server waits for a newline that neither client sends: a server that accepts, then hangs.
    result = db(f"{scheme}://u:{WRONG_PASSWORD}@127.0.0.1:{targets.line_port}/x", timeout=0.5)
    assert not result.ok
    assert result.error == f"{scheme} 127.0.0.1:{targets.line_port}/x: timed out after 0.5s"
    assert result.latency < 1.0


# -- db: MariaDB ---------------------------------------------------------------------------------------


def test_mysql_reachable_and_unreachable(targets: Targets) -> None:
    assert db(MYSQL_URL).ok
    result = db(closed(MYSQL_URL, targets.closed_port))
    assert not result.ok
    assert result.error == f"mysql 127.0.0.1:{targets.closed_port}/test: connection refused"


def test_mysql_threshold_query() -> None:
    query = (
        "select count(*) as used, @@max_connections as max, now() as at from information_schema.processlist"
    )
    result = db(MYSQL_URL, query)
    assert result.ok, result.error
    assert type(result.variables["row"]["used"]) is float
    assert result.variables["row"]["at"].endswith("+00:00")
    assert holds("row.used < row.max * 0.8", result)


def test_mysql_refuses_writes() -> None:
    table = f"siaga_probe_{uuid.uuid4().hex[:8]}"
    for statement in (f"create table {table} (x int)", f"drop table if exists {table}"):
        result = db(MYSQL_URL, statement)
        assert not result.ok
        assert result.error is not None
        assert "READ ONLY transaction" in result.error


def test_mysql_wrong_password() -> None:
    result = db(with_password(MYSQL_URL, WRONG_PASSWORD))
    assert not result.ok
    assert result.error is not None
    assert result.error.endswith("authentication failed")
    assert WRONG_PASSWORD not in result.error


# -- db: Redis -----------------------------------------------------------------------------------------


def test_redis_reachable_and_unreachable(targets: Targets) -> None:
    pinged = db(REDIS_URL)
    assert pinged.ok, pinged.error
    assert pinged.variables["row"] == {"value": True}  # redis-py's reading of +PONG
    refused = db(closed(REDIS_URL, targets.closed_port))
    assert not refused.ok
    assert refused.error == f"redis 127.0.0.1:{targets.closed_port}/0: connection refused"


def test_redis_read_commands() -> None:
    info = db(REDIS_URL, "INFO")
    assert info.ok, info.error
    assert isinstance(info.variables["row"]["redis_version"], str)
    assert holds("row.connected_clients >= 1.0", info)
    key = f"siaga:probe:{uuid.uuid4().hex}"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.set(key, "42", ex=60)
        got = db(REDIS_URL, f"GET {key}")
        assert got.variables["row"] == {"value": "42"}
        assert db(REDIS_URL, f"strlen '{key}'").variables["row"] == {"value": 2.0}
    finally:
        client.delete(key)
        client.close()
    assert db(REDIS_URL, f"EXISTS {key}").variables["rows"] == [{"value": 0.0}]


def test_redis_refuses_other_commands() -> None:
    for query, name in (
        ("SET siaga:x 1", "SET"),
        ("config get requirepass", "CONFIG"),
        ("FLUSHALL", "FLUSHALL"),
    ):
        result = db(REDIS_URL, query)
        assert not result.ok
        assert result.error is not None
        assert result.error.endswith(f"command {name} is not read-only")


def test_redis_wrong_password() -> None:
    url = REDIS_URL.replace("redis://", f"redis://siaga-nobody:{WRONG_PASSWORD}@")
    result = db(url)
    assert not result.ok
    assert result.error is not None
    assert result.error.endswith("authentication failed")
    assert WRONG_PASSWORD not in result.error


def test_db_unsupported_scheme() -> None:
    result = db(f"mongodb://root:{WRONG_PASSWORD}@127.0.0.1/x")
    assert not result.ok
    assert (
        result.error == "db: unsupported URL scheme 'mongodb://' (postgresql, mysql, mariadb, redis, rediss)"
    )
