"""Secret scanning for ``siaga audit``: detect-secrets' plugins and filters, plus Siaga's own rule that a
credential comes from the environment (the Pustani / INAMSOS standard), one finding per line.

Given a tree, ``scan_tree`` walks it (following no symlinks; skipping ``.git``, ``node_modules``,
virtualenvs, files over 1 MiB, binary and non-UTF-8 files), runs on every file detect-secrets' default
plugins (``IPPublicDetector`` aside: an address is no credential) and default filters (the network
verification filter aside: a found secret is never sent anywhere), and Siaga's ``secrets.literal-credential``
rule: a value assigned to a credential name must be an environment reference or a plain placeholder.

A secret's value never leaves this module: evidence shows it masked (``hu… (7 chars)``) and nothing is logged.
What counts as a credential name, a reference and a placeholder is written down in docs/audit-secrets.md.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import multiprocessing
import os
import re
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import pairwise, repeat
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from detect_secrets.core.scan import scan_file
from detect_secrets.filters.heuristic import IGNORED_FILE_EXTENSIONS, is_lock_file
from detect_secrets.settings import configure_settings_from_baseline, get_settings, transient_settings

from siaga.domain.audit import Finding, Severity

__all__ = ["DEFAULT_EXCLUDE", "MAX_FILE_BYTES", "mask", "scan_tree"]

MAX_FILE_BYTES = 1 << 20
# Matched (fnmatch) against each entry's name and its path from the root; a directory holding pyvenv.cfg
# (a virtualenv, whatever its name) is skipped as well.
DEFAULT_EXCLUDE: tuple[str, ...] = (
    ".git", ".hg", ".svn", "node_modules", ".venv", "venv", ".tox", ".nox",
    "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache",
)  # fmt: skip

# `detect-secrets scan`'s plugins and filters, less IPPublicDetector and the verification filter; its swagger
# filter is applied here, to the path from the root (it would see the absolute path, and skip a whole tree
# that lives under a "swagger" directory).
_PLUGINS = (
    "ArtifactoryDetector", "AWSKeyDetector", "AzureStorageKeyDetector", "BasicAuthDetector",
    "CloudantDetector", "DiscordBotTokenDetector", "GitHubTokenDetector", "GitLabTokenDetector",
    "IbmCloudIamDetector", "IbmCosHmacDetector", "JwtTokenDetector", "MailchimpDetector", "NpmDetector",
    "OpenAIDetector", "PrivateKeyDetector", "PypiTokenDetector", "SendGridDetector", "SlackDetector",
    "SoftlayerDetector", "SquareOAuthDetector", "StripeDetector", "TelegramBotTokenDetector",
    "TwilioKeyDetector",
)  # fmt: skip
_FILTERS = (
    "allowlist.is_line_allowlisted", "heuristic.is_indirect_reference", "heuristic.is_likely_id_string",
    "heuristic.is_lock_file", "heuristic.is_not_alphanumeric_string", "heuristic.is_potential_uuid",
    "heuristic.is_prefixed_with_dollar_sign", "heuristic.is_sequential_string",
    "heuristic.is_templated_secret",
)  # fmt: skip
_DETECT_SECRETS: dict[str, Any] = {
    "plugins_used": [{"name": name} for name in _PLUGINS]
    + [
        {"name": "Base64HighEntropyString", "limit": 4.5},
        {"name": "HexHighEntropyString", "limit": 3.0},
        {"name": "KeywordDetector", "keyword_exclude": ""},
    ],
    "filters_used": [{"path": f"detect_secrets.filters.{name}"} for name in _FILTERS],
}
_ENTROPY = frozenset({"Base64 High Entropy String", "Hex High Entropy String"})
_LITERAL = frozenset({"Secret Keyword", "Basic Auth Credentials"})
_CLOUD = frozenset(
    {"AWS Access Key", "Azure Storage Account access key", "IBM Cloud IAM Key", "IBM COS HMAC Credentials",
     "SoftLayer Credentials", "Cloudant Credentials"}
)  # fmt: skip
# Which finding stands for a line that several report (after severity): the most specific.
_RANK = {
    "secrets.private-key": 0, "secrets.cloud-key": 1, "secrets.service-token": 2, "secrets.jwt": 3,
    "secrets.literal-credential": 4, "secrets.high-entropy-string": 5,
}  # fmt: skip
_FIX = "Remove it from the tree, rotate it, and read it from an environment variable (${NAME})"

# ---- Siaga's rule: what a credential name is ----------------------------------------------------------

# Anywhere in a name; the weak words only as its last word (`DB_PASS`, `auth_token`, not `PassArg.context`).
_STRONG = frozenset(
    {"password", "passwd", "passphrase", "secret", "credential", "credentials", "creds", "apikey",
     "authorization", "requirepass", "masterauth"}
)  # fmt: skip
_WEAK = frozenset({"token", "auth", "pass", "pwd"})
_SUFFIXES = ("password", "passwd", "passphrase", "secret", "apikey", "credentials")  # dbpassword, apitoken
_KEY_QUALIFIERS = frozenset({"api", "access", "private", "signing", "encryption", "master", "secret", "auth"})
# A credential word followed by one of these names something about a credential, not the credential.
_ABOUT_LAST = frozenset(
    {"file", "path", "dir", "directory", "url", "uri", "endpoint", "host", "hostname", "server", "port",
     "domain", "realm", "length", "len", "min", "max", "size", "count", "limit", "field", "fields", "type",
     "kind", "name", "label", "title", "prompt", "placeholder", "hint", "help", "text", "message", "msg",
     "error", "regex", "pattern", "format", "policy", "rule", "rules", "validator", "validators", "required",
     "enabled", "enable", "disabled", "expiry", "expires", "expiration", "ttl", "timeout", "lifetime", "age",
     "interval", "method", "methods", "mode", "mechanism", "scheme", "algorithm", "provider", "backend",
     "plugin", "class", "strategy", "store", "source", "ref", "env", "var", "variable", "id", "version",
     "hash", "hashed", "hasher", "hashers", "digest", "header", "prefix", "suffix", "param", "user",
     "username", "login", "email", "reset", "generator", "manager", "service", "handler", "module", "view",
     "form", "input", "widget", "column", "schema", "flag", "option", "options", "db", "database", "scope",
     "scopes", "audience", "issuer", "callback", "redirect", "cache", "attempts", "retries", "rounds",
     "iterations", "strength", "chars", "charset", "encoding", "request", "response", "bits", "bytes",
     "visible", "show", "toggle", "icon", "selector"}
)  # fmt: skip
_ABOUT_FIRST = frozenset({"is", "has", "use", "enable", "disable", "require", "no", "show", "hide", "allow"})
_PASSWORD_WORDS = frozenset({"password", "passwd", "pwd", "pass", "passphrase", "pin"})
_CLOUD_WORDS = frozenset({"aws", "azure", "gcp", "gcloud", "google"})
_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _words(name: str) -> list[str]:
    return [w.lower() for w in _SPLIT.split(name) if w]


def _naming(name: str) -> str | None:
    """``"credential"``, ``"about"`` (names something about one: ``PASSWORD_MIN_LENGTH``) or None."""
    words = _words(name)
    if not words:
        return None
    named = (
        words[-1] in _WEAK
        or words[-1].endswith("token")
        or any(w in _STRONG or w.endswith(_SUFFIXES) for w in words)
        or any(a in _KEY_QUALIFIERS and b == "key" for a, b in pairwise(words))
    )
    if not named:
        return None
    return "about" if words[-1] in _ABOUT_LAST or words[0] in _ABOUT_FIRST else "credential"


# ---- Siaga's rule: what a literal is ------------------------------------------------------------------

_NOT_A_VALUE = frozenset({"null", "none", "nil", "undefined", "~", "true", "false", "yes", "no", "on", "off"})
_TEMPLATED = re.compile(r"\$\{|\{\{|\{%|<%|#\{|%\(|%env\(|\$\(|\{[^{}]*\}|%[sdvr]|\.\.\.|…")
_ENV_LOOKUP = re.compile(
    r"os\.environ|getenv\(|environ\.get|process\.env|ENV\[|ENV\.fetch|Environment\.GetEnvironmentVariable"
    r"|^!env\b|^env\(|^!vault\b"
)
_PLACEHOLDER = re.compile(
    r"<[^<>]*>|\[[\w .-]*\]|[*xX•.#_-]{3,}|\$[A-Za-z_]\w*|[A-Z]*(?:PASS|PWD|SECRET|TOKEN|KEY|AUTH)[A-Z]*"
    r"|(?:vault:|ref\+|op://|arn:aws:(?:secretsmanager|ssm):|/run/secrets/)\S*|(?:/|~/|\./|\.\./)[^\s:]*"
)
# Instructions rather than values: `your-password`, `insert token`, `put_key_here`.
_MARKER = re.compile(
    r"(?i)(?:your|insert|enter|put)(?:[\W_]|[a-z]*(?:password|secret|token|key)).*|.*[\W_]here"
)
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_PROSE = re.compile(r"[A-Za-z][A-Za-z'\u2019-]*(?:[ ,.;:!?()/]+[A-Za-z'\u2019-]+)+[ .!?:]*")
_AUTH_SCHEME = re.compile(r"(?i)^(?:bearer|basic|token|digest|bot|apikey)(?:\s+|$)")


def _is_placeholder(value: str) -> bool:
    """Given a value, whether it is no literal: empty, null, a reference, a mask or a marker (see the doc)."""
    v = value.strip()
    low = v.lower()
    return (
        len(v) < 4
        or not any(c.isalnum() for c in v)
        or low in _NOT_A_VALUE
        or bool(
            _TEMPLATED.search(v) or _ENV_LOOKUP.search(v) or _PLACEHOLDER.fullmatch(v) or _MARKER.fullmatch(v)
        )
        or "example" in low
        or "redacted" in low
        or "placeholder" in low
    )


def _is_literal(value: str, words: list[str], *, strict: bool) -> bool:
    """Given a value assigned to a credential name (its ``words``), whether it is a literal credential;
    ``strict`` in configuration files, where a bare word (``password``, ``secret``) is a real weak one."""
    v = _AUTH_SCHEME.sub("", value.strip(), count=1)
    if _is_placeholder(v) or _ENV_NAME.fullmatch(v) or _PROSE.fullmatch(v):
        return False  # a placeholder, the name of a variable, or text ("Enter your password")
    if _NUMBER.fullmatch(v):
        return not words or words[-1] in _PASSWORD_WORDS
    # In code and docs, a value that is itself a credential's name is a label or a documentation form
    # (`TOKEN = "token"`, `user:password@host`), not a credential.
    return strict or any(c.isdigit() for c in v) or _naming(v) is None


# ---- Siaga's rule: where an assignment is -------------------------------------------------------------

_KEY = r"""["']?(?P<key>[A-Za-z_$][\w$.\-]*)["'\]]{0,2}"""
_OP = r"""\s*(?P<op>:=|\?=|=>|:\s*[A-Za-z_][\w\[\], .|]*?\s*=(?![=>~])|=(?![=>~])|:(?![:=]))[ \t]*"""
_CODE_ASSIGN = re.compile(r"(?<![\w$.\-])" + _KEY + _OP)
_CONFIG_ASSIGN = re.compile(r"^\s*(?:-\s+)?(?:export\s+|ENV\s+|ARG\s+|set\s+|setenv\s+)?" + _KEY + _OP)
_DOCKER_ENV = re.compile(r"^\s*ENV\s+(?P<key>[A-Za-z_]\w*)\s+(?P<value>[^=\s].*)$")
_FLAG = re.compile(
    r"(?<!\S)--(?P<key>[A-Za-z][\w-]*)(?:=|\s+)(?P<value>[^\s\"'-][^\s\"']*|\"[^\"]*\"|'[^']*')"
)
_URL = re.compile(
    r"(?P<scheme>[A-Za-z][\w+.\-]*)://(?P<user>[^\s:/?#@'\"]*):(?P<pw>[^\s@/?#'\"]+)@(?P<host>[\w.\-]+)"
)
_QUERY = re.compile(r"[?&;](?P<key>[\w.\-]+)=(?P<value>[^&\s'\"#;]*)")
_URL_SAFE = re.compile(r"[\w.~%+/=-]+")
_ENV_DEFAULT = re.compile(
    r"""(?:getenv|environ\.get|ENV\.fetch)\(\s*(?P<nq>['"])(?P<name>[^'"]+)(?P=nq)\s*,\s*"""
    r"""(?P<q>['"])(?P<value>[^'"\\]*)(?P=q)"""
    r"""|process\.env\.(?P<jsname>\w+)\s*(?:\|\||\?\?)\s*(?P<jq>['"`])(?P<jsvalue>[^'"`\\]*)(?P=jq)"""
    r"""|\$\{(?P<shname>[A-Za-z_]\w*):?-(?P<shvalue>[^}]*)\}"""
)
_CANDIDATE = re.compile(
    r"(?i)pass|pwd|secret|token|auth|cred|(?:api|access|private|signing|encryption|master)[_-]?key"
    r"|://[^\s/@]*:[^\s/@]*@"
)
_YAML_NAME = re.compile(r"^\s*-?\s*name:\s*[\"']?(?P<name>[\w.\-]+)[\"']?\s*$")
_YAML_VALUE = re.compile(r"^\s*value:\s*(?P<value>.*)$")
_CONFIG_EXTENSIONS = frozenset(
    {".yml", ".yaml", ".env", ".ini", ".cfg", ".conf", ".cnf", ".toml", ".properties", ".sh", ".bash", ".zsh",
     ".service", ".tfvars", ".envrc"}
)  # fmt: skip
_CONFIG_NAMES = frozenset({"makefile", ".npmrc", ".pypirc", ".envrc", "dockerfile", "containerfile"})


@dataclass(frozen=True, slots=True)
class _Hit:
    line: int
    rule: str
    severity: Severity
    label: str  # the name assigned to, or the detector's type: never the value
    value: str  # masked before it leaves the module
    detector: str = "siaga"  # or "detect-secrets"


def _is_config(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1].lower()
    return (
        name in _CONFIG_NAMES
        or name.startswith((".env", "dockerfile", "docker-compose", "compose."))
        or os.path.splitext(name)[1] in _CONFIG_EXTENSIONS
    )


def _read_value(rest: str, *, config: bool) -> str | None:
    """Given the text after an assignment's operator, the literal assigned, or None when there is none."""
    match = re.match(r"[rRbBuUfF]{0,2}(['\"`])", rest)
    if match:
        quote, i, out = match.group(1), match.end(), []
        while i < len(rest):
            if rest[i] == "\\" and i + 1 < len(rest):
                out.append(rest[i + 1])
                i += 2
            elif rest[i] == quote:
                value = "".join(out)
                return "{x}" if "f" in match.group(0).lower() and "{" in value else value
            else:
                out.append(rest[i])
                i += 1
        return None  # unterminated: a multi-line string, or no string at all
    if not config or rest[:1] in ("|", ">", "{", "[", "*", "&", "("):
        return None  # in code only a string literal is a literal; YAML blocks and collections go unjudged
    return re.sub(r"^!!\w+\s+", "", rest.split(" #", 1)[0]).strip()


def _candidate_lines(text: str, lines: list[str]) -> Iterator[tuple[int, str]]:
    """(number, line) of every line that may name a credential, in order."""
    number, pos, last = 1, 0, 0
    for match in _CANDIDATE.finditer(text):
        number += text.count("\n", pos, match.start())
        pos = match.start()
        if number != last:
            last = number
            yield number, lines[number - 1]


def _literal_credentials(rel: str, lines: list[str]) -> tuple[list[_Hit], dict[int, str]]:
    """Given a file's path and lines, Siaga's literal-credential hits and each judged line's status:
    ``flagged``, ``cleared`` (a credential from a reference or a placeholder) or ``about`` (no credential)."""
    config = _is_config(rel)
    docker = rel.rsplit("/", 1)[-1].lower().startswith(("dockerfile", "containerfile"))
    hits: list[_Hit] = []
    status: dict[int, str] = {}

    def judge(number: int, name: str, value: str | None, label: str | None = None) -> None:
        naming = _naming(name)
        if naming is None or value is None:
            return
        words = _words(name)
        if naming == "about" or not _is_literal(value, words, strict=config):
            if status.get(number) != "flagged":
                status[number] = naming if naming == "about" else "cleared"
            return
        critical = bool(_CLOUD_WORDS & set(words)) or "private" in words
        severity = Severity.CRITICAL if critical else Severity.HIGH
        hits.append(_Hit(number, "secrets.literal-credential", severity, label or name, value.strip()))
        status[number] = "flagged"

    for number, line in _candidate_lines("\n".join(lines), lines):
        for m in _URL.finditer(line):
            judge(number, "password", unquote(m["pw"]), f"{m['scheme']}://{m['user']}:…@{m['host']}")
        for m in _QUERY.finditer(line):
            safe = _URL_SAFE.fullmatch(m["value"]) is not None
            judge(number, m["key"], unquote(m["value"]) if safe else "", f"?{m['key']}=")
        for m in _ENV_DEFAULT.finditer(line):
            name = m["name"] or m["jsname"] or m["shname"]
            value = m["value"] if m["name"] else m["jsvalue"] if m["jsname"] else m["shvalue"]
            judge(number, name, value, f"{name} (default)")
        found = [_CONFIG_ASSIGN.match(line)] if config else list(_CODE_ASSIGN.finditer(line))
        for m in filter(None, found):
            judge(number, m["key"], _read_value(line[m.end() :], config=config))
        if docker and (env := _DOCKER_ENV.match(line)):
            judge(number, env["key"], _read_value(env["value"], config=True))
        if config:
            for m in _FLAG.finditer(line):
                judge(number, m["key"], m["value"].strip("\"'"), f"--{m['key']}")
            named = _YAML_NAME.match(line)
            if named and number < len(lines) and (value_line := _YAML_VALUE.match(lines[number])):
                judge(number + 1, named["name"], _read_value(value_line["value"], config=True))
    return hits, status


# ---- detect-secrets' hits, as Siaga judges them -------------------------------------------------------

_DIGEST_CONTEXT = re.compile(r"(?i)sha\d*|md5|hash|digest|checksum|integrity|etag|fingerprint|commit|\brev\b")


def _is_plain_data(value: str) -> bool:
    """Whether a high-entropy string is base64 of plain text, or an alphabet (26+ distinct characters)."""
    if len(value) >= 26 and len(set(value)) == len(value):
        return True
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) > 0 and sum(32 <= b < 127 or b in (9, 10, 13) for b in raw) / len(raw) > 0.95


