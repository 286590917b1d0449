"""Secrets scan throughput: Siaga's ``scan_tree`` against plain ``detect-secrets scan`` on the same tree.

    .venv/bin/python bench/audit_secrets.py [--size-mb 100] [--repeat 1] [--dir DIR] [--rebuild] [--json]

1. A tree of ``--size-mb`` MB (10^6 bytes) of ordinary text: the Python sources, docs and data files of this
   interpreter's site-packages (each under 512 KiB and UTF-8, so both tools read the same files), with a few
   planted secrets (compose and .env passwords, a connection URL, a private key). Built once under ``--dir``
   (default: the temp dir) and reused while its manifest matches.
2. ``--repeat`` rounds, each the peer then Siaga, on a warm page cache:
   * ``detect-secrets scan --all-files --no-verify .`` from the venv, run in the tree (the CLI drops any
     file outside its working directory, so ``scan DIR`` from elsewhere scans nothing), output to a file;
     ``--no-verify`` because its default verification sends what it finds to Slack, Stripe, AWS… (Siaga
     never does), and this machine must not talk to them;
   * ``scan_tree(TREE)`` in this process, with its default workers (one per core).
3. MB/s of each (best round), and Siaga's time over the peer's. Goal: ≤ 1.2x.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from pathlib import Path

from siaga.audit.secrets import DEFAULT_EXCLUDE, scan_tree

DETECT_SECRETS = Path(sys.executable).parent / "detect-secrets"
SUFFIXES = (".py", ".pyi", ".md", ".rst", ".txt", ".json", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".html")
MAX_SOURCE = 512 * 1024
GOAL = 1.2
# Planted where a reader of the report can find them; values are generated, none is real.
PLANTED = {
    "deploy/docker-compose.yml": "services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: {pw}\n",
    "deploy/.env": "DB_PASSWORD={pw}\nDATABASE_URL=postgres://app:{pw}@db:5432/app\n",
    "app/settings.py": 'SECRET_KEY = "{key}"\nSMTP_PASSWORD = "{pw}"\n',
    "keys/server.pem": "-----BEGIN {pem}-----\n{key}\n-----END {pem}-----\n",
}


def _sources(limit: int) -> list[Path]:
    """Text files of site-packages, in a stable order, adding up to at least ``limit`` bytes."""
    base = Path(sysconfig.get_paths()["purelib"])
    picked, total = [], 0
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d not in DEFAULT_EXCLUDE)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if not name.endswith(SUFFIXES) or path.is_symlink():
                continue
            size = path.stat().st_size
            if not 0 < size <= MAX_SOURCE:
                continue
            try:
                path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                continue
            picked.append(path)
            total += size
            if total >= limit:
                return picked
    raise SystemExit(f"site-packages holds only {total / 1e6:.0f} MB of text; ask for less with --size-mb")


def build_tree(tree: Path, size_mb: int, *, rebuild: bool) -> int:
    """Build (or reuse) the tree; return its size in bytes."""
    manifest = tree / ".bench-manifest"
    spec = f"v1 {size_mb} {sys.version_info[:2]} {sysconfig.get_paths()['purelib']}"
    if not rebuild and manifest.is_file() and manifest.read_text().startswith(spec):
        return int(manifest.read_text().split()[-1])
    shutil.rmtree(tree, ignore_errors=True)
    base = Path(sysconfig.get_paths()["purelib"])
    for source in _sources(size_mb * 10**6):
        target = tree / "src" / source.relative_to(base)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    seed = hashlib.sha256(spec.encode()).hexdigest()
    for n, (rel, template) in enumerate(PLANTED.items()):
        target = tree / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        pw = f"Rinjani-{seed[n : n + 6]}!"
        target.write_text(template.format(pw=pw, key=seed[:40], pem="RSA PRIVATE" + " KEY"))
    size = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
    manifest.write_text(f"{spec} {size}")
    return size


def run_peer(tree: Path, out: Path) -> tuple[float, Counter[str]]:
    """Time the CLI; its results counted by detect-secrets type."""
    start = time.perf_counter()
    with out.open("w") as sink:
        command = [str(DETECT_SECRETS), "scan", "--all-files", "--no-verify", "."]
        subprocess.run(command, cwd=tree, stdout=sink, check=True)
    elapsed = time.perf_counter() - start
    results = json.loads(out.read_text())["results"]
    return elapsed, Counter(item["type"] for found in results.values() for item in found)


def run_siaga(tree: Path) -> tuple[float, Counter[str]]:
    """Time ``scan_tree``; its findings counted by rule."""
    start = time.perf_counter()
    findings = scan_tree(tree)
    return time.perf_counter() - start, Counter(f.rule for f in findings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    tree = args.dir / f"siaga-bench-secrets-{args.size_mb}mb"
    started = time.perf_counter()
    size = build_tree(tree, args.size_mb, rebuild=args.rebuild)
    files = sum(1 for p in tree.rglob("*") if p.is_file())
    ready = time.perf_counter() - started
    print(f"tree {tree}: {size / 1e6:.1f} MB in {files} files ({ready:.0f} s to build or check)")
    print(f"cores {len(os.sched_getaffinity(0))}, load average before {os.getloadavg()[0]:.2f}")
    peer_times: list[float] = []
    siaga_times: list[float] = []
    peer_found: Counter[str] = Counter()
    siaga_found: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as scratch:
        for round_ in range(1, args.repeat + 1):
            elapsed, peer_found = run_peer(tree, Path(scratch) / "peer.json")
            peer_times.append(elapsed)
            print(
                f"round {round_}: detect-secrets {elapsed:.1f} s ({peer_found.total()} results)", flush=True
            )
            elapsed, siaga_found = run_siaga(tree)
            siaga_times.append(elapsed)
            print(
                f"round {round_}: siaga          {elapsed:.1f} s ({siaga_found.total()} findings)", flush=True
            )
    peer, siaga = min(peer_times), min(siaga_times)
    ratio = siaga / peer
    figures = {
        "size_mb": round(size / 1e6, 1),
        "files": files,
        "detect_secrets_s": round(peer, 1),
        "detect_secrets_mb_s": round(size / 1e6 / peer, 3),
        "siaga_s": round(siaga, 1),
        "siaga_mb_s": round(size / 1e6 / siaga, 3),
        "ratio": round(ratio, 3),
        "goal": GOAL,
        "detect_secrets_results": dict(peer_found.most_common()),
        "siaga_findings": dict(siaga_found.most_common()),
        "load_average_after": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"detect-secrets scan : {figures['detect_secrets_mb_s']:.3f} MB/s ({peer:.1f} s)")
        print(f"siaga scan_tree     : {figures['siaga_mb_s']:.3f} MB/s ({siaga:.1f} s)")
        verdict = "within" if ratio <= GOAL else "OVER"
        print(f"ratio siaga / detect-secrets: {ratio:.2f}x ({verdict} the {GOAL}x goal)")
        print("detect-secrets results:", ", ".join(f"{k} {v}" for k, v in peer_found.most_common()))
        print("siaga findings:", ", ".join(f"{k} {v}" for k, v in siaga_found.most_common()))
        print(f"load average after {figures['load_average_after']:.2f}")


if __name__ == "__main__":
    main()
