"""The container and nginx rules against a planted corpus: every bad case breaks one rule, its good twin is
the same files with that one thing fixed.

Each case is ``corpus/<area>/<case>/{bad,good}/``; the audit runs on the directory, so discovery (file names,
includes, a compose service's Dockerfile) is exercised too. Recall is the share of bad cases whose rule is
found in the expected file; good-twin pass the share of twins where that rule stays silent.
"""

from __future__ import annotations

import re
from pathlib import Path

from siaga.audit import containers, nginx
from siaga.domain.audit import Finding

CORPUS = Path(__file__).parent / "corpus"
DOCS = Path(__file__).resolve().parents[3] / "docs" / "audit-containers-nginx.md"
PUSTANI = {"X-Frame-Options": "SAMEORIGIN", "X-XSS-Protection": "1; mode=block"}

# (area, case, the rule the bad case breaks, the file its finding must point into)
CASES: list[tuple[str, str, str, str]] = [
    ("containers", "compose-user-missing", "containers.root-user", "compose.yaml"),
    ("containers", "compose-user-root", "containers.root-user", "compose.yaml"),
    ("containers", "compose-user-zero", "containers.root-user", "docker-compose.yml"),
    ("containers", "compose-no-memory-limit", "containers.no-memory-limit", "compose.yaml"),
    ("containers", "compose-no-memory-legacy", "containers.no-memory-limit", "compose.yaml"),
    ("containers", "compose-no-cpu-limit", "containers.no-cpu-limit", "compose.yaml"),
    ("containers", "compose-no-limits", "containers.no-memory-limit", "db.compose.yml"),
    ("containers", "compose-no-healthcheck", "containers.no-healthcheck", "compose.yaml"),
    ("containers", "compose-healthcheck-disabled", "containers.no-healthcheck", "docker-compose.yml"),
    ("containers", "compose-docker-sock", "containers.docker-socket", "compose.yaml"),
    ("containers", "compose-docker-sock-long", "containers.docker-socket", "compose.yaml"),
    ("containers", "compose-db-port-short", "containers.database-port-public", "docker-compose.yml"),
    ("containers", "compose-db-port-any", "containers.database-port-public", "docker-compose.yml"),
    ("containers", "compose-db-port-remapped", "containers.database-port-public", "docker-compose.yml"),
    ("containers", "compose-db-port-long", "containers.database-port-public", "compose.yaml"),
    ("containers", "compose-db-port-ipv6", "containers.database-port-public", "compose.yaml"),
    ("containers", "compose-db-port-bare", "containers.database-port-public", "docker-compose.yml"),
    ("containers", "compose-image-latest", "containers.unpinned-image", "docker-compose.yml"),
    ("containers", "compose-image-untagged", "containers.unpinned-image", "compose.yaml"),
    ("containers", "compose-image-registry-port", "containers.unpinned-image", "compose.yaml"),
    ("containers", "compose-image-floating", "containers.unpinned-image", "compose.yaml"),
    ("containers", "compose-image-variable", "containers.unpinned-image", "compose.yaml"),
    ("containers", "compose-privileged", "containers.privileged", "compose.yaml"),
    ("containers", "compose-host-network", "containers.host-network", "compose.yaml"),
    ("containers", "compose-cap-all", "containers.dangerous-capability", "compose.yaml"),
    ("containers", "compose-cap-sys-admin", "containers.dangerous-capability", "compose.yaml"),
    ("containers", "compose-writable-root", "containers.writable-root-fs", "compose.yaml"),
    ("containers", "compose-anchor-root", "containers.root-user", "compose.yaml"),
    ("containers", "compose-unparsable", "containers.unparsable", "compose.yaml"),
    ("containers", "compose-duplicate-key", "containers.unparsable", "compose.yaml"),
    ("containers", "compose-built-no-user", "containers.root-user", "api/Dockerfile"),
    ("containers", "dockerfile-no-user", "containers.root-user", "Dockerfile"),
    ("containers", "dockerfile-root-last", "containers.root-user", "Dockerfile"),
    ("containers", "dockerfile-multistage-user", "containers.root-user", "web.Dockerfile"),
    ("containers", "dockerfile-no-healthcheck", "containers.no-healthcheck", "Dockerfile"),
    ("containers", "dockerfile-healthcheck-none", "containers.no-healthcheck", "web.Dockerfile"),
    ("containers", "dockerfile-from-latest", "containers.unpinned-image", "Dockerfile"),
    ("containers", "dockerfile-from-untagged", "containers.unpinned-image", "web.Dockerfile"),
    ("containers", "dockerfile-arg-untagged", "containers.unpinned-image", "web.Dockerfile"),
    ("containers", "dockerfile-unknown-instruction", "containers.unparsable", "Dockerfile"),
    ("containers", "dockerfile-no-from", "containers.unparsable", "Dockerfile"),
    ("nginx", "missing-x-frame-options", "nginx.missing-x-frame-options", "nginx.conf"),
    ("nginx", "wrong-x-frame-options", "nginx.wrong-x-frame-options", "nginx.conf"),
    ("nginx", "missing-x-xss-protection", "nginx.missing-x-xss-protection", "nginx.conf"),
    (
        "nginx",
        "wrong-x-xss-protection",
        "nginx.wrong-x-xss-protection",
        "snippets/security-headers.conf",
    ),
    ("nginx", "missing-x-content-type-options", "nginx.missing-x-content-type-options", "conf.d/shop.conf"),
    ("nginx", "wrong-x-content-type-options", "nginx.wrong-x-content-type-options", "nginx.conf"),
    ("nginx", "missing-hsts", "nginx.missing-strict-transport-security", "nginx.conf"),
    ("nginx", "short-hsts", "nginx.wrong-strict-transport-security", "nginx.conf"),
    ("nginx", "missing-csp", "nginx.missing-content-security-policy", "conf.d/shop.conf"),
    ("nginx", "missing-referrer-policy", "nginx.missing-referrer-policy", "nginx.conf"),
    ("nginx", "location-drops-headers", "nginx.add-header-override", "nginx.conf"),
    ("nginx", "nested-location-drops-headers", "nginx.add-header-override", "conf.d/shop.conf"),
    ("nginx", "server-drops-http-headers", "nginx.add-header-override", "nginx.conf"),
    ("nginx", "header-without-always", "nginx.add-header-without-always", "nginx.conf"),
    ("nginx", "weak-tls-protocols", "nginx.weak-tls-protocols", "nginx.conf"),
    ("nginx", "weak-tls-server-level", "nginx.weak-tls-protocols", "nginx.conf"),
    ("nginx", "ssl-protocols-unset", "nginx.ssl-protocols-unset", "nginx.conf"),
    ("nginx", "server-tokens-missing", "nginx.server-tokens", "conf.d/shop.conf"),
    ("nginx", "server-tokens-on", "nginx.server-tokens", "nginx.conf"),
    ("nginx", "no-rate-limit", "nginx.no-rate-limit", "nginx.conf"),
    ("nginx", "no-rate-limit-zone-only", "nginx.no-rate-limit", "nginx.conf"),
    ("nginx", "undefined-rate-limit-zone", "nginx.undefined-rate-limit-zone", "nginx.conf"),
    ("nginx", "no-https-redirect", "nginx.no-https-redirect", "nginx.conf"),
    ("nginx", "unparsable-missing-semicolon", "nginx.unparsable", "nginx.conf"),
    ("nginx", "unparsable-unclosed-block", "nginx.unparsable", "conf.d/shop.conf"),
    ("nginx", "second-server-without-snippet", "nginx.missing-x-frame-options", "sites-available/pustani"),
    ("nginx", "include-missing", "nginx.include-missing", "conf.d/shop.conf"),
]