def _detect_secrets_hits(path: str, rel: str, lines: list[str], status: dict[int, str]) -> Iterator[_Hit]:
    strict = _is_config(rel)
    for secret in scan_file(path):
        value, number, kind = secret.secret_value or "", secret.line_number, secret.type
        line, judged = lines[number - 1] if 0 < number <= len(lines) else "", status.get(number)
        if _is_placeholder(value):
            continue
        if kind in _ENTROPY | _LITERAL and judged in ("cleared", "about"):
            continue  # Siaga's rule read this line's credential as a reference, or as no credential
        if kind in _LITERAL and not _is_literal(value, [], strict=strict):
            continue
        if kind in _ENTROPY and judged != "flagged":
            # Digests, commit ids, alphabets and base64 of plain text are high-entropy but no secrets.
            if _DIGEST_CONTEXT.search(line) or _is_plain_data(value):
                continue
            if kind == "Hex High Entropy String" and not _CANDIDATE.search(line):
                continue
        if kind == "Private Key":
            rule, severity = "secrets.private-key", Severity.CRITICAL
        elif kind in _CLOUD:
            rule, severity = "secrets.cloud-key", Severity.CRITICAL
        elif kind == "JSON Web Token":
            rule, severity = "secrets.jwt", Severity.HIGH
        elif kind in _LITERAL:
            rule, severity = "secrets.literal-credential", Severity.HIGH
        elif kind in _ENTROPY:
            rule, severity = "secrets.high-entropy-string", Severity.HIGH
        else:
            rule, severity = "secrets.service-token", Severity.HIGH
        yield _Hit(number, rule, severity, kind, value, "detect-secrets")


