"""HTTP response headers, audited: the HTTP Observatory's score and grade, the OWASP Secure Headers profile,
the standard's required values, cookie flags and the HTTP → HTTPS redirect.

``collect`` is the only I/O: one GET per URL with redirects followed by hand (every hop recorded) gives
``ResponseFacts``, or a ``Finding`` when the URL cannot be audited (unreachable, invalid certificate) — never
an exception. ``score_headers`` and ``rules`` are pure functions of those facts.

Scoring reproduces the MDN HTTP Observatory (mdn/mdn-http-observatory, algorithm version 6): twelve tests,
each giving one result with a modifier; the score starts at 100, penalties are taken first, bonuses are added
only when the penalised score is still 90 or more, and the grade comes from the score in steps of five.
Subresource Integrity needs the HTML and is not evaluated (modifier 0, as the Observatory scores non-HTML);
``<meta http-equiv>`` policies are not read either. See docs/audit-headers.md.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import ssl
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import aiohttp
import yarl

from siaga.domain.audit import Finding, Severity
from siaga.spec.security import HeaderPolicy

__all__ = [
    "ALGORITHM_VERSION",
    "CORS_ORIGIN",
    "GRADES",
    "MODIFIERS",
    "Cookie",
    "Hop",
    "ObservatoryResult",
    "ResponseFacts",
    "TestResult",
    "audit",
    "collect",
    "grade_for",
    "parse_csp",
    "rules",
    "score_headers",
    "score_response",
]

ALGORITHM_VERSION = 6
MINIMUM_SCORE_FOR_EXTRA_CREDIT = 90  # [charts] MINIMUM_SCORE_FOR_EXTRA_CREDIT
CORS_ORIGIN = "https://audit.siaga.invalid"  # sent as Origin: a reflected value with credentials is the flaw

# Result → modifier. Sources: [charts] mdn/mdn-http-observatory src/grader/charts.js SCORE_TABLE; [docs] the
# MDN page "HTTP Observatory: Tests & Scoring"; [#332] mdn-http-observatory PR 332 (algorithm 5: XFO DENY /
# SAMEORIGIN re-scored 0 → +5, the docs page still says 0); [#498] PR 498 (algorithm 6: COOP and COEP, invalid
# header -5 "for consistency", kept in review); [#410] issue 410 (COOP + COEP add at most 20). [siaga] marks
# results of our own where we do not evaluate a test; they score 0 and pass.
MODIFIERS: Mapping[str, int] = {
    # content-security-policy                                                 [charts, docs]
    "csp-implemented-with-no-unsafe-default-src-none": 10,
    "csp-implemented-with-no-unsafe": 5,
    "csp-implemented-with-unsafe-inline-in-style-src-only": 0,
    "csp-implemented-with-insecure-scheme-in-passive-content-only": -10,
    "csp-implemented-with-unsafe-eval": -10,
    "csp-implemented-with-unsafe-inline": -20,
    "csp-implemented-with-insecure-scheme": -20,
    "csp-header-invalid": -25,
    "csp-not-implemented": -25,
    "csp-not-implemented-but-reporting-enabled": -25,  # [charts] only
    "csp-implemented-but-duplicate-directives": 0,  # [charts] only
    # cookies                                                                 [charts, docs]
    "cookies-secure-with-httponly-sessions-and-samesite": 5,
    "cookies-secure-with-httponly-sessions": 0,
    "cookies-not-found": 0,
    "cookies-without-secure-flag-but-protected-by-hsts": -5,
    "cookies-session-without-secure-flag-but-protected-by-hsts": -10,
    "cookies-without-secure-flag": -20,
    "cookies-samesite-flag-invalid": -20,
    "cookies-anticsrf-without-samesite-flag": -20,
    "cookies-session-without-httponly-flag": -30,
    "cookies-session-without-secure-flag": -40,
    # cross-origin-resource-sharing                                           [charts, docs]
    "cross-origin-resource-sharing-not-implemented": 0,
    "cross-origin-resource-sharing-implemented-with-public-access": 0,
    "cross-origin-resource-sharing-implemented-with-restricted-access": 0,
    "cross-origin-resource-sharing-implemented-with-universal-access": -50,
    # redirection                                                             [charts, docs]
    "redirection-all-redirects-preloaded": 0,
    "redirection-to-https": 0,
    "redirection-not-needed-no-http": 0,
    "redirection-off-host-from-http": -5,
    "redirection-not-to-https-on-initial-redirection": -10,
    "redirection-not-to-https": -20,
    "redirection-missing": -20,
    "redirection-invalid-cert": -20,
    "redirection-not-probed": 0,  # [siaga] an https:// URL: its http:// twin was not requested
    # referrer-policy                                                         [charts, docs]
    "referrer-policy-private": 5,
    "referrer-policy-not-implemented": 0,
    "referrer-policy-unsafe": -5,
    "referrer-policy-header-invalid": -5,
    # strict-transport-security                                               [charts, docs]
    "hsts-preloaded": 5,
    "hsts-implemented-max-age-at-least-six-months": 0,
    "hsts-implemented-max-age-less-than-six-months": -10,
    "hsts-not-implemented": -20,
    "hsts-header-invalid": -20,
    "hsts-not-implemented-no-https": -20,
    "hsts-invalid-cert": -20,
    # subresource-integrity                                                   [charts, docs]
    "sri-implemented-and-all-scripts-loaded-securely": 5,
    "sri-implemented-and-external-scripts-loaded-securely": 5,
    "sri-not-implemented-response-not-html": 0,
    "sri-not-implemented-but-no-scripts-loaded": 0,
    "sri-not-implemented-but-all-scripts-loaded-from-secure-origin": 0,
    "sri-not-implemented-but-external-scripts-loaded-securely": -5,
    "sri-implemented-but-external-scripts-not-loaded-securely": -20,
    "sri-not-implemented-and-external-scripts-not-loaded-securely": -50,
    "sri-not-evaluated": 0,  # [siaga] an HTML response: its <script> tags are not parsed
    # x-content-type-options                                                  [charts, docs]
    "x-content-type-options-nosniff": 0,
    "x-content-type-options-not-implemented": -5,
    "x-content-type-options-header-invalid": -5,
    # x-frame-options                                              [charts, docs; #332 for sameorigin-or-deny]
    "x-frame-options-implemented-via-csp": 5,
    "x-frame-options-sameorigin-or-deny": 5,
    "x-frame-options-allow-from-origin": 0,
    "x-frame-options-not-implemented": -20,
    "x-frame-options-header-invalid": -20,
    # cross-origin-resource-policy                                            [charts, docs]
    "corp-implemented-with-same-origin": 10,
    "corp-implemented-with-same-site": 10,
    "corp-implemented-with-cross-origin": 0,
    "corp-not-implemented": 0,
    "corp-header-invalid": -5,
    # cross-origin-opener-policy                                              [#498 table]
    "coop-implemented-with-same-origin": 10,
    "coop-implemented-with-same-origin-allow-popups": 10,
    "coop-implemented-with-noopener-allow-popups": 10,
    "coop-implemented-with-unsafe-none": 0,
    "coop-not-implemented": 0,
    "coop-header-invalid": -5,  # [#498 review]
    # cross-origin-embedder-policy            [#498: not-implemented 0, require-corp +10 (#410), invalid -5]
    "coep-implemented-with-require-corp": 10,
    "coep-implemented-with-credentialless": 10,  # as require-corp: both isolate (cut in our copy of #498)
    "coep-implemented-with-unsafe-none": 0,  # as COOP's unsafe-none (cut in our copy of #498)
    "coep-not-implemented": 0,
    "coep-header-invalid": -5,
}

# Lowest score of each grade, best first ([charts] GRADE_CHART, [docs] grading chart; no E grade).
GRADE_FLOORS: tuple[tuple[int, str], ...] = (
    (100, "A+"), (90, "A"), (85, "A-"), (80, "B+"), (70, "B"), (65, "B-"), (60, "C+"),
    (50, "C"), (45, "C-"), (40, "D+"), (30, "D"), (25, "D-"), (0, "F"),
)  # fmt: skip
GRADES = tuple(g for _, g in GRADE_FLOORS)


def grade_for(score: int) -> str:
    """The Observatory grade of a (non-negative) score."""
    return next(g for floor, g in GRADE_FLOORS if score >= floor)


@dataclass(frozen=True, slots=True)
class Hop:
    """One request of a redirect chain: the URL asked and the status it answered."""

    url: str
    status: int


@dataclass(frozen=True, slots=True)
class Cookie:
    """A ``Set-Cookie`` as the browser keeps it: its name and the flags that protect it."""

    name: str
    secure: bool = False
    httponly: bool = False
    samesite: str | None = None  # the attribute's value as sent, lower-case ("" for a bare SameSite)

    @classmethod
    def parse(cls, header: str) -> Cookie | None:
        """A ``Set-Cookie`` value; None when it names no cookie (no ``name=``)."""
        pair, *attributes = header.split(";")
        name, equals, _ = pair.partition("=")
        if not equals or not name.strip():
            return None
        secure = httponly = False
        samesite = None
        for attribute in attributes:
            key, _, value = attribute.partition("=")
            key = key.strip().lower()
            if key == "secure":
                secure = True
            elif key == "httponly":
                httponly = True
            elif key == "samesite":
                samesite = value.strip().lower()
        return cls(name.strip(), secure, httponly, samesite)

    @property
    def samesite_valid(self) -> str | None:
        """SameSite as the browser applies it: strict, lax or none, else absent."""
        return self.samesite if self.samesite in ("strict", "lax", "none") else None


@dataclass(frozen=True, slots=True)
class TestResult:
    """One Observatory test: its name, the result it gave, that result's modifier, and whether it passed."""

    name: str
    result: str
    modifier: int
    passed: bool


