"""The secrets scan against a planted corpus: recall and precision, masked evidence, what it must not read,
and paths it cannot read."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from siaga.audit.secrets import mask, scan_tree
from siaga.domain.audit import Finding, Severity
from tests.integration.audit.secrets_corpus import Corpus, secrets_corpus_fixture  # noqa: F401 (fixture)

RECALL, PRECISION = 0.95, 0.90


@pytest.fixture(scope="module")
def findings(secrets_corpus: Corpus) -> list[Finding]:
    return scan_tree(secrets_corpus.root)


def _place(finding: Finding) -> tuple[str, int]:
    path, _, line = finding.location.rpartition(":")
    return path, int(line)


def test_corpus_is_big_enough(secrets_corpus: Corpus) -> None:
    assert len(secrets_corpus.planted) >= 100
    assert len(secrets_corpus.decoys) >= 300
    assert len({(p.path, p.line) for p in secrets_corpus.planted}) == len(secrets_corpus.planted)


def test_recall_and_precision(secrets_corpus: Corpus, findings: list[Finding]) -> None:
    planted = {(p.path, p.line): p for p in secrets_corpus.planted}
    decoys = {(d.path, d.line): d for d in secrets_corpus.decoys}
    found = {_place(f): f for f in findings}
    hits = [place for place in found if place in planted]
    missed = [planted[place] for place in planted if place not in found]
    false = [(found[place], decoys.get(place)) for place in found if place not in planted]
    recall, precision = len(hits) / len(planted), len(hits) / max(1, len(found))
    report = (
        f"recall {recall:.1%} (≥ {RECALL:.0%}), precision {precision:.1%} (≥ {PRECISION:.0%}): "
        f"{len(hits)} of {len(planted)} planted found, {len(false)} false of {len(found)} findings "
        f"({len(decoys)} decoys)\n"
        + "".join(f"  missed {p.path}:{p.line} ({p.kind})\n" for p in missed)
        + "".join(f"  false  {f.location} {f.rule} ({d.kind if d else 'not a decoy'})\n" for f, d in false)
    )
    assert recall >= RECALL, report
    assert precision >= PRECISION, report


def test_one_finding_per_line(findings: list[Finding]) -> None:
    assert len({f.location for f in findings}) == len(findings)
    assert all(f.area == "secrets" and f.fix for f in findings)


def test_evidence_never_holds_a_secret(secrets_corpus: Corpus, findings: list[Finding]) -> None:
    values = [p.value for p in secrets_corpus.planted]
    leaks = [
        (f.location, value[:2])
        for f in findings
        for value in values
        if value in f.evidence or value in f.message or value in f.location
    ]
    assert not leaks
    assert all(
        "…" in f.evidence and "chars)" in f.evidence for f in findings if f.rule != "secrets.unreadable"
    )


def test_severity_follows_the_kind(secrets_corpus: Corpus, findings: list[Finding]) -> None:
    by_place = {_place(f): f for f in findings}
    keys = [
        by_place.get((p.path, p.line)) for p in secrets_corpus.planted if p.kind in ("private-key", "aws")
    ]
    assert keys
    assert all(f is not None and f.severity is Severity.CRITICAL for f in keys)
    assert {f.rule for f in findings} >= {
        "secrets.literal-credential",
        "secrets.private-key",
        "secrets.cloud-key",
        "secrets.service-token",
        "secrets.jwt",
        "secrets.high-entropy-string",
    }


def test_never_reads_skipped_places(secrets_corpus: Corpus, findings: list[Finding]) -> None:
    skipped = tuple(secrets_corpus.skipped)
    assert not [f.location for f in findings if f.location.startswith(skipped)]
    assert not [f for f in findings if f.rule == "secrets.unreadable"]


def test_exclude_patterns(secrets_corpus: Corpus) -> None:
    kept = scan_tree(secrets_corpus.root, exclude=("*.pem", "deploy", "config/*"))
    assert kept
    assert not [f for f in kept if f.location.startswith(("deploy/", "config/")) or ".pem:" in f.location]
    # Replacing the defaults drops them: node_modules is then scanned.
    assert any(f.location.startswith("web/node_modules/") for f in kept)


def test_processes_find_what_one_process_finds(secrets_corpus: Corpus, findings: list[Finding]) -> None:
    assert scan_tree(secrets_corpus.root, workers=2) == findings


def test_mask() -> None:
    assert mask("hunter2") == "… (7 chars)"
    assert mask("correct-horse") == "co… (13 chars)"


def _scan_without_read_override(root: Path) -> list[tuple[str, str, str]]:
    """Scan ``root`` in a process that file permissions bind (as root: without CAP_DAC_*)."""
    code = (
        "import json, sys; from pathlib import Path; from siaga.audit.secrets import scan_tree; "
        "print(json.dumps([[f.rule, f.location, f.severity.label] for f in scan_tree(Path(sys.argv[1]))]))"
    )
    command = [sys.executable, "-c", code, str(root)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: permissions cannot bind")
        command = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", *command]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout
    return [tuple(item) for item in json.loads(out)]


def test_unreadable_paths_are_findings(tmp_path: Path) -> None:
    value = "-".join(("kopi", "tubruk", "2024"))
    (tmp_path / "ok.env").write_text("DB_PASSWORD=${DB_PASSWORD}\n")
    locked = tmp_path / "locked.env"
    locked.write_text(f"DB_PASSWORD={value}\n")
    closed = tmp_path / "closed"
    closed.mkdir()
    (closed / "app.py").write_text(f'password = "{value}"\n')
    locked.chmod(0)
    closed.chmod(0)
    try:
        results = _scan_without_read_override(tmp_path)
    finally:
        closed.chmod(0o755)
        locked.chmod(0o644)
    assert sorted(results) == [
        ("secrets.unreadable", "closed:0", "low"),
        ("secrets.unreadable", "locked.env:0", "low"),
    ]


def test_detect_secrets_sees_the_path_from_the_root(tmp_path: Path) -> None:
    # Its swagger filter, given absolute paths, would skip every file of a tree under a "swagger" directory.
    root = tmp_path / "swagger-ui" / "project"
    root.mkdir(parents=True)
    pem = "OPENSSH PRIVATE" + " KEY"
    (root / "server.pem").write_text(f"-----BEGIN {pem}-----\nAAAA\n-----END {pem}-----\n")
    token = base64.b64encode(bytes(range(40))).decode()
    (root / "swagger.json").write_text(f'{{"token": "{token}"}}\n')
    assert [(f.rule, f.location) for f in scan_tree(root)] == [
        ("secrets.private-key", "server.pem:1"),
        ("secrets.literal-credential", "swagger.json:1"),  # Siaga's rule still reads swagger files
    ]


def test_missing_root_is_a_finding(tmp_path: Path) -> None:
    [finding] = scan_tree(tmp_path / "nowhere")
    assert (finding.rule, finding.location) == ("secrets.unreadable", ".:0")