# ---- findings -----------------------------------------------------------------------------------------


def mask(value: str) -> str:
    """Given a secret, what may be shown of it: its first 2 characters (none under 8) and its length."""
    return f"{value[:2] if len(value) >= 8 else ''}… ({len(value)} chars)"


def _finding(rel: str, hit: _Hit, others: int) -> Finding:
    if hit.detector == "siaga":
        message, evidence = f"{hit.label}: a literal credential, not read from the environment", " ="
    else:
        message, evidence = f"{hit.label}, found by detect-secrets", ":"
    also = f" (and {others} other rule{'s' if others > 1 else ''} on this line)" if others else ""
    return Finding(
        rule=hit.rule,
        area="secrets",
        severity=hit.severity,
        location=f"{rel}:{hit.line}",
        message=message + also,
        evidence=f"{hit.label}{evidence} {mask(hit.value)}",
        fix=_FIX,
    )


def _unreadable(rel: str, error: OSError) -> Finding:
    return Finding(
        rule="secrets.unreadable",
        area="secrets",
        severity=Severity.LOW,
        location=f"{rel}:0",
        message="could not be read, so its secrets were not checked",
        evidence=error.strerror or type(error).__name__,
        fix="Let the audit read it, or exclude it explicitly",
    )


def _scan_file(root: str, rel: str) -> list[Finding]:
    """Given the root and a file's path under it, the file's findings (one per line, the strongest)."""
    path = os.path.join(root, rel)
    if os.path.splitext(rel)[1].lower() in IGNORED_FILE_EXTENSIONS or is_lock_file(rel):
        return []
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        return [_unreadable(rel, error)]
    if b"\0" in data[:8192]:
        return []
    try:  # line numbers as detect-secrets counts them (universal newlines)
        lines = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    except UnicodeDecodeError:
        return []  # detect-secrets skips what is not UTF-8 text too
    hits, status = _literal_credentials(rel, lines)
    if "swagger" not in rel:
        hits.extend(_detect_secrets_hits(path, rel, lines, status))
    by_line: dict[int, list[_Hit]] = {}
    for hit in hits:
        by_line.setdefault(hit.line, []).append(hit)
    findings = []
    for line_hits in by_line.values():
        best = min(line_hits, key=lambda h: (-h.severity, _RANK[h.rule], h.detector != "siaga"))
        findings.append(_finding(rel, best, len({h.rule for h in line_hits} - {best.rule})))
    return findings


