"""A small spec with checks, on both engines, with a manual clock: the check pipeline without the scheduler."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from siaga.adapters.clock import ManualClock
from siaga.adapters.db.engine import Database
from siaga.bootstrap import Container
from siaga.services.policy import Policy
from siaga.settings import Settings
from siaga.spec import Spec, parse_spec

HEAD = """
version: 1
project: {name: checks-test, timezone: Asia/Jakarta, resolve_after: 5m}
severities:
  - {name: SEV-1, aliases: [critical]}
  - {name: SEV-2, aliases: [warning]}
  - {name: SEV-3, aliases: [info]}
"""


def make_spec(services: str, extra: str = "", env: dict[str, str] | None = None) -> Spec:
    """Given the `services:` section (and other sections) as YAML text, return the spec."""
    return parse_spec(HEAD + services + extra, filename="checks-test.yaml", env=env or {})


@pytest.fixture
def wire(db: Database, clock: ManualClock, tmp_path: Path) -> Callable[[Spec], Container]:
    """Given a spec, return a container on the test database and the manual clock."""

    def build(spec: Spec) -> Container:
        settings = Settings(
            data_dir=tmp_path, database_url=str(db.engine.url), config_path=tmp_path / "siaga.yaml"
        )
        return Container(settings=settings, db=db, clock=clock, spec=spec, policy=Policy.from_spec(spec))

    return build