@dataclass(frozen=True, slots=True)
class ObservatoryResult:
    score: int
    grade: str
    tests: tuple[TestResult, ...]

    def test(self, name: str) -> TestResult:
        return next(t for t in self.tests if t.name == name)

    @property
    def failed(self) -> tuple[TestResult, ...]:
        return tuple(t for t in self.tests if not t.passed)


@dataclass(frozen=True, slots=True)
class ResponseFacts:
    """What ``collect`` saw for one URL: the final response's headers and every cookie and hop on the way."""

    url: str
    final_url: str
    status: int
    headers: Mapping[str, list[str]]  # lower-case names, every value in arrival order
    cookies: tuple[Cookie, ...]
    chain: tuple[Hop, ...]  # the audited URL first, the final response last

    @property
    def scheme(self) -> str:
        return urlsplit(self.final_url).scheme

    @property
    def redirect_chain(self) -> tuple[Hop, ...] | None:
        """The chain from an http:// URL (the Redirection test's input); None for an https:// URL."""
        return self.chain if urlsplit(self.url).scheme == "http" else None


# -- scoring ---------------------------------------------------------------------------------------------

_DANGEROUSLY_BROAD = frozenset(
    {"ftp:", "http:", "https:", "*", "http://*", "http://*.*", "https://*", "https://*.*"}
)
_UNSAFE_INLINE = frozenset({"'unsafe-inline'", "data:"})
_BROAD_OR_INLINE = _DANGEROUSLY_BROAD | _UNSAFE_INLINE
_PASSIVE = ("img-src", "media-src")
_NONCE_OR_HASH = ("'sha256-", "'sha384-", "'sha512-", "'nonce-")
_REPEATABLE = frozenset({"report-uri", "report-to"})
_SHORTEST_POLICY = len("img-src") - 1
_CSP_PASSES = frozenset(
    {
        "csp-implemented-with-no-unsafe",
        "csp-implemented-with-no-unsafe-default-src-none",
        "csp-implemented-with-unsafe-inline-in-style-src-only",
        "csp-implemented-with-insecure-scheme-in-passive-content-only",
    }
)
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_SIX_MONTHS = 15_552_000  # the Observatory's threshold: 180 days, a little under the 15768000 it prints
_REFERRER_PRIVATE = ("no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin")
_REFERRER_UNSAFE = ("origin", "origin-when-cross-origin", "unsafe-url", "no-referrer-when-downgrade")
_IGNORED_COOKIES = frozenset({"heroku-session-affinity"})  # mozilla/http-observatory issue 282
# Cookie results from best to worst: a worse one replaces a better one.
_COOKIE_ORDER = (
    "cookies-without-secure-flag-but-protected-by-hsts",
    "cookies-without-secure-flag",
    "cookies-session-without-secure-flag-but-protected-by-hsts",
    "cookies-samesite-flag-invalid",
    "cookies-anticsrf-without-samesite-flag",
    "cookies-session-without-httponly-flag",
    "cookies-session-without-secure-flag",
)
_COOKIE_PASSES = frozenset(
    {"cookies-secure-with-httponly-sessions", "cookies-secure-with-httponly-sessions-and-samesite"}
)
_TCHAR = r"A-Za-z0-9!#$%&'*+\-.^_`|~"
_SF_TOKEN = rf"[A-Za-z*][{_TCHAR}:/]*"
_SF_STRING = r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*"'
_SF_BARE = rf"(?:-?\d{{1,15}}(?:\.\d{{1,3}})?|{_SF_STRING}|{_SF_TOKEN}|:[A-Za-z0-9+/=]*:|\?[01])"
_SF_ITEM = re.compile(rf"({_SF_TOKEN})(?:;\x20*[a-z*][a-z0-9_\-.*]*(?:={_SF_BARE})?)*")


