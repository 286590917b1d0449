"""Deterministic YAML for rendered files: keys in the order built, no line wrapping, a fixed header."""

from __future__ import annotations

from typing import Any

import yaml

from siaga.spec.models import Spec


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (PromQL split over lines) as literal blocks, everything else plain; a value
    used twice is written twice (no anchors: the files are read by people too)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(data: Any) -> str:
    text: str = yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1 << 20
    )
    return text


def header(spec: Spec, what: str) -> str:
    return (
        f"# {what} configuration rendered by `siaga render` for project {spec.project.name}.\n"
        "# Edit siaga.yaml and render again; changes made here are overwritten.\n"
    )
