"""The header audit against real local servers: known-bad header sets and their good twins, over HTTPS (a
trustme CA) and plain HTTP, through ``collect`` → ``score_response`` → ``rules``.

``CASES`` lists (case id, the rule its bad variant must raise): every bad variant must raise it (recall) and
its good twin must not (precision). The good twin is the fully hardened response unless the case says
otherwise; each bad variant changes one thing.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web

from siaga.audit.headers import Cookie, ResponseFacts, audit, collect, rules, score_response
from siaga.domain.audit import Finding
from siaga.spec.security import HeaderPolicy
from tests.integration.servers import BackgroundLoop, free_port

TIMEOUT = 5.0
HANG_SECONDS = 2.0  # longer than the 0.5 s the timeout test allows, short enough not to hold up teardown
GOOD: dict[str, str] = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Content-Security-Policy": (
        "default-src 'self'; form-action 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}
NO_FRAME_ANCESTORS = "default-src 'self'; form-action 'self'; object-src 'none'; base-uri 'self'"
Changes = Mapping[str, str | list[str] | None]  # a header's new value(s), or None to drop it


@dataclass(frozen=True)
class Case:
    id: str
    rule: str
    bad: Changes = field(default_factory=dict)
    good: Changes = field(default_factory=dict)
    policy: HeaderPolicy = field(default_factory=HeaderPolicy)
    bad_url: str = "{https}/case/{id}/bad"  # {http}, {https}, {https_localhost}: the servers' base URLs
    good_url: str = "{https}/case/{id}/good"


_SECURE_COOKIE = "sessionid=abc; Secure; HttpOnly; SameSite=Strict; Path=/"
ALL: list[Case] = [
    # every OWASP header, missing
    Case("missing-hsts", "headers.missing-strict-transport-security", {"Strict-Transport-Security": None}),
    Case("missing-csp", "headers.missing-content-security-policy", {"Content-Security-Policy": None}),
    Case(
        "missing-xfo",
        "headers.missing-x-frame-options",
        {"X-Frame-Options": None, "Content-Security-Policy": NO_FRAME_ANCESTORS},
        good={"X-Frame-Options": None},  # CSP frame-ancestors does the same job
    ),
    Case("missing-xcto", "headers.missing-x-content-type-options", {"X-Content-Type-Options": None}),
    Case("missing-referrer-policy", "headers.missing-referrer-policy", {"Referrer-Policy": None}),
    Case("missing-permissions-policy", "headers.missing-permissions-policy", {"Permissions-Policy": None}),
    Case("missing-coop", "headers.missing-cross-origin-opener-policy", {"Cross-Origin-Opener-Policy": None}),
    Case(
        "missing-coep", "headers.missing-cross-origin-embedder-policy", {"Cross-Origin-Embedder-Policy": None}
    ),
    Case(
        "missing-corp", "headers.missing-cross-origin-resource-policy", {"Cross-Origin-Resource-Policy": None}
    ),
    Case(
        "cache-control-sensitive",
        "headers.cache-control-sensitive",
        {"Set-Cookie": _SECURE_COOKIE, "Cache-Control": "public, max-age=600"},
        good={"Set-Cookie": _SECURE_COOKIE},
    ),
    # the standard's required values
    Case(
        "required-xfo-value",
        "headers.required-mismatch",
        {"X-Frame-Options": "DENY"},
        good={"X-Frame-Options": "SAMEORIGIN"},
        policy=HeaderPolicy(require={"X-Frame-Options": "SAMEORIGIN"}),
    ),
    Case(
        "required-x-xss-protection",
        "headers.required-mismatch",
        good={"X-XSS-Protection": "0"},
        policy=HeaderPolicy(require={"X-XSS-Protection": "0"}),
    ),
    Case(
        "required-referrer-policy",
        "headers.required-mismatch",
        good={"Referrer-Policy": "strict-origin-when-cross-origin"},
        policy=HeaderPolicy(profile="none", require={"Referrer-Policy": "Strict-Origin-When-Cross-Origin"}),
    ),
    # cookies
    Case(
        "cookie-no-secure",
        "headers.cookie-insecure",
        {"Set-Cookie": "cart=1; HttpOnly; SameSite=Lax"},
        good={"Set-Cookie": "cart=1; Secure; HttpOnly; SameSite=Lax"},
    ),
    Case(
        "cookie-session-no-httponly",
        "headers.cookie-no-httponly",
        {"Set-Cookie": "sessionid=abc; Secure; SameSite=Lax"},
        good={"Set-Cookie": _SECURE_COOKIE},
    ),
    Case(
        "cookie-no-samesite",
        "headers.cookie-samesite",
        {"Set-Cookie": "sessionid=abc; Secure; HttpOnly"},
        good={"Set-Cookie": _SECURE_COOKIE},
    ),
    Case(
        "cookie-samesite-none-without-secure",
        "headers.cookie-samesite",
        {"Set-Cookie": "pref=1; HttpOnly; SameSite=None"},
        good={"Set-Cookie": "pref=1; Secure; HttpOnly; SameSite=None"},
    ),
    Case(
        "cookie-on-a-redirect-hop",
        "headers.cookie-insecure",
        bad_url="{http}/set-cookie-then/case/base/good",
        good_url="{http}/to-https/case/base/good",
    ),
    # the redirect to https
    Case(
        "no-https-redirect",
        "headers.no-https-redirect",
        bad_url="{http}/plain",
        good_url="{http}/to-https/case/base/good",
    ),
    Case(
        "redirect-off-host",
        "headers.redirect-off-host",
        bad_url="{http}/off-host",
        good_url="{http}/to-https/case/base/good",
    ),
    Case(
        "redirect-via-http",
        "headers.redirect-via-http",
        bad_url="{http}/via-http",
        good_url="{http}/to-https/case/base/good",
    ),
    # values the Observatory fails
    Case("xcto-invalid", "headers.x-content-type-options-invalid", {"X-Content-Type-Options": "sniff"}),
    Case(
        "xfo-invalid",
        "headers.x-frame-options-invalid",
        {"X-Frame-Options": "ALLOWALL", "Content-Security-Policy": NO_FRAME_ANCESTORS},
        good={"X-Frame-Options": "SAMEORIGIN", "Content-Security-Policy": NO_FRAME_ANCESTORS},
    ),
    Case("hsts-short", "headers.hsts-short-max-age", {"Strict-Transport-Security": "max-age=86400"}),
    Case("hsts-invalid", "headers.hsts-invalid", {"Strict-Transport-Security": "includeSubDomains"}),
    Case(
        "csp-unsafe-inline",
        "headers.csp-unsafe-inline",
        {"Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'"},
        good={
            "Content-Security-Policy": "default-src 'self'; script-src 'self' 'nonce-r4nd0m' 'unsafe-inline'"
        },
    ),
    Case(
        "csp-unsafe-eval",
        "headers.csp-unsafe-eval",
        {"Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-eval'"},
    ),
    Case(
        "csp-report-only",
        "headers.csp-report-only",
        {"Content-Security-Policy": None, "Content-Security-Policy-Report-Only": "default-src 'self'"},
    ),
    Case("referrer-unsafe", "headers.referrer-policy-unsafe", {"Referrer-Policy": "unsafe-url"}),
    Case(
        "cors-reflects-origin",
        "headers.cors-any-origin-with-credentials",
        {"Access-Control-Allow-Origin": "$origin", "Access-Control-Allow-Credentials": "true"},
        good={
            "Access-Control-Allow-Origin": "https://partner.example",
            "Access-Control-Allow-Credentials": "true",
        },
    ),
    Case(
        "coop-sent-twice",
        "headers.cross-origin-opener-policy-invalid",
        {"Cross-Origin-Opener-Policy": ["same-origin", "unsafe-none"]},
    ),
    Case(
        "min-grade",
        "headers.grade-below-minimum",
        {"Content-Security-Policy": None},
        policy=HeaderPolicy(profile="none", min_grade="A"),
    ),
]
CASES: list[tuple[str, str]] = [(c.id, c.rule) for c in ALL]  # (case id, expected rule): for recall/precision
BY_ID = {c.id: c for c in ALL}


def _headers(changes: Changes) -> list[tuple[str, str]]:
    merged: dict[str, str | list[str] | None] = {**GOOD, **changes}
    return [
        (k, line) for k, v in merged.items() if v is not None for line in (v if isinstance(v, list) else [v])
    ]


# -- servers ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Servers:
    http: str
    https: str
    https_localhost: str
    wrong_host: str  # serves a certificate for other.siaga.test
    closed: str  # nobody listens
    client_ssl: ssl.SSLContext

    def url(self, template: str, case: str) -> str:
        return template.format(
            http=self.http, https=self.https, https_localhost=self.https_localhost, id=case
        )


def _https_app() -> web.Application:
    async def case(request: web.Request) -> web.Response:
        name, variant = request.match_info["case"], request.match_info["variant"]
        changes = {} if name == "base" else getattr(BY_ID[name], variant)
        lines = [
            (k, request.headers.get("Origin", "") if v == "$origin" else v) for k, v in _headers(changes)
        ]
        response = web.Response(text="<!doctype html><title>ok</title>", content_type="text/html")
        for name_, value in lines:
            response.headers.add(name_, value)
        return response

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    app = web.Application()
    app.add_routes([web.get("/case/{case}/{variant}", case), web.get("/loop", loop)])
    return app


def _http_app(https: str, https_localhost: str) -> web.Application:
    async def plain(request: web.Request) -> web.Response:
        response = web.Response(text="<!doctype html><title>plain</title>", content_type="text/html")
        response.headers.extend(_headers({"Strict-Transport-Security": None}))
        return response

    async def to_https(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(f"{https}/{request.match_info['rest']}")

    async def set_cookie_then(request: web.Request) -> web.Response:
        redirect = web.HTTPFound(f"{https}/{request.match_info['rest']}")
        redirect.headers["Set-Cookie"] = "tracking=1; SameSite=Lax"  # no Secure, over plain http
        raise redirect

    async def off_host(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(f"{https_localhost}/case/base/good")

    async def via_http(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/to-https/case/base/good")

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(HANG_SECONDS)
        return web.Response(text="late")

    app = web.Application()
    app.add_routes(
        [
            web.get("/plain", plain),
            web.get("/to-https/{rest:.*}", to_https),
            web.get("/set-cookie-then/{rest:.*}", set_cookie_then),
            web.get("/off-host", off_host),
            web.get("/via-http", via_http),
            web.get("/hang", hang),
        ]
    )
    return app


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    ca = trustme.CA()
    good_cert, other_cert = ca.issue_cert("localhost", "127.0.0.1"), ca.issue_cert("other.siaga.test")
    server_ssl, other_ssl = (ssl.create_default_context(ssl.Purpose.CLIENT_AUTH) for _ in range(2))
    good_cert.configure_cert(server_ssl)
    other_cert.configure_cert(other_ssl)
    client_ssl = ssl.create_default_context()
    ca.configure_trust(client_ssl)
    https_port, http_port, other_port = free_port(), free_port(), free_port()
    https = f"https://127.0.0.1:{https_port}"
    loop = BackgroundLoop()
    runners: list[web.AppRunner] = []

    async def start(app: web.Application, port: int, context: ssl.SSLContext | None) -> None:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=HANG_SECONDS)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
        runners.append(runner)

    loop.run(lambda: start(_https_app(), https_port, server_ssl))
    loop.run(lambda: start(_http_app(https, f"https://localhost:{https_port}"), http_port, None))
    loop.run(lambda: start(_https_app(), other_port, other_ssl))
    try:
        yield Servers(
            http=f"http://127.0.0.1:{http_port}",
            https=https,
            https_localhost=f"https://localhost:{https_port}",
            wrong_host=f"https://127.0.0.1:{other_port}/case/base/good",
            closed=f"http://127.0.0.1:{free_port()}/",
            client_ssl=client_ssl,
        )
    finally:
        for runner in runners:
            loop.run(runner.cleanup)
        loop.close()


def _collect(servers: Servers, url: str, *, trusted: bool = True, timeout: float = TIMEOUT) -> Any:
    async def scenario() -> ResponseFacts | Finding:
        connector = aiohttp.TCPConnector(ssl=servers.client_ssl if trusted else True)
        async with aiohttp.ClientSession(connector=connector) as session:
            return await collect(url, session, timeout)

    return asyncio.run(scenario())


def _rules_of(servers: Servers, case: Case, variant: str) -> dict[str, Finding]:
    facts = _collect(servers, servers.url(getattr(case, f"{variant}_url"), case.id))
    assert isinstance(facts, ResponseFacts), facts
    return {f.rule: f for f in rules(score_response(facts), facts, case.policy, facts.url)}


# -- the cases -------------------------------------------------------------------------------------------


def test_enough_cases() -> None:
    assert len(CASES) >= 20
    assert len({c for c, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("case_id", "rule"), CASES, ids=[c for c, _ in CASES])
def test_bad_case_is_found(servers: Servers, case_id: str, rule: str) -> None:
    found = _rules_of(servers, BY_ID[case_id], "bad")
    assert rule in found, sorted(found)
    assert found[rule].fix


@pytest.mark.parametrize(("case_id", "rule"), CASES, ids=[c for c, _ in CASES])
def test_good_twin_is_clean(servers: Servers, case_id: str, rule: str) -> None:
    found = _rules_of(servers, BY_ID[case_id], "good")
    assert rule not in found, found.get(rule)
    assert found == {}  # every twin is fully hardened: no other rule either


def test_the_hardened_response_has_no_finding_at_all(servers: Servers) -> None:
    case = Case("base", "-", good_url="{http}/to-https/case/base/good")
    assert _rules_of(servers, case, "good") == {}
    facts = _collect(servers, f"{servers.https}/case/base/good")
    assert (score_response(facts).score, score_response(facts).grade) == (145, "A+")  # docs/audit-headers.md


def test_the_chain_and_its_cookies_are_recorded(servers: Servers) -> None:
    facts = _collect(servers, f"{servers.http}/set-cookie-then/case/cookie-no-secure/good")
    assert isinstance(facts, ResponseFacts)
    assert [(hop.url.split(":")[0], hop.status) for hop in facts.chain] == [("http", 302), ("https", 200)]
    assert facts.final_url == f"{servers.https}/case/cookie-no-secure/good"
    assert [c.name for c in facts.cookies] == ["tracking", "cart"]
    assert facts.cookies[1] == Cookie("cart", secure=True, httponly=True, samesite="lax")
    assert facts.headers["x-frame-options"] == ["DENY"]


def test_an_https_url_is_not_judged_on_redirection(servers: Servers) -> None:
    facts = _collect(servers, f"{servers.https}/case/base/good")
    assert isinstance(facts, ResponseFacts)
    assert facts.redirect_chain is None
    assert score_response(facts).test("redirection").result == "redirection-not-probed"


# -- what cannot be audited: a finding, never a traceback ------------------------------------------------


def test_unreachable_url_is_a_finding(servers: Servers) -> None:
    finding = _collect(servers, servers.closed)
    assert isinstance(finding, Finding)
    assert (finding.rule, finding.area, finding.location) == (
        "headers.unreachable",
        "headers",
        servers.closed,
    )
    assert "cannot fetch" in finding.message


def test_a_certificate_for_another_host_is_a_finding(servers: Servers) -> None:
    finding = _collect(servers, servers.wrong_host)
    assert isinstance(finding, Finding)
    assert finding.rule == "headers.invalid-certificate"
    assert "127.0.0.1" in finding.message
    assert "does not verify" in finding.message


def test_an_untrusted_ca_is_a_finding(servers: Servers) -> None:
    finding = _collect(servers, f"{servers.https}/case/base/good", trusted=False)
    assert isinstance(finding, Finding)
    assert finding.rule == "headers.invalid-certificate"


def test_a_server_that_does_not_answer_in_time_is_a_finding(servers: Servers) -> None:
    finding = _collect(servers, f"{servers.http}/hang", timeout=0.5)
    assert isinstance(finding, Finding)
    assert finding.rule == "headers.unreachable"
    assert "within 0.5s" in finding.message


def test_a_redirect_loop_is_a_finding(servers: Servers) -> None:
    finding = _collect(servers, f"{servers.https}/loop")
    assert isinstance(finding, Finding)
    assert finding.rule == "headers.redirect-loop"


@pytest.mark.parametrize("url", ["ftp://example.com/", "not a url", "https://"])
def test_an_invalid_url_is_a_finding(servers: Servers, url: str) -> None:
    finding = _collect(servers, url)
    assert isinstance(finding, Finding)
    assert finding.rule == "headers.invalid-url"


def test_audit_collects_every_url_and_reports_the_worst_grade(servers: Servers) -> None:
    async def scenario() -> tuple[list[Finding], dict[str, str]]:
        connector = aiohttp.TCPConnector(ssl=servers.client_ssl)
        async with aiohttp.ClientSession(connector=connector) as session:
            urls = [
                f"{servers.https}/case/base/good",
                f"{servers.https}/case/missing-csp/bad",
                servers.closed,
            ]
            return await audit(urls, HeaderPolicy(), session=session, timeout=TIMEOUT)

    findings, grades = asyncio.run(scenario())
    assert {f.rule for f in findings} == {"headers.missing-content-security-policy", "headers.unreachable"}
    assert grades == {"headers": "B"}  # no CSP: 100 - 25 = 75, under 90 so no bonus