@dataclass(slots=True)
class _Source:
    source: str
    policy: int
    keep: bool


def parse_csp(policies: Sequence[str]) -> tuple[dict[str, set[str]], bool]:
    """Given policies enforced together, the directives → sources the Observatory scores (a source counts
    only when every policy naming the directive allows it) and whether a report directive was repeated.

    Raises ValueError for what the Observatory calls an invalid policy (too short, a repeated directive)."""
    cleaned = [p.replace("\r", "").replace("\n", "").strip() for p in policies]
    for policy in cleaned:
        if len(policy) < _SHORTEST_POLICY:
            raise ValueError(f"invalid policy: {policy!r}")
    csp: dict[str, list[_Source]] = {}
    repeated = False
    for index, policy in enumerate(cleaned):
        seen: set[str] = set()
        for entry in policy.split(";"):
            words = entry.split()
            if not words:
                continue
            directive = words[0].lower()
            if directive in seen:
                if directive not in _REPEATABLE:
                    raise ValueError(f"directive {directive} repeated in policy {index + 1}")
                repeated = True
            seen.add(directive)
            first = index == 0
            values = [_Source(word.lower(), index, first) for word in words[1:]]
            if not values and directive.endswith("-src"):
                values = [_Source("'none'", index, first)]
            combined = sorted(values if first else [*csp.get(directive, []), *values], key=lambda s: s.source)
            for prev, cur in itertools.pairwise(combined):
                if cur.policy == prev.policy and cur.source.startswith(prev.source):
                    cur.keep = False  # a longer source under a shorter one of the same policy adds nothing
                if cur.policy != prev.policy and _path_part_match(prev.source, cur.source):
                    cur.keep = True  # allowed by both policies
            csp[directive] = [s for s in combined if s.keep]
            if first and len(cleaned) > 1:
                for source in csp[directive]:
                    source.keep = False  # from now on a source stays only if a later policy allows it too
    return {d: {s.source for s in sources} or {"'none'"} for d, sources in csp.items()}, repeated


def _path_part_match(a: str, b: str) -> bool:
    if not a or (a == "/" and not b):
        return True
    exact = not a.endswith("/")
    parts_a, parts_b = a.split("/"), b.split("/")
    if len(parts_a) > len(parts_b) or (exact and len(parts_a) != len(parts_b)):
        return False
    if not exact:
        parts_a.pop()
    return all(unquote(x) == unquote(y) for x, y in zip(parts_a, parts_b, strict=False))


def _field(headers: Mapping[str, list[str]], name: str) -> str | None:
    """A header as one field, its lines joined as an HTTP client joins them (None when absent)."""
    values = headers.get(name)
    return ", ".join(values) if values else None


def _test(name: str, result: str, passed: bool) -> TestResult:
    return TestResult(name, result, MODIFIERS[result], passed)


