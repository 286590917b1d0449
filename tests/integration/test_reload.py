"""Hot reload: a valid change takes effect; an invalid one is rejected and the running spec stays."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from siaga.bootstrap import Container
from siaga.runtime.reloader import SpecReloader
from tests.conftest import FRAGMENT, SPEC_ENV


@pytest.fixture
def spec_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, container: Container) -> Path:
    for name, value in SPEC_ENV.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "siaga.yaml"
    path.write_text(FRAGMENT.read_text())
    return path


def test_valid_change_is_swapped_in_and_invalid_one_rejected(spec_file: Path, container: Container) -> None:
    reloader = SpecReloader(container, spec_file)
    assert reloader.check() is False  # unchanged
    spec_file.write_text(spec_file.read_text().replace("resolve_after: 5m", "resolve_after: 7m"))
    assert reloader.check() is True
    assert container.policy.resolve_after == timedelta(minutes=7)
    assert container.spec.project.resolve_after == timedelta(minutes=7)

    spec_file.write_text(spec_file.read_text().replace("resolve_after: 7m", "resolve_after: 7 minutes"))
    assert reloader.check() is False
    assert reloader.last_error is not None
    assert f"{spec_file}:6:" in reloader.last_error
    assert "project.resolve_after" in reloader.last_error
    assert container.policy.resolve_after == timedelta(minutes=7)
