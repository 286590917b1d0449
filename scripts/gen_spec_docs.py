"""Write docs/schema/siaga.schema.json and docs/spec-reference.md from the spec models."""

from __future__ import annotations

import sys
from pathlib import Path

from siaga.spec.docs import render_reference, render_schema

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "docs" / "schema" / "siaga.schema.json"
REFERENCE = ROOT / "docs" / "spec-reference.md"


def main() -> int:
    SCHEMA.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA.write_text(render_schema(), encoding="utf-8")
    REFERENCE.write_text(render_reference(), encoding="utf-8")
    sys.stdout.write(f"wrote {SCHEMA.relative_to(ROOT)} and {REFERENCE.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