def _csp_test(headers: Mapping[str, list[str]], scheme: str) -> tuple[TestResult, dict[str, set[str]] | None]:
    name = "content-security-policy"
    policies = [p for value in headers.get("content-security-policy", []) for p in value.split(",")]
    try:
        csp, repeated = parse_csp(policies)
    except ValueError:
        return _test(name, "csp-header-invalid", False), None
    if not csp:
        absent = "csp-not-implemented-but-reporting-enabled"
        if not headers.get("content-security-policy-report-only"):
            absent = "csp-not-implemented"
        return _test(name, absent, False), None

    def sources(*directives: str) -> set[str]:
        # The same set object as the directive's (as in the Observatory): edits below show through.
        return next((csp[d] for d in directives if d in csp), {"*"})

    object_src, script_src, style_src = (
        sources("object-src", "default-src"),
        sources("script-src", "default-src"),
        sources("style-src", "default-src"),
    )
    for source_list in (script_src, style_src):
        if any(s.startswith(_NONCE_OR_HASH) for s in source_list):
            source_list.discard("'unsafe-inline'")  # ignored by browsers once a nonce or hash is present
    result: str | None = None
    if "'strict-dynamic'" in script_src:
        if any(s.startswith(_NONCE_OR_HASH) for s in script_src):
            for source in list(script_src):
                if source.startswith(tuple(_DANGEROUSLY_BROAD)) or source in ("'self'", "'unsafe-inline'"):
                    script_src.discard(source)
        else:
            result = "csp-header-invalid"
    active = [s for d, srcs in csp.items() if d not in _PASSIVE and d != "script-src" for s in srcs]
    active += script_src
    passive = [s for d in _PASSIVE for s in csp.get(d) or csp.get("default-src") or ()]
    https = scheme == "https"
    insecure = ("http:", "ftp:")
    checks = (
        ("unsafe-inline", bool(script_src & _BROAD_OR_INLINE or object_src & _DANGEROUSLY_BROAD)),
        ("insecure-scheme", https and any(s.startswith(insecure) for s in active)),
        ("unsafe-eval", "'unsafe-eval'" in script_src | style_src),
        ("insecure-scheme-in-passive-content-only", https and any(s.startswith(insecure) for s in passive)),
        ("unsafe-inline-in-style-src-only", bool(style_src & _BROAD_OR_INLINE)),
        ("no-unsafe-default-src-none", csp.get("default-src") == {"'none'"}),
        ("no-unsafe", True),
    )
    result = result or next(f"csp-implemented-with-{r}" for r, hit in checks if hit)
    passed = result in _CSP_PASSES
    if passed and repeated:
        result = "csp-implemented-but-duplicate-directives"
    return _test(name, result, passed), csp


def _cookies_test(cookies: Sequence[Cookie], hsts: bool) -> TestResult:
    kept = {c.name: c for c in cookies if c.name not in _IGNORED_COOKIES}  # a later one replaces its name
    if not kept:
        return _test("cookies", "cookies-not-found", True)
    result: str | None = None

    def worse(new: str) -> None:
        nonlocal result
        if result is None or _COOKIE_ORDER.index(new) > _COOKIE_ORDER.index(result):
            result = new

    missing_samesite = False
    for cookie in kept.values():
        name = cookie.name.lower()
        session = "login" in name or "sess" in name
        samesite = cookie.samesite_valid
        if cookie.samesite is not None and samesite is None:
            worse("cookies-samesite-flag-invalid")
        if not cookie.secure and samesite == "none":
            worse("cookies-samesite-flag-invalid")
        if not cookie.secure:
            worse(
                "cookies-without-secure-flag-but-protected-by-hsts" if hsts else "cookies-without-secure-flag"
            )
        if "csrf" in name and samesite is None:
            worse("cookies-anticsrf-without-samesite-flag")
        if session and not cookie.secure:
            worse(
                "cookies-session-without-secure-flag-but-protected-by-hsts"
                if hsts
                else "cookies-session-without-secure-flag"
            )
        if session and not cookie.httponly:
            worse("cookies-session-without-httponly-flag")
        missing_samesite = missing_samesite or samesite is None
    if result is None:
        good = "cookies-secure-with-httponly-sessions"
        result = good if missing_samesite else "cookies-secure-with-httponly-sessions-and-samesite"
    return _test("cookies", result, result in _COOKIE_PASSES)


def _cors_test(headers: Mapping[str, list[str]], origin: str) -> TestResult:
    name = "cross-origin-resource-sharing"
    allowed = _field(headers, "access-control-allow-origin")
    if not allowed:
        return _test(name, "cross-origin-resource-sharing-not-implemented", True)
    credentials = (_field(headers, "access-control-allow-credentials") or "").strip().lower()
    if allowed[:256].strip().lower() == "*":
        return _test(name, "cross-origin-resource-sharing-implemented-with-public-access", True)
    if allowed == origin and credentials == "true":
        return _test(name, "cross-origin-resource-sharing-implemented-with-universal-access", False)
    return _test(name, "cross-origin-resource-sharing-implemented-with-restricted-access", True)


def _redirection_test(chain: Sequence[Hop] | None) -> TestResult:
    name = "redirection"
    if chain is None:
        return _test(name, "redirection-not-probed", True)
    if not chain:
        return _test(name, "redirection-not-needed-no-http", True)
    urls = [urlsplit(hop.url) for hop in chain]
    if len(urls) == 1:
        result = "redirection-missing"
    elif urls[-1].scheme != "https":
        result = "redirection-not-to-https"
    elif urls[1].scheme == "http":
        result = "redirection-not-to-https-on-initial-redirection"
    elif urls[0].scheme == "http" and urls[0].hostname != urls[1].hostname:
        result = "redirection-off-host-from-http"
    else:
        result = "redirection-to-https"
    return _test(name, result, result == "redirection-to-https")


def _referrer_test(headers: Mapping[str, list[str]]) -> TestResult:
    name = "referrer-policy"
    value = _field(headers, "referrer-policy")
    if value is None:
        return _test(name, "referrer-policy-not-implemented", True)
    known = [
        t
        for t in (p.strip().lower() for p in value.split(","))
        if t in (*_REFERRER_PRIVATE, *_REFERRER_UNSAFE)
    ]
    policy = known[-1] if known else ""  # the last policy a browser understands wins
    if policy in _REFERRER_PRIVATE:
        return _test(name, "referrer-policy-private", True)
    if policy in _REFERRER_UNSAFE:
        return _test(name, "referrer-policy-unsafe", False)
    return _test(name, "referrer-policy-header-invalid", False)


def _hsts_max_age(value: str) -> int | None:
    """max-age of a Strict-Transport-Security value; None when absent, not a number, or sent twice."""
    if "," in value:
        return None
    for parameter in (p.strip().lower() for p in value.split(";")):
        if parameter.startswith("max-age="):
            digits = parameter[8:128].strip().strip('"')
            return int(digits) if re.fullmatch(r"-?\d+", digits) else None
    return None