def _scan_batch(root: str, rels: list[str]) -> list[Finding]:
    return [finding for rel in rels for finding in _scan_file(root, rel)]


def _configure_worker() -> None:
    get_settings().clear()
    configure_settings_from_baseline(_DETECT_SECRETS)


def _walk(root: Path, exclude: tuple[str, ...], max_bytes: int) -> Iterator[tuple[str, int] | Finding]:
    """Files to scan under ``root`` as (path, size), and a finding for each path that cannot be read."""
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        try:
            with os.scandir(root / rel_dir) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as error:
            yield _unreadable(rel_dir or ".", error)
            continue
        if rel_dir and any(e.name == "pyvenv.cfg" for e in entries):
            continue
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if any(fnmatch.fnmatch(entry.name, p) or fnmatch.fnmatch(rel, p) for p in exclude):
                continue
            try:
                if entry.is_symlink():
                    continue  # its target, when inside the tree, is scanned under its own path
                if entry.is_dir(follow_symlinks=False):
                    pending.append(rel)
                elif entry.is_file(follow_symlinks=False):
                    size = entry.stat(follow_symlinks=False).st_size
                    if 0 < size <= max_bytes:
                        yield rel, size
            except OSError as error:
                yield _unreadable(rel, error)


def _batches(files: list[tuple[str, int]], budget: int = 256 * 1024) -> list[list[str]]:
    """Files grouped into batches of about ``budget`` bytes (so a process pool balances and talks little)."""
    batches: list[list[str]] = [[]]
    size = 0
    for rel, file_size in files:
        if batches[-1] and (size + file_size > budget or len(batches[-1]) >= 256):
            batches.append([])
            size = 0
        batches[-1].append(rel)
        size += file_size
    return [b for b in batches if b]


