"""The HTTP Observatory's scoring, reproduced, on header sets from its own test suite; and the header rules.

Every set below comes from mdn/mdn-http-observatory's tests (test/*.test.js): the Observatory's
``emptyRequests()`` response (``Content-Type: text/html`` at https://mozilla.org/, reached from
http://mozilla.org/ through https://mozilla.org/ → https://www.mozilla.org/) with the header or cookie its
test sets, and the result that test asserts. Where a set starts from ``HARDENED`` instead (the empty response
with HSTS, nosniff, DENY, a private Referrer-Policy and a CSP without unsafe sources) it is so that the
bonus round of the score is exercised. Scores are the Observatory's algorithm over its published modifiers
(penalties first; bonuses only at 90 or more); the two fixtures at the end carry scores the Observatory's
own scanner test asserts (test/scanner.test.js).
"""

from __future__ import annotations

from typing import Any

import pytest

from siaga.audit import headers as h
from siaga.audit.headers import Cookie, Hop, ResponseFacts, grade_for, parse_csp, rules, score_headers
from siaga.domain.audit import Finding, Severity
from siaga.spec.security import HeaderPolicy

CHAIN = (
    Hop("http://mozilla.org/", 301),
    Hop("https://mozilla.org/", 301),
    Hop("https://www.mozilla.org/", 200),
)
OBSERVATORY_ORIGIN = "https://http-observatory.security.mozilla.org"  # the Origin its CORS test sends
CSP, HSTS = "content-security-policy", "strict-transport-security"
EMPTY: dict[str, str | list[str]] = {"content-type": "text/html"}
HARDENED: dict[str, str | list[str]] = {
    **EMPTY,
    "strict-transport-security": "max-age=63072000",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
    "content-security-policy": "default-src 'self'; object-src 'none'",
}  # 100 + 5 (CSP) + 5 (XFO) + 5 (Referrer-Policy) = 115, A+


def _headers(base: dict[str, str | list[str]], extra: dict[str, str | list[str]]) -> dict[str, list[str]]:
    merged = {**base, **extra}
    return {k: v if isinstance(v, list) else [v] for k, v in merged.items() if v != []}


def _score(base: dict[str, Any], extra: dict[str, Any], **kwargs: Any) -> h.ObservatoryResult:
    kwargs.setdefault("scheme", "https")
    kwargs.setdefault("redirect_chain", CHAIN)
    kwargs.setdefault("cors_origin", OBSERVATORY_ORIGIN)
    return score_headers(_headers(base, extra), **kwargs)