def audit(area: str, directory: Path) -> list[Finding]:
    if area == "containers":
        return containers.audit_containers(directory)
    return nginx.audit_nginx(directory, PUSTANI)


def _located_in(finding: Finding, path: Path) -> bool:
    file, _, line = finding.location.rpartition(":")
    if file != str(path) or not line.isdigit():
        return False
    return 1 <= int(line) <= len(path.read_text(encoding="utf-8").splitlines()) + 1


def test_corpus_recall_and_good_twins() -> None:
    missed, wrongly_flagged, noisy, unclean = [], [], [], []
    for area, case, rule, file in CASES:
        bad, good = CORPUS / area / case / "bad", CORPUS / area / case / "good"
        found = audit(area, bad)
        if not any(f.rule == rule and _located_in(f, bad / file) for f in found):
            missed.append(
                f"{case}: {rule} not found in {file} (found {[(f.rule, f.location) for f in found]})"
            )
        if {f.rule for f in found} != {rule}:
            noisy.append(case)
        twin = audit(area, good)
        if any(f.rule == rule for f in twin):
            wrongly_flagged.append(f"{case}: {rule} on the good twin")
        if twin:
            unclean.append(f"{case}: {[(f.rule, f.location) for f in twin]}")
    recall = 1 - len(missed) / len(CASES)
    twin_pass = 1 - len(wrongly_flagged) / len(CASES)
    figures = (
        f"{len(CASES)} bad cases, {len(CASES)} good twins: "
        f"recall {recall:.1%}, good-twin pass {twin_pass:.1%}; "
        f"{len(CASES) - len(noisy)} bad cases break only their rule, "
        f"{len(CASES) - len(unclean)} twins have no finding at all"
    )
    print(figures, *missed, *wrongly_flagged, *unclean, sep="\n")
    assert recall >= 0.95, figures
    assert twin_pass >= 0.95, figures


