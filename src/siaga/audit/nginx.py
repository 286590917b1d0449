"""nginx hardening: configurations parsed by crossplane (includes followed), judged by pure rules per server.

``audit_nginx(paths, require=...)`` finds nginx configurations (``nginx.conf`` and the ``*.conf`` /
``sites-*`` files that look like nginx), parses each with crossplane following its includes, and runs the
rules over every ``server`` block of the ``http`` context: security headers (with nginx's inheritance rule:
a block with an ``add_header`` of its own inherits none from above), TLS protocols, ``server_tokens``,
``limit_req`` and the HTTP → HTTPS redirect. Findings are located ``path:line``; a configuration crossplane
cannot parse is an ``nginx.unparsable`` finding, never an exception.

A file included by another audited file is audited through it, in the context it is included in; one that
nothing includes (a ``conf.d/site.conf`` copied from a server) is audited as if included in ``http``.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import crossplane  # type: ignore[import-untyped]  # ships no type hints; wrapped into Directive here

from siaga.domain.audit import Finding, Severity

AREA = "nginx"
SKIPPED_DIRS = frozenset({".git", ".hg", ".venv", "venv", "node_modules", "__pycache__", ".tox"})
_LOOKS_LIKE_NGINX = re.compile(
    r"^\s*(?:(?:http|server|events|upstream|location)\s*\{|(?:server_name|listen|add_header|proxy_pass)\s)",
    re.MULTILINE,
)
_FULL_CONFIG = re.compile(r"^\s*(?:http|events)\s*\{", re.MULTILINE)
_REDIRECT_CODES = frozenset({"301", "302", "303", "307", "308"})
WEAK_PROTOCOLS = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1")
HSTS_MIN_AGE = 15_768_000  # six months, what the HTTP Observatory asks for


@dataclass(frozen=True, slots=True)
class Rule:
    """A check's identity: id, severity, what it wants and how to fix a failure."""

    id: str
    severity: Severity
    what: str
    fix: str

    def finding(self, location: str, message: str, evidence: str = "", fix: str = "") -> Finding:
        return Finding(self.id, AREA, self.severity, location, message, evidence, fix or self.fix)


@dataclass(frozen=True, slots=True)
class Header:
    """A security header every serving block should send: its canonical name, recommended value, weight."""

    name: str
    value: str
    severity: Severity
    tls_only: bool = False


BASELINE_HEADERS: tuple[Header, ...] = (
    Header("X-Frame-Options", "SAMEORIGIN", Severity.MEDIUM),
    Header("X-Content-Type-Options", "nosniff", Severity.LOW),
    Header("Content-Security-Policy", "default-src 'self'", Severity.MEDIUM),
    Header("Referrer-Policy", "strict-origin-when-cross-origin", Severity.LOW),
    Header(
        "Strict-Transport-Security", "max-age=31536000; includeSubDomains", Severity.MEDIUM, tls_only=True
    ),
)

