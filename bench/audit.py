"""The security audit's speed targets, one after the other (issue 8):

- header audit < 50 ms per response          → bench/audit_headers.py
- TLS audit of one host ≤ 10 s, ≤ 50 connections → bench/audit_tls.py
- secrets scan of a 100 MB tree within 1.2 times plain `detect-secrets scan` → bench/audit_secrets.py

Run: .venv/bin/python bench/audit.py  (each script also runs alone, with its own options)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = 0
    for script in ("audit_headers.py", "audit_tls.py", "audit_secrets.py"):
        print(f"\n=== {script}", flush=True)
        failed |= subprocess.run([sys.executable, str(HERE / script)], check=False).returncode
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