_IN_PROCESS = threading.Lock()  # detect-secrets' settings are process-global


def _scan_in_process(root: str, batches: list[list[str]]) -> list[Finding]:
    with _IN_PROCESS, transient_settings(_DETECT_SECRETS):
        return [finding for batch in batches for finding in _scan_batch(root, batch)]


def _scan_in_pool(root: str, batches: list[list[str]], workers: int) -> list[Finding]:
    """Batches over a pool of ``workers`` processes; what a broken pool leaves is scanned in this one."""
    findings: list[Finding] = []
    done = 0
    # forkserver: no fork of a process that may have threads; workers start from a clean server.
    context = multiprocessing.get_context("forkserver")
    try:
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_configure_worker) as pool:
            for result in pool.map(_scan_batch, repeat(root), batches):
                findings.extend(result)
                done += 1
    except BrokenProcessPool:
        # A worker could not start (a __main__ that cannot be imported again, e.g. `python - < x`) or died.
        findings.extend(_scan_in_process(root, batches[done:]))
    return findings


_PARALLEL_FROM_BYTES = 512 * 1024


def scan_tree(
    root: Path,
    *,
    exclude: Iterable[str] = DEFAULT_EXCLUDE,
    max_bytes: int = MAX_FILE_BYTES,
    workers: int | None = None,
) -> list[Finding]:
    """Given a directory, the secrets findings of its files, sorted by location; a path it cannot read is a
    ``secrets.unreadable`` finding, never an exception. ``workers``: processes to scan with (default: one
    per core, or this process alone for a tree under 512 KiB)."""
    root = Path(root)
    findings: list[Finding] = []
    files: list[tuple[str, int]] = []
    for item in _walk(root, tuple(exclude), max_bytes):
        if isinstance(item, Finding):
            findings.append(item)
        else:
            files.append(item)
    batches = _batches(files)
    if workers is None:
        big = sum(size for _, size in files) >= _PARALLEL_FROM_BYTES
        workers = len(os.sched_getaffinity(0)) if big else 1
    if workers > 1 and len(batches) > 1:
        findings.extend(_scan_in_pool(str(root), batches, workers))
    else:
        findings.extend(_scan_in_process(str(root), batches))
    return sorted(findings, key=_location_order)


def _location_order(finding: Finding) -> tuple[str, int]:
    path, _, line = finding.location.rpartition(":")
    return path, int(line)