def _hsts_test(headers: Mapping[str, list[str]], scheme: str, preloaded: bool) -> TestResult:
    name = "strict-transport-security"
    if scheme != "https":
        return _test(name, "hsts-not-implemented-no-https", False)  # browsers ignore HSTS sent over http
    value = _field(headers, "strict-transport-security")
    if preloaded:
        result = "hsts-preloaded"
    elif value is None:
        result = "hsts-not-implemented"
    elif (max_age := _hsts_max_age(value[:1024])) is None:
        result = "hsts-header-invalid"
    else:
        six = max_age >= _SIX_MONTHS
        result = (
            "hsts-implemented-max-age-at-least-six-months"
            if six
            else "hsts-implemented-max-age-less-than-six-months"
        )
    return _test(name, result, result in ("hsts-preloaded", "hsts-implemented-max-age-at-least-six-months"))


def _sri_test(headers: Mapping[str, list[str]], sri: str | None) -> TestResult:
    name = "subresource-integrity"
    if sri is not None:
        if not sri.startswith("sri-") or sri not in MODIFIERS:
            raise ValueError(f"unknown Subresource Integrity result '{sri}'")
        return _test(name, sri, MODIFIERS[sri] >= 0)
    content_type = (_field(headers, "content-type") or "").split(";")[0].strip().lower()
    if content_type not in _HTML_TYPES:
        return _test(name, "sri-not-implemented-response-not-html", True)
    return _test(name, "sri-not-evaluated", True)


def _xcto_test(headers: Mapping[str, list[str]]) -> TestResult:
    name = "x-content-type-options"
    value = _field(headers, "x-content-type-options")
    if value is None:
        return _test(name, "x-content-type-options-not-implemented", False)
    if value[:256].strip().lower() == "nosniff":
        return _test(name, "x-content-type-options-nosniff", True)
    return _test(name, "x-content-type-options-header-invalid", False)


def _xfo_test(headers: Mapping[str, list[str]], csp: Mapping[str, set[str]] | None) -> TestResult:
    name = "x-frame-options"
    value = (_field(headers, "x-frame-options") or "")[:1024].strip().lower()
    if csp is not None and "frame-ancestors" in csp:
        result = "x-frame-options-implemented-via-csp"
    elif not value:
        result = "x-frame-options-not-implemented"
    elif value in ("deny", "sameorigin"):
        result = "x-frame-options-sameorigin-or-deny"
    elif value.startswith("allow-from"):
        result = "x-frame-options-allow-from-origin"
    else:
        result = "x-frame-options-header-invalid"
    return _test(
        name, result, result not in ("x-frame-options-not-implemented", "x-frame-options-header-invalid")
    )


def _corp_test(headers: Mapping[str, list[str]]) -> TestResult:
    name = "cross-origin-resource-policy"
    value = _field(headers, "cross-origin-resource-policy")
    if not value:
        return _test(name, "corp-not-implemented", True)
    result = {
        "same-site": "corp-implemented-with-same-site",
        "same-origin": "corp-implemented-with-same-origin",
        "cross-origin": "corp-implemented-with-cross-origin",
    }.get(value[:256].strip().lower(), "corp-header-invalid")
    return _test(name, result, result != "corp-header-invalid")


def _structured_token(value: str) -> str | None:
    """The token of a structured-field item (RFC 8941) with optional parameters; None when malformed."""
    match = _SF_ITEM.fullmatch(value.strip(" "))
    return match.group(1) if match else None


def _isolation_test(
    headers: Mapping[str, list[str]], name: str, prefix: str, values: Collection[str]
) -> TestResult:
    lines = headers.get(name, [])
    if not lines:
        return _test(name, f"{prefix}-not-implemented", True)
    token = _structured_token(lines[0][:1024]) if len(lines) == 1 else None
    if token not in values:
        return _test(name, f"{prefix}-header-invalid", False)
    return _test(name, f"{prefix}-implemented-with-{token}", True)


def score_headers(
    headers: Mapping[str, list[str]],
    cookies: Sequence[Cookie] | None = None,
    *,
    scheme: str,
    redirect_chain: Sequence[Hop] | None = None,
    hsts_preloaded: bool = False,
    sri: str | None = None,
    cors_origin: str = CORS_ORIGIN,
) -> ObservatoryResult:
    """The Observatory's score, grade and test results for one final response.

    ``headers`` by lower-case name; ``cookies`` default to the response's own ``set-cookie`` lines;
    ``scheme`` of the final URL; ``redirect_chain`` the hops from the site's http:// URL (None: not probed,
    empty: nothing answered over http); ``hsts_preloaded`` when the host is on the HSTS preload list (not
    shipped with siaga); ``sri`` an SRI result name from an HTML parser of your own; ``cors_origin`` the
    Origin the request carried."""
    if cookies is None:
        cookies = [c for line in headers.get("set-cookie", []) if (c := Cookie.parse(line))]
    csp, csp_map = _csp_test(headers, scheme)
    hsts = _hsts_test(headers, scheme, hsts_preloaded)
    tests = (
        csp,
        _cookies_test(cookies, hsts.passed),
        _cors_test(headers, cors_origin),
        _redirection_test(redirect_chain),
        _referrer_test(headers),
        hsts,
        _sri_test(headers, sri),
        _xcto_test(headers),
        _xfo_test(headers, csp_map),
        _corp_test(headers),
        _isolation_test(
            headers,
            "cross-origin-opener-policy",
            "coop",
            ("same-origin", "same-origin-allow-popups", "noopener-allow-popups", "unsafe-none"),
        ),
        _isolation_test(
            headers, "cross-origin-embedder-policy", "coep", ("require-corp", "credentialless", "unsafe-none")
        ),
    )
    penalised = 100 + sum(t.modifier for t in tests if t.modifier < 0)
    total = 100 + sum(t.modifier for t in tests)
    score = max(0, total if penalised >= MINIMUM_SCORE_FOR_EXTRA_CREDIT else penalised)
    return ObservatoryResult(score, grade_for(score), tests)