UNPARSABLE = Rule(
    "nginx.unparsable",
    Severity.MEDIUM,
    "the configuration parses (nginx would refuse to start otherwise)",
    "fix the directive at the line shown; `nginx -t` confirms",
)
INCLUDE_MISSING = Rule(
    "nginx.include-missing",
    Severity.LOW,
    "every explicitly included file exists (what it holds was not audited)",
    "audit the directory holding the included file too, or fix the include path",
)
HEADER_OVERRIDE = Rule(
    "nginx.add-header-override",
    Severity.MEDIUM,
    "a block with its own add_header repeats the security headers it would otherwise inherit",
    "repeat the inherited add_header lines in this block (an `include snippets/security-headers.conf;` "
    "used at both levels keeps them in one place)",
)
NOT_ALWAYS = Rule(
    "nginx.add-header-without-always",
    Severity.LOW,
    "security headers are added with `always` (else 4xx/5xx responses go without them)",
    "end the add_header line with `always`",
)
WEAK_TLS = Rule(
    "nginx.weak-tls-protocols",
    Severity.HIGH,
    "ssl_protocols has no SSLv3 / TLSv1 / TLSv1.1, and TLSv1.2 or TLSv1.3",
    "ssl_protocols TLSv1.2 TLSv1.3;",
)
TLS_UNSET = Rule(
    "nginx.ssl-protocols-unset",
    Severity.MEDIUM,
    "TLS servers set ssl_protocols (nginx before 1.23.4, Debian 12's included, enables TLSv1 and TLSv1.1)",
    "ssl_protocols TLSv1.2 TLSv1.3;",
)
SERVER_TOKENS = Rule(
    "nginx.server-tokens",
    Severity.LOW,
    "server_tokens is off (no nginx version in the Server header and error pages)",
    "server_tokens off;",
)
NO_RATE_LIMIT = Rule(
    "nginx.no-rate-limit",
    Severity.MEDIUM,
    "requests are rate limited (limit_req in the server, its locations or http)",
    "limit_req_zone $binary_remote_addr zone=perip:10m rate=10r/s; (in http) and "
    "limit_req zone=perip burst=20 nodelay; (in the server)",
)
UNDEFINED_ZONE = Rule(
    "nginx.undefined-rate-limit-zone",
    Severity.MEDIUM,
    "every limit_req zone is defined by a limit_req_zone",
    "define it in http: limit_req_zone $binary_remote_addr zone=NAME:10m rate=10r/s;",
)
NO_HTTPS_REDIRECT = Rule(
    "nginx.no-https-redirect",
    Severity.MEDIUM,
    "a port-80 server whose names are also served over TLS redirects to HTTPS",
    "return 301 https://$host$request_uri;",
)
RULES: tuple[Rule, ...] = (
    UNPARSABLE,
    INCLUDE_MISSING,
    HEADER_OVERRIDE,
    NOT_ALWAYS,
    WEAK_TLS,
    TLS_UNSET,
    SERVER_TOKENS,
    NO_RATE_LIMIT,
    UNDEFINED_ZONE,
    NO_HTTPS_REDIRECT,
)