# (id, base, headers set by the Observatory's test, score_headers options, test, result it asserts, score,
# grade). With EMPTY, penalties are CSP -25, HSTS -20, X-Content-Type-Options -5, X-Frame-Options -20 = 30.
SETS: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any], str, str, int, str]] = [
    ("empty", EMPTY, {}, {}, CSP, "csp-not-implemented", 30, "D"),
    # test/csp.test.js
    ("csp-repeated-directive", EMPTY, {CSP: "default-src 'none'; default-src 'none'"},
     {}, CSP, "csp-header-invalid", 30, "D"),
    ("csp-too-short", EMPTY, {CSP: "defa"}, {}, CSP,
     "csp-header-invalid", 30, "D"),
    ("csp-strict-dynamic-without-nonce", EMPTY,
     {CSP: "default-src 'none'; script-src 'strict-dynamic'"}, {},
     CSP, "csp-header-invalid", 30, "D"),
    ("csp-unsafe-inline", EMPTY, {CSP: "default-src 'none'; script-src 'unsafe-inline'"},
     {}, CSP, "csp-implemented-with-unsafe-inline", 35, "D"),
    ("csp-no-script-src", EMPTY, {CSP: "upgrade-insecure-requests"}, {},
     CSP, "csp-implemented-with-unsafe-inline", 35, "D"),
    ("csp-insecure-scheme", EMPTY, {CSP: "default-src http://mozilla.org"}, {},
     CSP, "csp-implemented-with-insecure-scheme", 35, "D"),
    ("csp-passive-http", EMPTY, {CSP: "default-src 'self'; img-src http:"}, {},
     CSP, "csp-implemented-with-insecure-scheme-in-passive-content-only", 45, "C-"),
    ("csp-unsafe-eval", EMPTY, {CSP: "default-src 'none'; script-src 'unsafe-eval'"},
     {}, CSP, "csp-implemented-with-unsafe-eval", 45, "C-"),
    ("csp-style-only", EMPTY,
     {CSP: "object-src 'none'; script-src 'none'; style-src 'unsafe-inline'"}, {},
     CSP, "csp-implemented-with-unsafe-inline-in-style-src-only", 55, "C"),
    # a bonus under 90: not counted
    ("csp-no-unsafe-no-bonus", EMPTY, {CSP: "default-src https://mozilla.org"}, {},
     CSP, "csp-implemented-with-no-unsafe", 55, "C"),
    ("csp-strict-dynamic-nonce", EMPTY,
     {CSP: "default-src 'none'; script-src 'strict-dynamic' 'nonce-abc123' 'unsafe-inline'"},
     {}, CSP, "csp-implemented-with-no-unsafe-default-src-none", 55, "C"),
    ("csp-report-only", EMPTY,
     {"content-security-policy-report-only": "default-src 'none'; report-to /_/csp-reports"}, {},
     CSP, "csp-not-implemented-but-reporting-enabled", 30, "D"),
    ("csp-two-policies-one-field", EMPTY,
     {CSP: "default-src 'none'; script-src 'self', default-src 'none'; script-src 'self'"},
     {}, CSP, "csp-implemented-with-no-unsafe-default-src-none", 55, "C"),
    ("csp-default-none-bonus", HARDENED, {CSP: "default-src 'none'"}, {},
     CSP, "csp-implemented-with-no-unsafe-default-src-none", 120, "A+"),
    ("csp-style-data", HARDENED, {CSP: "default-src 'none'; style-src data:"}, {},
     CSP, "csp-implemented-with-unsafe-inline-in-style-src-only", 110, "A+"),
    ("csp-any-host", HARDENED, {CSP: "default-src *; frame-ancestors 'none'"}, {},
     CSP, "csp-implemented-with-unsafe-inline", 80, "B+"),
    # exactly 90 after penalties: the bonuses count
    ("csp-passive-at-90", HARDENED, {CSP: "default-src 'none'; img-src http://mozilla.org"},
     {}, CSP, "csp-implemented-with-insecure-scheme-in-passive-content-only", 100, "A+"),
    # test/x-frame-options.test.js
    ("xfo-deny", EMPTY, {"x-frame-options": "DENY "}, {}, "x-frame-options",
     "x-frame-options-sameorigin-or-deny", 50, "C"),
    ("xfo-sent-twice", EMPTY, {"x-frame-options": "SAMEORIGIN, SAMEORIGIN"}, {}, "x-frame-options",
     "x-frame-options-header-invalid", 30, "D"),
    ("xfo-sent-twice-lines", EMPTY, {"x-frame-options": ["SAMEORIGIN", "SAMEORIGIN"]}, {}, "x-frame-options",
     "x-frame-options-header-invalid", 30, "D"),
    ("xfo-allow-from", EMPTY, {"x-frame-options": "ALLOW-FROM https://mozilla.org"}, {}, "x-frame-options",
     "x-frame-options-allow-from-origin", 50, "C"),
    ("xfo-via-csp", EMPTY,
     {"x-frame-options": "DENY", CSP: "frame-ancestors https://mozilla.org"}, {},
     "x-frame-options", "x-frame-options-implemented-via-csp", 55, "C"),
    # test/x-content-type-options.test.js
    ("xcto-nosniff", EMPTY, {"x-content-type-options": "nosniff "}, {}, "x-content-type-options",
     "x-content-type-options-nosniff", 35, "D"),
    ("xcto-sent-twice", EMPTY, {"x-content-type-options": "nosniff, nosniff"}, {}, "x-content-type-options",
     "x-content-type-options-header-invalid", 30, "D"),
    ("xcto-whimsy", EMPTY, {"x-content-type-options": "whimsy"}, {}, "x-content-type-options",
     "x-content-type-options-header-invalid", 30, "D"),
    # test/strict-transport-security.test.js
    ("hsts-implemented", EMPTY, {HSTS: "max-age=15768000; includeSubDomains; preload"},
     {}, HSTS, "hsts-implemented-max-age-at-least-six-months", 50, "C"),
    ("hsts-max-age-too-low", EMPTY, {HSTS: "max-age=86400"}, {},
     HSTS, "hsts-implemented-max-age-less-than-six-months", 40, "D+"),
    ("hsts-no-max-age", EMPTY, {HSTS: "includeSubDomains; preload"}, {},
     HSTS, "hsts-header-invalid", 30, "D"),
    ("hsts-sent-twice", EMPTY,
     {HSTS: "max-age=15768000; includeSubDomains, max-age=15768000; includeSubDomains"},
     {}, HSTS, "hsts-header-invalid", 30, "D"),
    ("hsts-preloaded", HARDENED, {}, {"hsts_preloaded": True}, HSTS, "hsts-preloaded",
     120, "A+"),
    # test/redirection.test.js (an http-only site also fails HSTS: "no https")
    ("redirection-missing", EMPTY, {HSTS: "max-age=15768000"},
     {"scheme": "http", "redirect_chain": (Hop("http://mozilla.org", 200),)}, "redirection",
     "redirection-missing", 10, "F"),
    ("redirection-not-to-https", EMPTY, {},
     {"scheme": "http",
      "redirect_chain": (Hop("http://mozilla.org", 301), Hop("http://www.mozilla.org", 200))},
     "redirection", "redirection-not-to-https", 10, "F"),
    ("redirection-first-to-http", EMPTY, {},
     {"redirect_chain": (Hop("http://mozilla.org/", 301), Hop("http://www.mozilla.org/", 301),
                         Hop("https://www.mozilla.org/", 200))},
     "redirection", "redirection-not-to-https-on-initial-redirection", 20, "F"),
    ("redirection-off-host", EMPTY, {},
     {"redirect_chain": (Hop("http://mozilla.org/", 301), Hop("https://www.mozilla.org/", 200))},
     "redirection", "redirection-off-host-from-http", 25, "D-"),
    ("redirection-port", EMPTY, {},
     {"redirect_chain": (Hop("http://mozilla.org/", 301), Hop("https://mozilla.org:8443/", 200))},
     "redirection", "redirection-to-https", 30, "D"),
    ("redirection-no-http", EMPTY, {}, {"redirect_chain": ()}, "redirection",
     "redirection-not-needed-no-http", 30, "D"),
    # test/cookies.test.js
    ("cookies-secure-httponly-sessions", EMPTY,
     {"set-cookie": ["SESSIONID=bar; Domain=mozilla.org; Path=/; Secure; HttpOnly",
                     "foo=bar; Domain=mozilla.org; Secure; Path=/",
                     "heroku-session-affinity=bar; Domain=mozilla.org; Path=/"]}, {},
     "cookies", "cookies-secure-with-httponly-sessions", 30, "D"),
    ("cookies-samesite", HARDENED,
     {"set-cookie": [f"SESSIONID_SAMESITE_{v.upper()}=bar; Domain=mozilla.org; Path=/; Secure; HttpOnly; "
                     f"SameSite={v}" for v in ("Strict", "Lax", "None")]}, {},
     "cookies", "cookies-secure-with-httponly-sessions-and-samesite", 120, "A+"),
    ("cookies-anticsrf", EMPTY, {"set-cookie": "CSRFTOKEN=bar; Domain=mozilla.org; Path=/; Secure; HttpOnly"},
     {}, "cookies", "cookies-anticsrf-without-samesite-flag", 10, "F"),
    ("cookies-samesite-empty", EMPTY,
     {"set-cookie": "SESSIONID=bar; Domain=mozilla.org; Path=/; Secure; HttpOnly; SameSite="}, {},
     "cookies", "cookies-samesite-flag-invalid", 10, "F"),
    ("cookies-samesite-true", EMPTY,
     {"set-cookie": "SESSIONID=bar; Domain=mozilla.org; Path=/; Secure; HttpOnly; SameSite=True"}, {},
     "cookies", "cookies-samesite-flag-invalid", 10, "F"),
    ("cookies-no-secure-hsts", HARDENED, {"set-cookie": "foo=bar; Domain=mozilla.org; Path=/"}, {},
     "cookies", "cookies-without-secure-flag-but-protected-by-hsts", 110, "A+"),
    ("cookies-session-no-secure-hsts", HARDENED,
     {"set-cookie": "SESSIONID=bar; Domain=mozilla.org; Path=/; HttpOnly"}, {},
     "cookies", "cookies-session-without-secure-flag-but-protected-by-hsts", 105, "A+"),
    ("cookies-no-secure", EMPTY, {"set-cookie": "foo=bar; Domain=mozilla.org; Path=/"}, {},
     "cookies", "cookies-without-secure-flag", 10, "F"),
    ("cookies-session-no-httponly", EMPTY,
     {"set-cookie": "SESSIONID=bar; Domain=mozilla.org; Path=/; Secure"}, {}, "cookies",
     "cookies-session-without-httponly-flag", 0, "F"),
    # -10 is floored at 0
    ("cookies-session-no-secure", EMPTY, {"set-cookie": "SESSIONID=bar; Domain=mozilla.org; Path=/"}, {},
     "cookies", "cookies-session-without-secure-flag", 0, "F"),
    # test/referrer-policy.test.js
    ("referrer-private", HARDENED, {"referrer-policy": "STRICT-ORIGIN"}, {}, "referrer-policy",
     "referrer-policy-private", 115, "A+"),
    ("referrer-invalid", HARDENED, {"referrer-policy": "whimsy"}, {}, "referrer-policy",
     "referrer-policy-header-invalid", 105, "A+"),
    ("referrer-last-valid-wins", HARDENED, {"referrer-policy": "no-referrer, unsafe-url"}, {},
     "referrer-policy", "referrer-policy-unsafe", 105, "A+"),
    ("referrer-mixed", HARDENED, {"referrer-policy": "no-referrer, whimsy"}, {}, "referrer-policy",
     "referrer-policy-private", 115, "A+"),
    ("referrer-missing", HARDENED, {"referrer-policy": []}, {}, "referrer-policy",
     "referrer-policy-not-implemented", 110, "A+"),
    # test/cors.test.js
    ("cors-public", EMPTY, {"access-control-allow-origin": "*"}, {}, "cross-origin-resource-sharing",
     "cross-origin-resource-sharing-implemented-with-public-access", 30, "D"),
    ("cors-restricted", HARDENED, {"access-control-allow-origin": "https://mozilla.org"}, {},
     "cross-origin-resource-sharing", "cross-origin-resource-sharing-implemented-with-restricted-access",
     115, "A+"),
    ("cors-universal", HARDENED,
     {"access-control-allow-origin": OBSERVATORY_ORIGIN, "access-control-allow-credentials": "true"}, {},
     "cross-origin-resource-sharing", "cross-origin-resource-sharing-implemented-with-universal-access",
     50, "C"),
    # test/cross-origin-resource-policy.test.js
    ("corp-same-site", HARDENED, {"cross-origin-resource-policy": "same-site"}, {},
     "cross-origin-resource-policy", "corp-implemented-with-same-site", 125, "A+"),
    ("corp-cross-origin", HARDENED, {"cross-origin-resource-policy": "cross-origin"}, {},
     "cross-origin-resource-policy", "corp-implemented-with-cross-origin", 115, "A+"),
    ("corp-whimsy", HARDENED, {"cross-origin-resource-policy": "whimsy"}, {},
     "cross-origin-resource-policy", "corp-header-invalid", 110, "A+"),
    # test/cross-origin-opener-policy.test.js, test/cross-origin-embedder-policy.test.js
    ("coop-report-to", HARDENED, {"cross-origin-opener-policy": 'same-origin; report-to="coop-endpoint"'}, {},
     "cross-origin-opener-policy", "coop-implemented-with-same-origin", 125, "A+"),
    ("coop-bare-parameter", HARDENED, {"cross-origin-opener-policy": "same-origin; report-to"}, {},
     "cross-origin-opener-policy", "coop-implemented-with-same-origin", 125, "A+"),
    ("coop-unsafe-none", HARDENED, {"cross-origin-opener-policy": "unsafe-none"}, {},
     "cross-origin-opener-policy", "coop-implemented-with-unsafe-none", 115, "A+"),
    ("coop-quoted", HARDENED, {"cross-origin-opener-policy": '"same-origin"'}, {},
     "cross-origin-opener-policy", "coop-header-invalid", 110, "A+"),
    ("coop-malformed", HARDENED, {"cross-origin-opener-policy": "same-origin; report-to=coop endpoint"}, {},
     "cross-origin-opener-policy", "coop-header-invalid", 110, "A+"),
    ("coop-twice", HARDENED, {"cross-origin-opener-policy": ["same-origin", "unsafe-none"]}, {},
     "cross-origin-opener-policy", "coop-header-invalid", 110, "A+"),
    ("coep-require-corp", HARDENED, {"cross-origin-embedder-policy": "require-corp"}, {},
     "cross-origin-embedder-policy", "coep-implemented-with-require-corp", 125, "A+"),
]  # fmt: skip


