"""`siaga validate` on every broken spec of the spec tests: exit 2, file:line, field, reason; no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from siaga.cli import main
from tests.unit.spec.test_broken_specs import CASES, ENV, Case


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_validate_exits_2_naming_line_and_field(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    spec = tmp_path / "siaga.yaml"
    spec.write_text(case.text)
    with pytest.raises(SystemExit) as done:
        main(["validate", str(spec)])
    assert done.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"{spec}:{case.line}:" in err
    where = f" {case.path}:" if case.path else ""
    assert f":{where} {case.message}" in err
    assert "Traceback" not in err


def test_validate_accepts_the_demo(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["validate", "examples/demo/siaga.yaml"])
    assert done.value.code == 0
    assert "examples/demo/siaga.yaml: valid" in capsys.readouterr().out
