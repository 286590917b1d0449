"""One simulated week of on-call on the virtual clock: a weekly rotation, an override, 200 incidents that
page the on-call person and are acknowledged — through ingest, escalation, outbox and dispatcher on SQLite.

    .venv/bin/python bench/oncall_week.py [--runs 3]

Goal (paging issue): under 5 s. The behaviour is tested in tests/integration/test_paging_properties.py;
this script times the same simulation.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import FRAGMENT, SPEC_ENV  # noqa: E402
from tests.integration.test_paging_properties import simulate_week  # noqa: E402

from siaga.spec import load_spec  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    spec = load_spec(FRAGMENT, env=SPEC_ENV)
    times = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as directory:
            week = simulate_week(spec, Path(directory))
        times.append(week.elapsed)
        print(f"simulated {week.covered} with 200 incidents in {week.elapsed:.2f} s", flush=True)
    print(f"median {statistics.median(times):.2f} s (goal < 5 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