def score_response(facts: ResponseFacts, *, hsts_preloaded: bool = False) -> ObservatoryResult:
    """``score_headers`` over what ``collect`` saw (all cookies set along the redirect chain count)."""
    return score_headers(
        facts.headers,
        facts.cookies,
        scheme=facts.scheme,
        redirect_chain=facts.redirect_chain,
        hsts_preloaded=hsts_preloaded,
    )


# -- rules -----------------------------------------------------------------------------------------------

_CSP_VALUE = (
    "default-src 'self'; form-action 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'"
)
_HSTS_VALUE = "max-age=31536000; includeSubDomains"
_COOKIE_FIX = "Set-Cookie: name=value; Secure; HttpOnly; SameSite=Lax"


def _add_header(name: str, value: str) -> str:
    return f'add_header {name} "{value}" always;'


@dataclass(frozen=True, slots=True)
class _Rule:
    rule: str
    severity: Severity
    message: str
    fix: str


_LOW, _MEDIUM, _HIGH = Severity.LOW, Severity.MEDIUM, Severity.HIGH
_CSP = _add_header("Content-Security-Policy", _CSP_VALUE)
_HTTPS = "redirect to https on the same host first: return 301 https://$host$request_uri;"
_REFERRER = _add_header("Referrer-Policy", "strict-origin-when-cross-origin")
_HSTS = _add_header("Strict-Transport-Security", _HSTS_VALUE)
_CERT = "install a certificate from a trusted CA (e.g. Let's Encrypt) for every host of the chain"
# The rule a failing Observatory result becomes. Cookie results become the per-flag cookie rules instead, and
# hsts-not-implemented-no-https the redirect rule (HSTS cannot exist without https).
_FAILING_TABLE: tuple[tuple[str, str, Severity, str, str], ...] = (
    ("csp-not-implemented", "headers.missing-content-security-policy", _MEDIUM, "no Content-Security-Policy",
     _CSP),
    ("csp-not-implemented-but-reporting-enabled", "headers.csp-report-only", _MEDIUM,
     "Content-Security-Policy is report-only: nothing is enforced", _CSP),
    ("csp-header-invalid", "headers.csp-invalid", _MEDIUM, "Content-Security-Policy cannot be parsed (a "
     "repeated directive, 'strict-dynamic' without nonce or hash, a policy too short)", _CSP),
    ("csp-implemented-with-unsafe-inline", "headers.csp-unsafe-inline", _MEDIUM, "Content-Security-Policy "
     "allows inline script, data: or any host in script-src or object-src", _CSP),
    ("csp-implemented-with-insecure-scheme", "headers.csp-insecure-scheme", _MEDIUM,
     "Content-Security-Policy lets an https page load active content over http:", _CSP),
    ("csp-implemented-with-unsafe-eval", "headers.csp-unsafe-eval", _LOW, "Content-Security-Policy allows "
     "'unsafe-eval'", "remove eval() from the code, then 'unsafe-eval' from script-src and style-src"),
    ("cross-origin-resource-sharing-implemented-with-universal-access", "headers.cors-any-origin-with-"
     "credentials", _HIGH, "Access-Control-Allow-Origin echoes any Origin with credentials allowed: any "
     "site can read a signed-in user's data", "allow only a fixed list of origins (or '*' without "
     "Access-Control-Allow-Credentials)"),
    ("redirection-missing", "headers.no-https-redirect", _HIGH, "the http:// URL does not redirect to "
     "https", _HTTPS),
    ("redirection-not-to-https", "headers.no-https-redirect", _HIGH, "the http:// URL redirects, but never "
     "to https", _HTTPS),
    ("redirection-not-to-https-on-initial-redirection", "headers.redirect-via-http", _LOW,
     "the first redirect goes to another http:// URL", _HTTPS),
    ("redirection-off-host-from-http", "headers.redirect-off-host", _LOW,
     "the redirect to https changes host, so this host never gets HSTS", _HTTPS),
    ("redirection-invalid-cert", "headers.invalid-certificate", _HIGH, "a certificate of the redirect "
     "chain does not verify", _CERT),
    ("referrer-policy-unsafe", "headers.referrer-policy-unsafe", _LOW, "Referrer-Policy sends full URLs "
     "to other origins", _REFERRER),
    ("referrer-policy-header-invalid", "headers.referrer-policy-invalid", _LOW, "Referrer-Policy has no "
     "value a browser knows", _REFERRER),
    ("hsts-not-implemented", "headers.missing-strict-transport-security", _MEDIUM,
     "no Strict-Transport-Security", _HSTS),
    ("hsts-implemented-max-age-less-than-six-months", "headers.hsts-short-max-age", _LOW,
     "Strict-Transport-Security max-age is under six months", _HSTS),
    ("hsts-header-invalid", "headers.hsts-invalid", _MEDIUM, "Strict-Transport-Security has no valid "
     "max-age (or is sent twice)", _HSTS),
    ("hsts-invalid-cert", "headers.invalid-certificate", _HIGH, "the certificate does not verify", _CERT),
    ("sri-not-implemented-but-external-scripts-loaded-securely", "headers.subresource-integrity", _LOW,
     "external scripts load without integrity=", "add integrity= and crossorigin= to external scripts"),
    ("sri-implemented-but-external-scripts-not-loaded-securely", "headers.subresource-integrity", _HIGH,
     "external scripts load over http: or //", "load external scripts over https://"),
    ("sri-not-implemented-and-external-scripts-not-loaded-securely", "headers.subresource-integrity",
     _HIGH, "external scripts load over http: or // without integrity=", "load them over https:// with "
     "integrity="),
    ("x-content-type-options-not-implemented", "headers.missing-x-content-type-options", _LOW,
     "no X-Content-Type-Options", _add_header("X-Content-Type-Options", "nosniff")),
    ("x-content-type-options-header-invalid", "headers.x-content-type-options-invalid", _LOW,
     "X-Content-Type-Options is not nosniff (or is sent twice)", _add_header("X-Content-Type-Options",
                                                                              "nosniff")),
    ("x-frame-options-not-implemented", "headers.missing-x-frame-options", _MEDIUM, "neither X-Frame-"
     "Options nor CSP frame-ancestors: the page can be framed", _add_header("X-Frame-Options", "DENY")),
    ("x-frame-options-header-invalid", "headers.x-frame-options-invalid", _MEDIUM, "X-Frame-Options is not "
     "DENY or SAMEORIGIN (or is sent twice)", _add_header("X-Frame-Options", "DENY")),
    ("corp-header-invalid", "headers.cross-origin-resource-policy-invalid", _LOW, "Cross-Origin-Resource-"
     "Policy has an unknown value", _add_header("Cross-Origin-Resource-Policy", "same-origin")),
    ("coop-header-invalid", "headers.cross-origin-opener-policy-invalid", _LOW, "Cross-Origin-Opener-"
     "Policy has an unknown value or is sent twice", _add_header("Cross-Origin-Opener-Policy",
                                                                 "same-origin")),
    ("coep-header-invalid", "headers.cross-origin-embedder-policy-invalid", _LOW, "Cross-Origin-Embedder-"
     "Policy has an unknown value or is sent twice", _add_header("Cross-Origin-Embedder-Policy",
                                                                  "require-corp")),
)  # fmt: skip
_FAILING = {
    result: _Rule(rule, severity, message, fix) for result, rule, severity, message, fix in _FAILING_TABLE
}
# The OWASP Secure Headers Project's recommendations (ci/headers_add.json) the Observatory lets go missing.
_OWASP: tuple[tuple[str, str], ...] = (
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Embedder-Policy", "require-corp"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)
_TEST_HEADER = {"cross-origin-resource-sharing": "access-control-allow-origin", "cookies": "set-cookie"}


def _evidence(test: TestResult, facts: ResponseFacts) -> str:
    """What a failing test saw, ready to precede the test's result."""
    if test.name == "redirection":
        return " → ".join(f"{hop.url} {hop.status}" for hop in facts.chain) + "; "
    if test.name == "subresource-integrity":
        return ""
    return _seen(facts.headers, _TEST_HEADER.get(test.name, test.name)) + "; "


def _seen(headers: Mapping[str, list[str]], name: str) -> str:
    value = _field(headers, name)
    return f"{name}: {value[:200]}" if value is not None else f"{name}: (absent)"


def _is_session(name: str) -> bool:
    """The Observatory's session heuristic (sess, login in the name), plus auth, token and a "sid" part."""
    lower = name.lower()
    return any(w in lower for w in ("sess", "login", "auth", "token")) or "sid" in re.split(
        r"[^a-z0-9]", lower
    )


def _cookie_findings(cookies: Sequence[Cookie], url: str) -> list[Finding]:
    kept = {c.name: c for c in cookies if c.name not in _IGNORED_COOKIES}.values()
    insecure = [c.name for c in kept if not c.secure]
    readable = [c.name for c in kept if _is_session(c.name) and not c.httponly]
    bad = [c for c in kept if c.samesite_valid is None or (c.samesite_valid == "none" and not c.secure)]
    flagged = [c for c in bad if c.samesite is not None or "csrf" in c.name.lower() or _is_session(c.name)]
    found = []
    if insecure:
        severity = _HIGH if any(_is_session(n) for n in insecure) else _MEDIUM
        message = "cookies without Secure are also sent over plain http"
        found.append(
            Finding(
                "headers.cookie-insecure",
                "headers",
                severity,
                url,
                message,
                "cookies: " + ", ".join(insecure),
                _COOKIE_FIX,
            )
        )
    if readable:
        message = "session cookies without HttpOnly can be read by any script on the page"
        found.append(
            Finding(
                "headers.cookie-no-httponly",
                "headers",
                _MEDIUM,
                url,
                message,
                "cookies: " + ", ".join(readable),
                _COOKIE_FIX,
            )
        )
    if bad:
        message = "cookies without SameSite Strict or Lax (None needs Secure) go with cross-site requests"
        seen = ", ".join(c.name if c.samesite is None else f"{c.name} (SameSite={c.samesite})" for c in bad)
        found.append(
            Finding(
                "headers.cookie-samesite",
                "headers",
                _MEDIUM if flagged else _LOW,
                url,
                message,
                f"cookies: {seen}",
                _COOKIE_FIX,
            )
        )
    return found


def rules(
    result: ObservatoryResult, facts: ResponseFacts, policy: HeaderPolicy, url: str | None = None
) -> list[Finding]:
    """The findings for one audited response (``url`` is their location, by default the URL asked).

    Profile ``observatory``: a finding per failing Observatory test, with cookie flags and the http → https
    redirect; ``owasp``: those and every OWASP Secure Headers recommendation missing; ``none``: nothing of
    either. ``require`` (values compared case-insensitively) and ``min_grade`` apply under every profile."""
    location = url or facts.url
    headers = facts.headers
    found: list[Finding] = []
    if policy.profile != "none":
        for test in result.failed:
            if (rule := _FAILING.get(test.result)) is not None:
                evidence = f"{_evidence(test, facts)}observatory {test.result} ({test.modifier:+d})"
                found.append(
                    Finding(rule.rule, "headers", rule.severity, location, rule.message, evidence, rule.fix)
                )
        found += _cookie_findings(facts.cookies, location)
    if policy.profile == "owasp":
        for name, value in _OWASP:
            if not headers.get(name.lower()):
                found.append(
                    Finding(
                        f"headers.missing-{name.lower()}",
                        "headers",
                        _LOW,
                        location,
                        f"no {name}",
                        f"{name.lower()}: (absent)",
                        _add_header(name, value),
                    )
                )
        if facts.cookies and "no-store" not in (_field(headers, "cache-control") or "").lower():
            message = "a response that sets cookies may be kept by caches"
            found.append(
                Finding(
                    "headers.cache-control-sensitive",
                    "headers",
                    _MEDIUM,
                    location,
                    message,
                    _seen(headers, "cache-control"),
                    _add_header("Cache-Control", "no-store"),
                )
            )
    for name, expected in policy.require.items():
        seen = _field(headers, name.lower())
        if seen is None or seen.strip().lower() != expected.strip().lower():
            what = f'is "{seen[:200]}"' if seen is not None else "is absent"
            # One finding per header: the header is part of its location, so each has its own key.
            found.append(
                Finding(
                    "headers.required-mismatch",
                    "headers",
                    _HIGH,
                    f"{location} {name}",
                    f'{name} must be "{expected}" and {what}',
                    _seen(headers, name.lower()),
                    _add_header(name, expected),
                )
            )
    if policy.min_grade and GRADES.index(result.grade) > GRADES.index(policy.min_grade):
        message = (
            f"HTTP Observatory grade {result.grade} ({result.score}) is under the minimum {policy.min_grade}"
        )
        failing = ", ".join(f"{t.result} ({t.modifier:+d})" for t in result.failed) or "no test failed"
        found.append(
            Finding(
                "headers.grade-below-minimum",
                "headers",
                _MEDIUM,
                location,
                message,
                failing,
                "fix the failing tests listed in the evidence",
            )
        )
    unique: dict[tuple[str, str], Finding] = {}
    for finding in found:
        unique.setdefault((finding.rule, finding.location), finding)
    return list(unique.values())


# -- collection ------------------------------------------------------------------------------------------

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_REQUEST_HEADERS = {
    "Origin": CORS_ORIGIN,
    "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
    "User-Agent": "siaga-audit (+https://github.com/siaga/siaga)",
}


def _cannot_audit(url: str, rule: str, severity: Severity, message: str, fix: str) -> Finding:
    return Finding(rule, "headers", severity, url, message, "", fix)


async def collect(
    url: str, session: aiohttp.ClientSession, timeout: float, *, max_redirects: int = 10
) -> ResponseFacts | Finding:
    """GET ``url`` and follow its redirects by hand within ``timeout`` seconds in all.

    Returns the final response's facts, or a finding (``headers.unreachable``, ``headers.invalid-url``,
    ``headers.invalid-certificate``, ``headers.redirect-loop``) when the URL cannot be audited; never raises
    for what the network or the server does."""
    try:
        current = yarl.URL(url)
    except (ValueError, TypeError):
        current = None
    if current is None or current.scheme not in ("http", "https") or not current.host:
        return _cannot_audit(
            url, "headers.invalid-url", Severity.MEDIUM, f"'{url}' is not an http:// or https:// URL",
            "list full URLs, e.g. https://example.com/",
        )  # fmt: skip
    chain: list[Hop] = []
    cookies: list[Cookie] = []
    try:
        async with asyncio.timeout(timeout):
            for _ in range(max_redirects + 1):
                request = session.get(
                    current, allow_redirects=False, raise_for_status=False, headers=_REQUEST_HEADERS
                )
                async with request as response:
                    chain.append(Hop(str(current), response.status))
                    headers: dict[str, list[str]] = {}
                    for name, value in response.headers.items():
                        headers.setdefault(name.lower(), []).append(value)
                    cookies += [c for line in headers.get("set-cookie", []) if (c := Cookie.parse(line))]
                    location = response.headers.get("Location")
                    if response.status not in _REDIRECTS or not location:
                        return ResponseFacts(
                            url, str(current), response.status, headers, tuple(cookies), tuple(chain)
                        )
                    following = current.join(yarl.URL(location))
                    if following.scheme not in ("http", "https"):
                        return ResponseFacts(
                            url, str(current), response.status, headers, tuple(cookies), tuple(chain)
                        )
                    current = following
    except aiohttp.ClientConnectorCertificateError as exc:
        reason = getattr(exc.certificate_error, "verify_message", None) or str(exc.certificate_error)
        return _cannot_audit(
            url, "headers.invalid-certificate", Severity.HIGH,
            f"the certificate of {current.host} does not verify: {reason}",
            f"install a certificate for {current.host} from a trusted CA (e.g. Let's Encrypt)",
        )  # fmt: skip
    except (aiohttp.ClientSSLError, ssl.SSLError) as exc:
        return _cannot_audit(
            url, "headers.invalid-certificate", Severity.HIGH,
            f"the TLS handshake with {current.host} failed: {exc}", "serve a valid certificate over TLS 1.2+",
        )  # fmt: skip
    except TimeoutError:
        return _cannot_audit(
            url, "headers.unreachable", Severity.MEDIUM, f"no answer from {current} within {timeout:g}s",
            "check that the URL is served and reachable from where siaga runs",
        )  # fmt: skip
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        reason = str(exc) or type(exc).__name__
        return _cannot_audit(
            url, "headers.unreachable", Severity.MEDIUM, f"cannot fetch {current}: {reason}",
            "check that the URL is served and reachable from where siaga runs",
        )  # fmt: skip
    return _cannot_audit(
        url, "headers.redirect-loop", Severity.MEDIUM, f"more than {max_redirects} redirects",
        "redirect in one or two steps to the final https:// URL",
    )  # fmt: skip


async def audit(
    urls: Iterable[str], policy: HeaderPolicy, *, session: aiohttp.ClientSession, timeout: float
) -> tuple[list[Finding], dict[str, str]]:
    """Collect, score and judge every URL at once; the findings, and the worst grade as ``{"headers": …}``."""
    targets = list(urls)
    collected = await asyncio.gather(*(collect(u, session, timeout) for u in targets))
    findings: list[Finding] = []
    grades: list[str] = []
    for url, facts in zip(targets, collected, strict=True):
        if isinstance(facts, Finding):
            findings.append(facts)
            continue
        result = score_response(facts)
        grades.append(result.grade)
        findings += rules(result, facts, policy, url)
    worst = max(grades, key=GRADES.index, default=None)
    return findings, ({"headers": worst} if worst else {})
