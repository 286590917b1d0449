"""Header audit benchmark: the pure part (Observatory scoring + rules) over many responses, no network.

    .venv/bin/python bench/audit_headers.py                 # 10,000 responses, best of 5 rounds
    .venv/bin/python bench/audit_headers.py --responses 100000 --rounds 3

The responses cycle through six header sets seen in practice: bare (a default nginx page), hardened (the
OWASP profile complete), a large real CSP (1 kB, from observatory.mozilla.org's), mozilla.org's (report-only
copy included), a cookie-setting app behind an http → https redirect, and a sloppy one (unsafe-inline,
short HSTS, insecure cookies, a reflected CORS origin). Each response is scored (``score_headers``) and
judged (``rules``, OWASP profile with two required headers and a minimum grade); the figure is the wall time
per response of the best round, in microseconds.
"""

from __future__ import annotations

import argparse
import statistics
import time

from siaga.audit.headers import Cookie, Hop, ResponseFacts, rules, score_response
from siaga.spec.security import HeaderPolicy

BIG_CSP = (
    "default-src 'self'; script-src 'report-sample' 'self' 'wasm-unsafe-eval' "
    "https://www.google-analytics.com/analytics.js https://*.googletagmanager.com assets.codepen.io "
    "https://js.stripe.com 'sha256-XNBp89FG76amD8BqrJzyflxOF9PaWPqPqvJfKZPCv7M='; style-src 'report-sample' "
    "'self' 'unsafe-inline'; object-src 'none'; base-uri 'self'; connect-src 'self' developer.allizom.org "
    "bcd.developer.mozilla.org https://*.google-analytics.com https://incoming.telemetry.mozilla.org "
    "https://observatory-api.mdn.mozilla.net https://api.github.com/search/issues stats.g.doubleclick.net; "
    "font-src 'self'; frame-src 'self' mdn.github.io *.mdnplay.dev https://scrimba.com jsfiddle.net "
    "codepen.io; img-src 'self' data: *.githubusercontent.com *.googleusercontent.com *.gravatar.com "
    "mozillausercontent.com developer.mozilla.org mdn.dev wikipedia.org upload.wikimedia.org "
    "https://mdn.github.io/shared-assets/ www.gstatic.com; manifest-src 'self'; media-src 'self' archive.org "
    "videos.cdn.mozilla.net; child-src 'self'; worker-src 'self';"
)
MOZILLA_CSP = (
    "frame-src 'self' accounts.firefox.com js.stripe.com www.youtube.com; script-src 'self' 'unsafe-eval' "
    "'unsafe-inline' cdn.transcend.io js.stripe.com s.ytimg.com www.mozilla.org; form-action 'self' "
    "https://accounts.firefox.com/; style-src 'self' 'unsafe-inline' www.mozilla.org; default-src 'self' "
    "*.mozilla.org; frame-ancestors 'none'; img-src 'self' data: www.mozilla.org; object-src 'none'; "
    "base-uri 'none'"
)
HARDENED = {
    "content-type": "text/html",
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "content-security-policy": "default-src 'self'; object-src 'none'; frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-embedder-policy": "require-corp",
    "cross-origin-resource-policy": "same-origin",
    "cache-control": "no-store",
}
SETS: list[tuple[str, dict[str, str | list[str]], tuple[Hop, ...] | None]] = [
    ("bare", {"content-type": "text/html", "server": "nginx"}, None),
    ("hardened", HARDENED, None),
    ("big-csp", {**HARDENED, "content-security-policy": BIG_CSP}, None),
    (
        "mozilla.org",
        {
            **HARDENED,
            "content-security-policy": MOZILLA_CSP,
            "content-security-policy-report-only": MOZILLA_CSP,
        },
        None,
    ),
    (
        "app-behind-redirect",
        {**HARDENED, "set-cookie": ["sessionid=1; Secure; HttpOnly; SameSite=Lax", "csrftoken=2; Secure"]},
        (Hop("http://app.example/", 301), Hop("https://app.example/", 200)),
    ),
    (
        "sloppy",
        {
            "content-type": "text/html",
            "content-security-policy": "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'",
            "strict-transport-security": "max-age=86400",
            "x-frame-options": "SAMEORIGIN, SAMEORIGIN",
            "access-control-allow-origin": "https://audit.siaga.invalid",
            "access-control-allow-credentials": "true",
            "set-cookie": ["sess=1", "theme=dark; SameSite=None"],
        },
        None,
    ),
]
POLICY = HeaderPolicy(require={"X-Frame-Options": "DENY", "X-XSS-Protection": "0"}, min_grade="B")


def _facts(headers: dict[str, str | list[str]], chain: tuple[Hop, ...] | None) -> ResponseFacts:
    lists = {k: v if isinstance(v, list) else [v] for k, v in headers.items()}
    cookies = tuple(c for line in lists.get("set-cookie", []) if (c := Cookie.parse(line)))
    url = chain[0].url if chain else "https://app.example/"
    final = chain[-1].url if chain else url
    return ResponseFacts(url, final, 200, lists, cookies, chain or (Hop(url, 200),))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    facts = [_facts(headers, chain) for _, headers, chain in SETS]
    responses = [facts[i % len(facts)] for i in range(args.responses)]
    rounds = []
    findings = 0
    for _ in range(args.rounds):
        started = time.perf_counter()
        findings = sum(len(rules(score_response(f), f, POLICY)) for f in responses)
        rounds.append(time.perf_counter() - started)
    per_set = []
    for (name, _, _), item in zip(SETS, facts, strict=True):
        started = time.perf_counter()
        for _ in range(1000):
            rules(score_response(item), item, POLICY)
        per_set.append(f"{name} {(time.perf_counter() - started) * 1000:.0f} µs")
    best = min(rounds)
    print(
        f"{args.responses} responses, best of {args.rounds} rounds: {best * 1e6 / args.responses:.1f} µs per "
        f"response (median round {statistics.median(rounds) * 1e6 / args.responses:.1f} µs); "
        f"{findings} findings per round"
    )
    print("per set: " + ", ".join(per_set))


if __name__ == "__main__":
    main()