def test_the_corpus_is_big_enough_and_planted_as_listed() -> None:
    assert len(CASES) >= 30
    assert len({case for _, case, _, _ in CASES}) == len(CASES)
    for area in ("containers", "nginx"):
        listed = {case for a, case, _, _ in CASES if a == area}
        assert listed == {p.name for p in (CORPUS / area).iterdir()}
    for area, case, _, file in CASES:
        assert (CORPUS / area / case / "bad" / file).is_file()
        assert (CORPUS / area / case / "good" / file).is_file()


def test_one_audit_of_the_whole_corpus_flags_only_bad_cases() -> None:
    """Includes, compose builds and discovery across many directories at once, not one case at a time."""
    found = containers.audit_containers(CORPUS / "containers") + nginx.audit_nginx(CORPUS / "nginx", PUSTANI)
    flagged = {Path(f.location.rpartition(":")[0]).relative_to(CORPUS).parts[:3] for f in found}
    assert {kind for _, _, kind in flagged} == {"bad"}
    assert {(area, case) for area, case, _ in flagged} == {(area, case) for area, case, _, _ in CASES}


def test_fix_hints_name_the_directive() -> None:
    found = nginx.audit_nginx(CORPUS / "nginx" / "missing-x-frame-options" / "bad", PUSTANI)
    (finding,) = found
    assert finding.rule == "nginx.missing-x-frame-options"
    assert "X-Frame-Options" in finding.message
    assert 'add_header X-Frame-Options "SAMEORIGIN" always;' in finding.fix
    override = nginx.audit_nginx(CORPUS / "nginx" / "location-drops-headers" / "bad", PUSTANI)
    assert [f.rule for f in override] == ["nginx.add-header-override"]
    assert 'add_header X-XSS-Protection "1; mode=block" always;' in override[0].fix


def test_malformed_files_are_findings_with_a_line(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  app:\n    image: [unclosed\n")
    (tmp_path / "Dockerfile").write_bytes(b"FROM debian:12\n\xff\xfe\n")
    (tmp_path / "nginx.conf").write_text("events {}\nhttp {\n  server {\n    listen 80;\n")
    found = containers.audit_containers(tmp_path) + nginx.audit_nginx(tmp_path)
    assert sorted((f.rule, f.location.rpartition("/")[2]) for f in found) == [
        ("containers.unparsable", "Dockerfile:1"),
        ("containers.unparsable", "compose.yaml:4"),
        ("nginx.unparsable", "nginx.conf:4"),
    ]


def test_every_rule_is_documented() -> None:
    documented = set(re.findall(r"`((?:containers|nginx)\.[a-z0-9<>-]+)`", DOCS.read_text(encoding="utf-8")))
    rules = {r.id for r in containers.RULES} | {r.id for r in nginx.RULES}
    assert rules <= documented, rules - documented
    header_rules = {rule for _, _, rule, _ in CASES if rule.startswith(("nginx.missing-", "nginx.wrong-"))}
    assert header_rules
    assert {"nginx.missing-<header>", "nginx.wrong-<header>"} <= documented
