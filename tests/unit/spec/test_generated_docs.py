"""The committed JSON Schema and reference are what the models generate today."""

from __future__ import annotations

import json
from pathlib import Path

import siaga.spec
from siaga.spec.docs import SECTIONS, render_reference, render_schema

ROOT = Path(__file__).resolve().parents[3]
HINT = "run: .venv/bin/python scripts/gen_spec_docs.py"


def test_schema_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "schema" / "siaga.schema.json").read_text(encoding="utf-8")
    assert committed == render_schema(), HINT


def test_reference_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "spec-reference.md").read_text(encoding="utf-8")
    assert committed == render_reference(), HINT


def test_schema_uses_aliases_and_hides_nothing_secret() -> None:
    schema = json.loads(render_schema())
    assert "continue" in schema["$defs"]["Route"]["properties"]
    assert "continue_" not in schema["$defs"]["Route"]["properties"]
    assert schema["properties"]["version"]["const"] == 1


def test_every_field_is_described() -> None:
    for model in SECTIONS:
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"


def test_public_api() -> None:
    contract = {
        "load_spec",
        "parse_spec",
        "Spec",
        "SpecError",
        "SpecIssue",
        "parse_duration",
        "format_duration",
    }
    assert contract <= set(siaga.spec.__all__)
    assert sorted(siaga.spec.__all__) == siaga.spec.__all__
    for name in siaga.spec.__all__:
        assert hasattr(siaga.spec, name)