def _slug(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", header.lower()).strip("-")


def add_header_line(header: str, value: str) -> str:
    """The directive that sets ``header`` to ``value``, as a fix hint shows it."""
    return f'add_header {header} "{value}" always;'


# --- parsed configuration -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Directive:
    """One nginx directive (includes already replaced by what they include), where it was written."""

    name: str
    args: tuple[str, ...]
    file: str
    line: int
    block: tuple[Directive, ...] | None = None

    @property
    def at(self) -> str:
        return f"{self.file}:{self.line}"

    def children(self, name: str) -> list[Directive]:
        return [d for d in self.block or () if d.name == name]


@dataclass(frozen=True, slots=True)
class Config:
    """A parsed configuration: its top-level directives, the files read, and the parse problems."""

    directives: tuple[Directive, ...]
    files: frozenset[str]
    errors: tuple[tuple[str, int, str], ...]  # (file, line, message)
    full: bool  # a whole nginx.conf (http, events), not a snippet audited as if included in http


def _directives(configs: list[dict[str, Any]], index: int, seen: frozenset[int]) -> tuple[Directive, ...]:
    def convert(items: list[dict[str, Any]], file: str) -> Iterator[Directive]:
        for item in items:
            if item["directive"] == "include" and "includes" in item:
                for included in item["includes"]:
                    if included not in seen:  # an include loop: nginx refuses it, crossplane reports it
                        yield from _directives(configs, included, seen | {included})
                continue
            block = item.get("block")
            yield Directive(
                item["directive"],
                tuple(item["args"]),
                file,
                int(item["line"]),
                tuple(convert(block, file)) if block is not None else None,
            )

    return tuple(convert(configs[index]["parsed"], configs[index]["file"]))


def _crossplane(path: Path, **options: bool) -> tuple[list[dict[str, Any]], list[tuple[str, int, str]]]:
    try:
        payload = crossplane.parse(str(path), catch_errors=True, combine=False, **options)
    except Exception as exc:  # noqa: BLE001 - a crossplane bug on odd input must be a finding, not a crash
        return [{"file": str(path), "parsed": []}], [(str(path), 1, f"{type(exc).__name__}: {exc}")]
    errors = [(str(e["file"]), int(e.get("line") or 1), str(e["error"])) for e in payload["errors"]]
    return payload["config"], errors


def _included(path: Path, item: dict[str, Any], errors: list[tuple[str, int, str]]) -> list[Path]:
    """The files an include in snippet ``path`` names: relative to its directory, else to the one above."""
    pattern = str(item["args"][0])
    bases = [Path("/")] if Path(pattern).is_absolute() else [path.parent, path.parent.parent]
    for base in bases:
        candidate = str(base / pattern)
        if glob.has_magic(candidate):
            if matches := sorted(glob.glob(candidate)):
                return [Path(m) for m in matches]
        elif Path(candidate).is_file():
            return [Path(candidate)]
    if not glob.has_magic(pattern):
        errors.append((str(path), int(item["line"]), f"No such file or directory: '{bases[0] / pattern}'"))
    return []


def _snippet(path: Path) -> Config:
    # nginx resolves a relative include against nginx.conf's directory, which is the one above a snippet
    # kept in conf.d/ or sites-*/; crossplane would resolve it against the snippet's own directory.
    parsed: dict[str, list[dict[str, Any]]] = {}
    errors: list[tuple[str, int, str]] = []

    def load(file: Path, chain: frozenset[str]) -> Iterator[Directive]:
        if str(file) not in parsed:
            configs, found = _crossplane(file, single=True, check_ctx=False)
            parsed[str(file)] = configs[0]["parsed"]
            errors.extend(found)
        yield from convert(parsed[str(file)], file, chain)

    def convert(items: list[dict[str, Any]], file: Path, chain: frozenset[str]) -> Iterator[Directive]:
        for item in items:
            if item["directive"] == "include" and item["args"]:
                for included in _included(file, item, errors):
                    if str(included) not in chain:  # an include loop
                        yield from load(included, chain | {str(included)})
                continue
            block = item.get("block")
            children = tuple(convert(block, file, chain)) if block is not None else None
            yield Directive(item["directive"], tuple(item["args"]), str(file), int(item["line"]), children)

    directives = tuple(load(path, frozenset({str(path)})))
    return Config(directives, frozenset(parsed), tuple(errors), full=False)


def parse_config(path: Path, *, full: bool) -> Config:
    """Parse ``path`` with crossplane, following includes; a snippet is parsed without context checks."""
    if not full:
        return _snippet(path)
    configs, errors = _crossplane(path, check_ctx=True)
    return Config(
        _directives(configs, 0, frozenset({0})), frozenset(c["file"] for c in configs), tuple(errors), full
    )


# --- servers ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Listen:
    port: int | None  # None: a unix socket
    tls: bool


@dataclass(frozen=True, slots=True)
class Server:
    """One http server block and the http-level directives it inherits."""

    block: Directive
    http: tuple[Directive, ...]
    zones: frozenset[str] | None  # limit_req_zone names of the http context; None: not known (a snippet)

    @property
    def listens(self) -> list[Listen]:
        found = [parse_listen(d.args) for d in self.block.children("listen")]
        ssl_on = any(d.args == ("on",) for d in self.block.children("ssl"))
        return [Listen(x.port, x.tls or ssl_on) for x in found] or [Listen(80, ssl_on)]

    @property
    def tls(self) -> bool:
        return any(x.tls for x in self.listens)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(n.lower() for d in self.block.children("server_name") for n in d.args) or frozenset(
            {""}
        )

    def inherited(self, name: str) -> Directive | None:
        """The server's own ``name`` directive, else the http context's (the last one written wins)."""
        own = self.block.children(name)
        if own:
            return own[-1]
        above = [d for d in self.http if d.name == name]
        return above[-1] if above else None


def parse_listen(args: tuple[str, ...]) -> Listen:
    """Given a listen directive's arguments, its port and whether it speaks TLS."""
    address = args[0] if args else "80"
    tls = "ssl" in args[1:] or "quic" in args[1:]
    if address.startswith("unix:"):
        return Listen(None, tls)
    tail = address.rsplit("]", 1)[-1].rsplit(":", 1)[-1]
    return Listen(int(tail) if tail.isdigit() else 80, tls)


def servers(config: Config) -> list[Server]:
    """The http server blocks of a configuration (a snippet's top level counts as its http context)."""
    if config.full:
        contexts = [d.block or () for d in config.directives if d.name == "http"]
    else:
        contexts = [config.directives]
    found = []
    for http in contexts:
        zones = frozenset(_zone_name(d.args) for d in http if d.name == "limit_req_zone")
        for block in http:
            if block.name == "server" and block.block is not None:
                found.append(
                    Server(block, tuple(d for d in http if d.block is None), zones if config.full else None)
                )
    return found


def _zone_name(args: tuple[str, ...]) -> str:
    for arg in args:
        if arg.startswith("zone="):
            return arg.removeprefix("zone=").split(":", 1)[0]
    return ""


def _redirect_target(directive: Directive) -> str | None:
    """The URL a `return` or `rewrite` directive redirects to, else None."""
    args = directive.args
    if directive.name == "return":
        if len(args) == 2 and args[0] in _REDIRECT_CODES:
            return args[1]
        if len(args) == 1 and args[0].startswith(("http://", "https://", "$scheme")):
            return args[0]
    if (
        directive.name == "rewrite"
        and len(args) >= 2
        and (args[1].startswith(("http://", "https://")) or args[2:3] in (("permanent",), ("redirect",)))
    ):
        return args[1]
    return None


def _redirects(block: Iterable[Directive]) -> bool:
    for d in block:
        if d.name == "return" and (d.args[:1] == ("444",) or _redirect_target(d) is not None):
            return True
        if d.name == "rewrite" and d.args[:1] in (("^",), ("^(.*)$",), ("^/(.*)$",)) and _redirect_target(d):
            return True
    return False


def redirects_only(server: Server) -> bool:
    """Whether the server answers with a redirect (or closes: return 444) at its own level, or in its
    `location /` with nothing beside it but ACME challenges."""
    block = server.block.block or ()
    if _redirects(block):
        return True
    locations = [d for d in block if d.name == "location"]
    root = [d for d in locations if d.args == ("/",)]
    others = [d for d in locations if d.args != ("/",) and not d.args[-1].startswith("/.well-known/")]
    return bool(root) and _redirects(root[0].block or ()) and not others


def redirects_to_https(server: Server) -> bool:
    """Whether plain HTTP requests to the server are redirected to https:// (server level, `location /`, or
    an `if ($scheme …)` block)."""
    candidates = list(server.block.block or ())
    for d in server.block.block or ():
        if (d.name == "location" and d.args == ("/",)) or (d.name == "if" and "$scheme" in " ".join(d.args)):
            candidates += d.block or ()
    return any((_redirect_target(d) or "").startswith("https://") for d in candidates)


# --- rules --------------------------------------------------------------------------------------------


def expected_headers(tls: bool, require: Mapping[str, str]) -> dict[str, tuple[Header, str | None]]:
    """Lower-cased name → (header, the exact value the standard requires or None)."""
    wanted: dict[str, tuple[Header, str | None]] = {
        h.name.lower(): (h, None) for h in BASELINE_HEADERS if tls or not h.tls_only
    }
    for name, value in require.items():
        base = wanted.get(name.lower(), (Header(name, value, Severity.HIGH), None))[0]
        wanted[name.lower()] = (Header(base.name, value, Severity.HIGH, base.tls_only), value)
    return wanted


def _normalized(value: str) -> str:
    return re.sub(r"\s*([;,])\s*", r"\1 ", value.strip().lower()).strip()


def _value_problem(header: Header, required: str | None, value: str) -> str | None:
    if required is not None:
        return None if _normalized(value) == _normalized(required) else f"must be '{required}'"
    key = header.name.lower()
    if key == "x-frame-options" and value.upper() not in ("DENY", "SAMEORIGIN"):
        return "must be DENY or SAMEORIGIN"
    if key == "x-content-type-options" and value.lower() != "nosniff":
        return "must be nosniff"
    if key == "strict-transport-security":
        age = re.search(r"max-age\s*=\s*\"?(\d+)", value, re.IGNORECASE)
        if not age or int(age.group(1)) < HSTS_MIN_AGE:
            return f"max-age must be at least {HSTS_MIN_AGE} (six months)"
    return None


@dataclass(frozen=True, slots=True)
class Level:
    """A block in the add_header chain (server, location, if) and the headers in force there."""

    block: Directive | None  # None: the server sends the http context's headers
    own: Mapping[str, Directive]  # lower-cased header name → its add_header in this very block
    parent: Mapping[str, Directive]  # what it would inherit had it no add_header of its own

    @property
    def effective(self) -> Mapping[str, Directive]:
        return self.own or self.parent


def _headers(directives: Iterable[Directive]) -> dict[str, Directive]:
    return {d.args[0].lower(): d for d in directives if d.name == "add_header" and len(d.args) >= 2}


def header_levels(server: Server) -> list[Level]:
    """The blocks whose header sets answer some request: the server (unless `location /` takes all of
    them) and every location or if with add_header of its own, or inheriting from one."""
    http = _headers(server.http)
    own = _headers(server.block.block or ())
    top = Level(server.block if own or not http else None, own, http)
    levels: dict[int, Level] = {}
    if not any(d.name == "location" and d.args == ("/",) for d in server.block.block or ()):
        levels[id(top)] = top

    def walk(block: Directive, inherited: Level) -> None:
        for child in block.block or ():
            if child.block is None or child.name not in ("location", "if"):
                continue
            if child.name == "if" and block.name == "server":
                continue  # add_header is not allowed in a server-level if
            mine = _headers(child.block)
            level = Level(child, mine, inherited.effective) if mine else inherited
            levels.setdefault(id(level), level)
            walk(child, level)

    walk(server.block, top)
    return list(levels.values())


def check_headers(server: Server, require: Mapping[str, str]) -> Iterator[Finding]:
    wanted = expected_headers(server.tls, require)
    for level in header_levels(server):
        where = level.block.at if level.block is not None else server.block.at
        lost = [k for k in wanted if level.own and k in level.parent and k not in level.own]
        if lost and level.block is not None:
            names = ", ".join(wanted[k][0].name for k in lost)
            kind = " ".join((level.block.name, *level.block.args))
            repeat = " ".join(add_header_line(wanted[k][0].name, level.parent[k].args[1]) for k in lost)
            yield HEADER_OVERRIDE.finding(
                where,
                f"{kind} has add_header of its own, so it drops the inherited {names}",
                f"inherited from {level.parent[lost[0]].at}: {names}",
                f"repeat them in this block: {repeat}",
            )
        for key, (header, required) in wanted.items():
            directive = level.effective.get(key)
            if directive is None:
                if key not in lost:
                    yield Rule(f"nginx.missing-{_slug(header.name)}", header.severity, "", "").finding(
                        where,
                        f"{header.name} is not sent (no add_header {header.name} in force here)",
                        fix=f"{add_header_line(header.name, header.value)} in this block",
                    )
                continue
            value = directive.args[1]
            problem = _value_problem(header, required, value)
            if problem:
                yield Rule(f"nginx.wrong-{_slug(header.name)}", header.severity, "", "").finding(
                    directive.at,
                    f"{header.name} is '{value}': {problem}",
                    f"add_header {' '.join(directive.args)}",
                    fix=add_header_line(header.name, required or header.value),
                )
            if "always" not in directive.args[2:]:
                yield NOT_ALWAYS.finding(
                    directive.at,
                    f"{header.name} is added without `always`: error responses go without it",
                    f"add_header {' '.join(directive.args)}",
                    fix=add_header_line(header.name, value),
                )


def check_tls(server: Server) -> Iterator[Finding]:
    if not server.tls:
        return
    protocols = server.inherited("ssl_protocols")
    if protocols is None:
        yield TLS_UNSET.finding(
            server.block.at, "TLS server without ssl_protocols (the default may allow TLSv1)"
        )
        return
    weak = [p for p in protocols.args if p in WEAK_PROTOCOLS]
    if weak or not {"TLSv1.2", "TLSv1.3"} & set(protocols.args):
        problem = f"enables {', '.join(weak)}" if weak else "enables neither TLSv1.2 nor TLSv1.3"
        yield WEAK_TLS.finding(
            protocols.at, f"ssl_protocols {problem}", f"ssl_protocols {' '.join(protocols.args)}"
        )


def check_server_tokens(server: Server) -> Iterator[Finding]:
    tokens = server.inherited("server_tokens")
    if tokens is None or tokens.args != ("off",):
        where = tokens.at if tokens is not None else server.block.at
        yield SERVER_TOKENS.finding(where, "server_tokens is not off: the nginx version is shown")


def _all(block: Directive, name: str) -> Iterator[Directive]:
    for child in block.block or ():
        if child.name == name:
            yield child
        if child.block is not None:
            yield from _all(child, name)


def check_rate_limit(server: Server) -> Iterator[Finding]:
    uses = [*(d for d in server.http if d.name == "limit_req"), *_all(server.block, "limit_req")]
    if not uses:
        yield NO_RATE_LIMIT.finding(server.block.at, "no limit_req applies to this server")
    for use in uses:
        zone = _zone_name(use.args)
        if server.zones is not None and zone not in server.zones:
            yield UNDEFINED_ZONE.finding(
                use.at, f"limit_req uses zone '{zone}', which no limit_req_zone defines"
            )


def check_https_redirect(server: Server, others: Iterable[Server]) -> Iterator[Finding]:
    plain_80 = any(x.port == 80 and not x.tls for x in server.listens)
    if not plain_80:
        return
    twin = server.tls or any(o.tls and o.names & server.names for o in others if o is not server)
    if twin and not redirects_to_https(server):
        names = ", ".join(sorted(server.names - {""})) or "the default server"
        yield NO_HTTPS_REDIRECT.finding(
            server.block.at, f"port 80 serves {names} in plain HTTP although TLS serves it too"
        )


def audit_servers(found: list[Server], require: Mapping[str, str]) -> list[Finding]:
    """Given the servers of one configuration, every failed rule (each finding once)."""
    findings: list[Finding] = []
    for server in found:
        findings += check_tls(server)
        findings += check_https_redirect(server, found)
        if redirects_only(server):
            continue  # nothing but a redirect is served: headers and rate limits have nothing to guard
        findings += check_headers(server, require)
        findings += check_server_tokens(server)
        findings += check_rate_limit(server)
    return unique(findings)


def unique(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per (rule, location), the identity baselines use; the first counts the others."""
    groups: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        groups.setdefault((finding.rule, finding.location), []).append(finding)
    return [
        replace(group[0], message=f"{group[0].message} (and {len(group) - 1} more here)")
        if len(group) > 1
        else group[0]
        for group in groups.values()
    ]


def config_problems(config: Config) -> list[Finding]:
    """A configuration's parse errors as findings."""
    found = []
    for file, line, message in config.errors:
        if "No such file or directory" in message:
            missing = message.rsplit(": ", 1)[-1]
            found.append(
                INCLUDE_MISSING.finding(f"{file}:{line}", f"the included file {missing} does not exist")
            )
        else:
            message = re.sub(r" in \S+:\d+$", "", message)  # crossplane appends the location we show anyway
            found.append(UNPARSABLE.finding(f"{file}:{line}", f"nginx cannot parse this: {message}"))
    return found


# --- the collector ------------------------------------------------------------------------------------


def _candidates(paths: Path | str | Iterable[Path | str]) -> Iterator[Path]:
    roots = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    for root in roots:
        if root.is_file():
            yield root
            continue
        for path in sorted(root.rglob("*")):
            parts = path.relative_to(root).parts
            if not path.is_file() or SKIPPED_DIRS.intersection(parts[:-1]):
                continue
            if path.suffix == ".conf" or any(p.startswith("sites-") for p in parts[:-1]):
                yield path


def _looks_like_nginx(path: Path, text: str) -> bool:
    return path.name == "nginx.conf" or bool(_LOOKS_LIKE_NGINX.search(text))


def audit_nginx(
    paths: Path | str | Iterable[Path | str], require: Mapping[str, str] | None = None
) -> list[Finding]:
    """Given nginx files or directories (searched recursively) and the headers the standard requires
    (name → exact value), the findings of every configuration; files included by others are audited
    through them."""
    configs: list[tuple[Path, Config]] = []
    for path in _candidates(paths):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            configs.append((path, Config((), frozenset(), ((str(path), 1, str(exc)),), False)))
            continue
        if _looks_like_nginx(path, text):
            configs.append((path, parse_config(path, full=bool(_FULL_CONFIG.search(text)))))
    included = {
        str(Path(f).resolve()) for path, c in configs for f in c.files if Path(f).resolve() != path.resolve()
    }
    findings: list[Finding] = []
    for path, config in configs:
        if str(path.resolve()) in included:
            continue
        findings += unique(config_problems(config))
        findings += audit_servers(servers(config), require or {})
    return findings