@pytest.mark.parametrize(("base", "extra", "options", "test", "result", "score", "grade"),
                         [s[1:] for s in SETS], ids=[s[0] for s in SETS])  # fmt: skip
def test_observatory_test_suite_sets(
    base: dict[str, Any], extra: dict[str, Any], options: dict[str, Any], test: str, result: str, score: int,
    grade: str,
) -> None:  # fmt: skip
    scored = _score(base, extra, **options)
    assert scored.test(test).result == result
    assert (scored.score, scored.grade) == (score, grade)


def test_there_are_at_least_thirty_sets() -> None:
    assert len(SETS) >= 30
    assert len({s[0] for s in SETS}) == len(SETS)


# test/fixtures/observatory-mozilla-org.json (captured 2026-01-12): the security headers of the response.
OBSERVATORY_MOZILLA_ORG = {
    "content-type": "text/html",
    "referrer-policy": "strict-origin-when-cross-origin",
    "content-security-policy": (
        "default-src 'self'; script-src 'report-sample' 'self' 'wasm-unsafe-eval' "
        "https://www.google-analytics.com/analytics.js https://*.googletagmanager.com assets.codepen.io "
        "production-assets.codepen.io https://js.stripe.com "
        "'sha256-XNBp89FG76amD8BqrJzyflxOF9PaWPqPqvJfKZPCv7M=' "
        "'sha256-YCNoU9DNiinACbd8n6UPyB/8vj0kXvhkOni9/06SuYw=' "
        "'sha256-PZjP7OR6mBEtnvXIZfCZ5PuOlxoDF1LDZL8aj8c42rw='; script-src-elem 'report-sample' 'self' "
        "'wasm-unsafe-eval' https://www.google-analytics.com/analytics.js https://*.googletagmanager.com "
        "assets.codepen.io production-assets.codepen.io https://js.stripe.com "
        "'sha256-XNBp89FG76amD8BqrJzyflxOF9PaWPqPqvJfKZPCv7M=' "
        "'sha256-YCNoU9DNiinACbd8n6UPyB/8vj0kXvhkOni9/06SuYw=' "
        "'sha256-PZjP7OR6mBEtnvXIZfCZ5PuOlxoDF1LDZL8aj8c42rw='; style-src 'report-sample' 'self' "
        "'unsafe-inline'; object-src 'none'; base-uri 'self'; connect-src 'self' developer.allizom.org "
        "bcd.developer.allizom.org bcd.developer.mozilla.org updates.developer.allizom.org "
        "updates.developer.mozilla.org https://*.google-analytics.com https://*.analytics.google.com "
        "https://*.googletagmanager.com https://incoming.telemetry.mozilla.org "
        "https://observatory-api.mdn.allizom.net https://observatory-api.mdn.mozilla.net "
        "https://api.github.com/search/issues stats.g.doubleclick.net https://api.stripe.com; font-src "
        "'self'; frame-src 'self' mdn.github.io *.mdnplay.dev *.mdnyalp.dev *.play.test.mdn.allizom.net "
        "https://v2.scrimba.com https://scrimba.com jsfiddle.net www.youtube-nocookie.com codepen.io "
        "survey.alchemer.com https://js.stripe.com; img-src 'self' data: *.githubusercontent.com "
        "*.googleusercontent.com *.gravatar.com mozillausercontent.com firefoxusercontent.com "
        "profile.stage.mozaws.net profile.accounts.firefox.com developer.mozilla.org mdn.dev wikipedia.org "
        "upload.wikimedia.org https://mdn.github.io/shared-assets/ https://mdn.dev/ "
        "https://*.google-analytics.com https://*.googletagmanager.com www.gstatic.com; manifest-src "
        "'self'; media-src 'self' archive.org videos.cdn.mozilla.net https://mdn.github.io/shared-assets/; "
        "child-src 'self'; worker-src 'self';"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "cache-control": "public, max-age=3600",
    "strict-transport-security": "max-age=63072000",
}
# test/fixtures/mozilla-org.json (captured 2026-01-12).
_MOZILLA_CSP = (
    "frame-src 'self' accounts.firefox.com js.stripe.com www.google-analytics.com www.googletagmanager.com "
    "www.youtube.com; script-src 'self' 'unsafe-eval' 'unsafe-inline' cdn.transcend.io js.stripe.com "
    "s.ytimg.com tagmanager.google.com transcend-cdn.com www.google-analytics.com www.googletagmanager.com "
    "www.mozilla.org www.youtube.com; form-action 'self' "
    "https://abdri3ttkb.execute-api.us-east-2.amazonaws.com https://accounts.firefox.com/ "
    "https://basket.mozilla.org; font-src 'self' www.mozilla.org; style-src 'self' 'unsafe-inline' "
    "cdn.transcend.io transcend-cdn.com www.mozilla.org; default-src 'self' *.mozilla.org; frame-ancestors "
    "'none'; connect-src 'self' cdn.transcend.io https://abdri3ttkb.execute-api.us-east-2.amazonaws.com "
    "https://accounts.firefox.com/ https://basket.mozilla.org o1069899.ingest.sentry.io o1069899.sentry.io "
    "region1.google-analytics.com telemetry.transcend.io telemetry.us.transcend.io transcend-cdn.com "
    "www.google-analytics.com www.googletagmanager.com www.mozilla.org/submit/bedrock/; "
    "upgrade-insecure-requests; img-src 'self' blog.mozilla.org data: images.ctfassets.net "
    "www.google-analytics.com www.googletagmanager.com www.mozilla.org; object-src 'none'; media-src "
    "'self' assets.mozilla.net videos.cdn.mozilla.net www.mozilla.org; base-uri 'none'"
)
MOZILLA_ORG = {
    "x-content-type-options": "nosniff",
    "content-security-policy": _MOZILLA_CSP,
    "content-type": "text/html; charset=utf-8",
    "cross-origin-opener-policy": "same-origin",
    "strict-transport-security": "max-age=31536000",
    "referrer-policy": "strict-origin-when-cross-origin",
    "content-security-policy-report-only": _MOZILLA_CSP,
    "cache-control": "max-age=600",
    "x-frame-options": "DENY",
}


def test_observatory_mozilla_org_fixture_scores_as_the_scanner_test_asserts() -> None:
    """scanner.test.js: grade A+, score 110, 0 of 12 tests failed (algorithm 6)."""
    chain = (Hop("http://observatory.mozilla.org/", 301), Hop("https://observatory.mozilla.org/", 200))
    scored = _score({}, OBSERVATORY_MOZILLA_ORG, redirect_chain=chain)
    assert (scored.score, scored.grade, len(scored.failed), len(scored.tests)) == (110, "A+", 0, 12)
    assert scored.test("x-frame-options").modifier == 5  # algorithm 5 (PR 332): DENY earns a bonus


def test_mozilla_org_fixture_scores_as_the_scanner_test_asserts() -> None:
    """scanner.test.js: grade B, score 75, 2 failed (CSP unsafe-inline -20; SRI, from its HTML, -5)."""
    scored = _score({}, MOZILLA_ORG, sri="sri-not-implemented-but-external-scripts-loaded-securely")
    assert (scored.score, scored.grade) == (75, "B")
    assert {t.result for t in scored.failed} == {
        "csp-implemented-with-unsafe-inline",
        "sri-not-implemented-but-external-scripts-loaded-securely",
    }
    assert scored.test("x-frame-options").result == "x-frame-options-implemented-via-csp"


# test/csp.test.js, every value of its result lists (an https site).
CSP_RESULTS = {
    "csp-header-invalid": [
        "  ",
        "",
        "default-src 'none'; default-src 'none'",
        "default-src 'none'; img-src 'self'; default-src 'none'",
        "default-src 'none'; script-src 'strict-dynamic'",
        "defa",
    ],
    "csp-implemented-with-unsafe-inline": [
        "default-src 'none'; script-src https://*",
        "default-src 'none'; script-src 'unsafe-inline'",
        "script-src 'unsafe-inline'",
        "script-src data:",
        "script-src http:",
        "script-src ftp:",
        "default-src 'unsafe-inline'",
        "default-src 'UNSAFE-INLINE'",
        "upgrade-insecure-requests",
        "script-src 'none'",
        "script-src https:",
        "script-src https://mozilla.org https:",
        "default-src https://mozilla.org https:",
        "default-src 'none'; script-src *",
        "default-src *; script-src *; object-src 'none'",
        "default-src 'none'; script-src 'none'; object-src *",
        "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'",
        "default-src 'none'; script-src 'unsafe-inline' http:",
        "object-src https:; script-src 'none'",
        "frame-anchestors 'none'",
    ],
    "csp-implemented-with-insecure-scheme": [
        "default-src http://mozilla.org",
        "default-src 'none'; script-src http://mozilla.org",
        "default-src 'none'; script-src ftp://mozilla.org",
    ],
    "csp-implemented-with-insecure-scheme-in-passive-content-only": [
        "default-src 'none'; img-src http://mozilla.org",
        "default-src 'self'; img-src ftp:",
        "default-src 'self'; img-src http:",
        "default-src 'none'; img-src https:; media-src http://mozilla.org",
        "default-src 'none'; img-src http: https:; script-src 'self'; style-src 'self'",
        "default-src 'none'; img-src 'none'; media-src http:; script-src 'self'; style-src 'self'",
        "default-src 'none'; img-src 'none'; media-src http:; script-src 'self'; style-src 'unsafe-inline'",
    ],
    "csp-implemented-with-unsafe-eval": ["default-src 'none'; script-src 'unsafe-eval'"],
    "csp-implemented-with-unsafe-inline-in-style-src-only": [
        "object-src 'none'; script-src 'none'; style-src 'unsafe-inline'",
        "default-src 'none'; script-src https://mozilla.org; style-src 'unsafe-inline'",
        "default-src 'unsafe-inline'; script-src https://mozilla.org",
        "default-src 'none';;; ;;;style-src 'self' 'unsafe-inline'",
        "default-src 'none'; style-src data:",
        "default-src 'none'; style-src *",
        "default-src 'none'; style-src https:",
        "default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'sha256-hqBEA/HXB3aJU2FgOnYN8rkAgEVgyfi3Vs1j2/XMPBB=' 'unsafe-inline'",
    ],
    "csp-implemented-with-no-unsafe": [
        "default-src https://mozilla.org",
        "default-src https://mozilla.org;;; ;;;script-src 'none'",
        "object-src 'none'; script-src https://mozilla.org; style-src https://mozilla.org; "
        "upgrade-insecure-requests;",
        "object-src 'none'; script-src 'strict-dynamic' 'nonce-abc' 'unsafe-inline'; style-src 'none'",
        "object-src 'none'; style-src 'self';"
        "script-src 'sha256-hqBEA/HXB3aJU2FgOnYN8rkAgEVgyfi3Vs1j2/XMPBA='",
        "object-src 'none'; style-src 'self'; script-src 'unsafe-inline' "
        "'sha256-hqBEA/HXB3aJU2FgOnYN8rkAgEVgyfi3Vs1j2/XMPBA=''sha256-hqBEA/HXB3aJU2FgOnYN8rkAgEVgyfi3Vs1j2/XMPBB='",
        "object-src 'none'; script-src 'unsafe-inline' 'nonce-abc123' 'unsafe-inline'; style-src 'none'",
        "default-src https://mozilla.org; style-src 'unsafe-inline' 'nonce-abc123' 'unsafe-inline'",
        "default-src https://mozilla.org; style-src 'unsafe-inline' "
        "'sha256-hqBEA/HXB3aJU2FgOnYN8rkAgEVgyfi3Vs1j2/XMPBB=' 'unsafe-inline'",
    ],
    "csp-implemented-with-no-unsafe-default-src-none": [
        "default-src",
        "default-src 'none'; script-src 'strict-dynamic' 'nonce-abc123' 'unsafe-inline'",
        "default-src 'none'; script-src https://mozilla.org; style-src https://mozilla.org; "
        "upgrade-insecure-requests;",
        "default-src 'none'; object-src https://mozilla.org",
        "default-src 'none'; script-src 'strict-dynamic' 'nonce-abc123'",
        "default-src 'none'; script-src 'strict-dynamic' 'sha256-abc123'",
        "default-src 'none'; script-src 'strict-dynamic' 'sha256-abc123' https://*",
        "default-src 'none'; script-src 'strict-dynamic' 'sha256-abc123' 'unsafe-inline'",
    ],
}


@pytest.mark.parametrize(
    ("value", "result"), [(v, r) for r, values in CSP_RESULTS.items() for v in values], ids=repr
)
def test_csp_values_of_the_observatory_test_suite(value: str, result: str) -> None:
    assert _score(EMPTY, {"content-security-policy": value}).test("content-security-policy").result == result


def test_csp_policies_intersect() -> None:
    """csp.test.js: a source counts only when every policy allows it."""
    csp, _ = parse_csp(
        [
            "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'",
            "default-src 'none'; style-src 'self'",
            "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'",
        ]
    )
    assert csp == {"default-src": {"'none'"}, "script-src": {"'self'"}, "style-src": {"'self'"}}


def test_a_repeated_report_directive_is_allowed_but_loses_the_bonus() -> None:
    scored = _score(HARDENED, {"content-security-policy": "default-src 'none'; report-uri /a; report-uri /b"})
    assert scored.test("content-security-policy").result == "csp-implemented-but-duplicate-directives"
    assert scored.test("content-security-policy").passed
    assert scored.score == 110


def test_insecure_sources_matter_only_on_https() -> None:
    result = _score(EMPTY, {"content-security-policy": "default-src http://mozilla.org"}, scheme="http")
    assert result.test("content-security-policy").result == "csp-implemented-with-no-unsafe"


@pytest.mark.parametrize(
    ("score", "grade"),
    [(135, "A+"), (100, "A+"), (99, "A"), (90, "A"), (89, "A-"), (85, "A-"), (84, "B+"), (80, "B+"),
     (79, "B"), (70, "B"), (69, "B-"), (65, "B-"), (64, "C+"), (60, "C+"), (59, "C"), (50, "C"),
     (49, "C-"), (45, "C-"), (44, "D+"), (40, "D+"), (39, "D"), (30, "D"), (29, "D-"), (25, "D-"),
     (24, "F"), (0, "F")],
)  # fmt: skip
def test_grade_chart(score: int, grade: str) -> None:
    assert grade_for(score) == grade


def test_deprecated_tests_are_not_scored() -> None:
    assert not any(r.startswith(("x-xss-protection", "contribute", "hpkp")) for r in h.MODIFIERS)
    assert max(h.MODIFIERS.values()) == 10
    assert min(h.MODIFIERS.values()) == -50


def test_sri_is_not_evaluated_and_scores_nothing() -> None:
    html = _score(EMPTY, {}).test("subresource-integrity")
    json = _score(EMPTY, {"content-type": "application/json"}).test("subresource-integrity")
    assert (html.result, html.modifier, html.passed) == ("sri-not-evaluated", 0, True)
    assert (json.result, json.modifier) == ("sri-not-implemented-response-not-html", 0)
    with pytest.raises(ValueError, match="unknown Subresource Integrity result"):
        _score(EMPTY, {}, sri="csp-not-implemented")


def test_an_https_url_is_not_judged_on_redirection() -> None:
    assert _score(EMPTY, {}, redirect_chain=None).test("redirection").result == "redirection-not-probed"


@pytest.mark.parametrize(
    ("header", "cookie"),
    [
        ("sid=1; Secure; HttpOnly; SameSite=Lax", Cookie("sid", True, True, "lax")),
        ("a=b; secure; SameSite", Cookie("a", True, False, "")),
        (" x = y ;HTTPONLY", Cookie("x", False, True, None)),
        ("novalue", None),
        ("=nameless", None),
    ],
)
def test_cookie_parse(header: str, cookie: Cookie | None) -> None:
    assert Cookie.parse(header) == cookie


# -- rules -------------------------------------------------------------------------------------------------

URL = "https://shop.example/"
GOOD = {
    "content-type": "text/html",
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "content-security-policy": "default-src 'self'; object-src 'none'; frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "permissions-policy": "camera=()",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-embedder-policy": "require-corp",
    "cross-origin-resource-policy": "same-origin",
    "cache-control": "no-store",
}


def _facts(headers: dict[str, Any], url: str = URL, chain: tuple[Hop, ...] | None = None) -> ResponseFacts:
    lists = _headers({}, headers)
    cookies = tuple(c for line in lists.get("set-cookie", []) if (c := Cookie.parse(line)))
    final = chain[-1].url if chain else url
    return ResponseFacts(url, final, 200, lists, cookies, chain or (Hop(url, 200),))


def _rules(headers: dict[str, Any], policy: HeaderPolicy | None = None, **kw: Any) -> dict[str, Finding]:
    facts = _facts(headers, **kw)
    found = rules(h.score_response(facts), facts, policy or HeaderPolicy())
    return {f.rule: f for f in found}


def test_a_good_response_has_no_finding_under_every_profile() -> None:
    for profile in ("owasp", "observatory", "none"):
        assert _rules(GOOD, HeaderPolicy(profile=profile)) == {}


def test_a_required_header_missing_or_different_names_expected_and_seen() -> None:
    policy = HeaderPolicy(require={"X-Frame-Options": "SAMEORIGIN", "X-XSS-Protection": "0"})
    found = rules(h.score_response(f := _facts(GOOD)), f, policy)
    mismatches = {x.location: x for x in found if x.rule == "headers.required-mismatch"}
    assert set(mismatches) == {f"{URL} X-Frame-Options", f"{URL} X-XSS-Protection"}
    xfo = mismatches[f"{URL} X-Frame-Options"]
    assert xfo.severity == Severity.HIGH
    assert xfo.message == 'X-Frame-Options must be "SAMEORIGIN" and is "DENY"'
    assert xfo.evidence == "x-frame-options: DENY"
    assert xfo.fix == 'add_header X-Frame-Options "SAMEORIGIN" always;'
    assert "is absent" in mismatches[f"{URL} X-XSS-Protection"].message
    assert len({x.key for x in found}) == len(found)


def test_required_values_compare_case_insensitively_and_apply_under_profile_none() -> None:
    policy = HeaderPolicy(profile="none", require={"X-Frame-Options": "deny"})
    assert _rules(GOOD, policy) == {}
    assert set(_rules(EMPTY, policy)) == {"headers.required-mismatch"}


def test_the_owasp_profile_wants_what_the_observatory_lets_go_missing() -> None:
    bare = {"content-type": "text/html", "set-cookie": "pref=1; Secure; SameSite=Lax"}
    owasp = set(_rules(bare))
    observatory = set(_rules(bare, HeaderPolicy(profile="observatory")))
    assert observatory == {
        "headers.missing-content-security-policy",
        "headers.missing-strict-transport-security",
        "headers.missing-x-content-type-options",
        "headers.missing-x-frame-options",
    }
    assert owasp - observatory == {
        "headers.missing-referrer-policy",
        "headers.missing-permissions-policy",
        "headers.missing-cross-origin-opener-policy",
        "headers.missing-cross-origin-embedder-policy",
        "headers.missing-cross-origin-resource-policy",
        "headers.cache-control-sensitive",
    }


def test_frame_ancestors_stands_in_for_x_frame_options() -> None:
    assert "headers.missing-x-frame-options" not in _rules({**GOOD, "x-frame-options": []})
    no_frame_ancestors = {**GOOD, "x-frame-options": [], "content-security-policy": "default-src 'self'"}
    assert "headers.missing-x-frame-options" in _rules(no_frame_ancestors)


def test_cookie_flags() -> None:
    found = _rules(
        {**GOOD, "set-cookie": ["sessionid=1; SameSite=Lax", "theme=dark; Secure; SameSite=Bogus"]}
    )
    assert found["headers.cookie-insecure"].severity == Severity.HIGH  # a session cookie among them
    assert found["headers.cookie-insecure"].evidence == "cookies: sessionid"
    assert found["headers.cookie-no-httponly"].evidence == "cookies: sessionid"
    assert found["headers.cookie-samesite"].evidence == "cookies: theme (SameSite=bogus)"
    good = _rules({**GOOD, "set-cookie": "__Host-sid=1; Secure; HttpOnly; SameSite=Strict; Path=/"})
    assert not {"headers.cookie-insecure", "headers.cookie-no-httponly", "headers.cookie-samesite"} & set(
        good
    )


def test_an_http_url_that_stays_on_http_is_a_finding() -> None:
    url = "http://shop.example/"
    found = _rules(GOOD, url=url, chain=(Hop(url, 200),))
    assert found["headers.no-https-redirect"].severity == Severity.HIGH
    assert "headers.missing-strict-transport-security" not in found  # one finding for one cause
    redirected = _rules(GOOD, url=url, chain=(Hop(url, 301), Hop(URL, 200)))
    assert "headers.no-https-redirect" not in redirected


def test_min_grade() -> None:
    policy = HeaderPolicy(profile="none", min_grade="B")
    found = _rules({**GOOD, "x-frame-options": "ALLOWALL", "content-security-policy": []}, policy)
    assert set(found) == {"headers.grade-below-minimum"}
    assert "csp-not-implemented (-25)" in found["headers.grade-below-minimum"].evidence
    assert _rules(GOOD, HeaderPolicy(profile="none", min_grade="A+")) == {}


def test_every_failing_finding_names_its_header_and_a_value_in_the_fix() -> None:
    bad = {"content-type": "text/html", "x-frame-options": "ALLOWALL", "x-content-type-options": "sniff",
           "strict-transport-security": "max-age=60", "referrer-policy": "unsafe-url"}  # fmt: skip
    for finding in _rules(bad).values():
        assert finding.area == "headers"
        if finding.fix.startswith("add_header "):
            name, value = finding.fix.removeprefix("add_header ").split(" ", 1)
            assert name.lower() in finding.rule or name.lower() in finding.evidence.lower(), finding
            assert value.startswith('"')
            assert value.endswith('" always;')


def test_public_surface() -> None:
    assert sorted(h.__all__) == sorted(
        ["ALGORITHM_VERSION", "CORS_ORIGIN", "GRADES", "MODIFIERS", "Cookie", "Hop", "ObservatoryResult",
         "ResponseFacts", "TestResult", "audit", "collect", "grade_for", "parse_csp", "rules",
         "score_headers", "score_response"]
    )  # fmt: skip
