"""Merging an imported fragment into an existing spec's text, keeping its comments and layout.

New entries are inserted at the end of their section (or a new section is appended); a name that already
exists is a conflict and the spec's own entry stays. Imported routes join only a spec without routes:
appended after existing ones they would never be reached, and put first they would change existing routing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from siaga.importers.report import SourceError

_WIDTH = 4096  # long expressions stay on one line


class _IndentedDumper(yaml.SafeDumper):
    """SafeDumper writing list items indented under their key, as the spec examples do."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True  # a reader wants each route's group_by spelt out, not &id001 / *id001


def dump_yaml(data: Any) -> str:
    """Given plain data, return it as block YAML in the spec's style (keys in the given order)."""
    return yaml.dump(data, Dumper=_IndentedDumper, sort_keys=False, allow_unicode=True, width=_WIDTH)


@dataclass
class MergeOutcome:
    """The merged spec text and what happened: what was added, what conflicted, routes left out."""

    text: str
    added: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    routes_left_out: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Section:
    key: str
    additions: dict[str, Any] | list[Any]
    full: dict[str, Any] | list[Any]


def merge_into_spec(text: str, fragment: dict[str, Any], *, filename: str) -> MergeOutcome:
    """Given a spec's text and an import fragment, return the merged text and what was done.

    Raises SourceError when the spec text is not a YAML mapping.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SourceError(f"{filename}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(root, yaml.MappingNode) or not isinstance(data, dict):
        raise SourceError(f"{filename}: expected a spec (a mapping of sections)")
    outcome = MergeOutcome(text)
    sections: list[_Section] = []
    for key, value in fragment.items():
        existing = data.get(key)
        if key == "channels":
            sections += _named(outcome, key, existing, value, "channel")
        elif key == "rules":
            sections += _listed(outcome, key, existing, value, lambda r: r.get("name"), "rule")
        elif key == "routes":
            if existing:
                outcome.routes_left_out = list(value)
            elif value:
                sections.append(_Section(key, list(value), list(value)))
                outcome.added.append(f"{len(value)} routes")
        elif key == "inhibit":
            sections += _listed(outcome, key, existing, value, lambda r: repr(r), "inhibit rule", quiet=True)
        elif key == "prometheus":
            sections += _prometheus(outcome, existing, value)
        else:
            sections += _listed(outcome, key, existing, value, lambda r: repr(r), key, quiet=True)
    edits = []
    for section in sections:
        edits += _edits(text, root, section, top=True)
    # Applied from the end; at one position, the edit made first must end up first.
    for _, (start, end, replacement) in sorted(enumerate(edits), key=lambda e: (e[1][0], e[0]), reverse=True):
        before = text[:start]
        if start == end and before and not before.endswith("\n") and not replacement.startswith("\n"):
            replacement = "\n" + replacement
        text = before + replacement + text[end:]
    outcome.text = text
    return outcome


def _named(
    outcome: MergeOutcome, key: str, existing: Any, value: dict[str, Any], what: str
) -> list[_Section]:
    have = existing if isinstance(existing, dict) else {}
    new = {}
    for name, item in value.items():
        if name in have:
            outcome.conflicts.append(f"{what} {name} already exists in the spec: kept the spec's")
        else:
            new[name] = item
            outcome.added.append(f"{what} {name}")
    return [_Section(key, new, {**have, **new})] if new else []


def _listed(
    outcome: MergeOutcome,
    key: str,
    existing: Any,
    value: list[Any],
    identity: Any,
    what: str,
    *,
    quiet: bool = False,
) -> list[_Section]:
    have = existing if isinstance(existing, list) else []
    names = {identity(item) for item in have if isinstance(item, dict)}
    new = []
    for item in value:
        name = identity(item)
        if name in names:
            if not quiet:
                outcome.conflicts.append(f"{what} {name} already exists in the spec: kept the spec's")
            continue
        names.add(name)
        new.append(item)
        outcome.added.append(f"{what} {name}" if not quiet else what)
    return [_Section(key, new, [*have, *new])] if new else []


def _prometheus(outcome: MergeOutcome, existing: Any, value: dict[str, Any]) -> list[_Section]:
    have = existing if isinstance(existing, dict) else {}
    additions: dict[str, Any] = {}
    intervals = _as_dict(have.get("group_intervals"))
    new_intervals = {}
    for group, interval in (value.get("group_intervals") or {}).items():
        if group in intervals:
            if str(intervals[group]) != interval:
                outcome.conflicts.append(
                    f"group {group} already has interval {intervals[group]} in the spec: kept the spec's"
                )
        else:
            new_intervals[group] = interval
            outcome.added.append(f"interval of group {group}")
    if new_intervals:
        additions["group_intervals"] = new_intervals
    recorded = _as_list(have.get("recording_rules"))
    names = {(r.get("record"), r.get("group")) for r in recorded if isinstance(r, dict)}
    new_rules = []
    for rule in value.get("recording_rules") or []:
        name = (rule["record"], rule["group"])
        if name in names:
            outcome.conflicts.append(
                f"recording rule {rule['record']} of group {rule['group']} already exists in the spec: "
                "kept the spec's"
            )
        else:
            names.add(name)
            new_rules.append(rule)
            outcome.added.append(f"recording rule {rule['record']}")
    if new_rules:
        additions["recording_rules"] = new_rules
    if not additions:
        return []
    full = {**have, **{k: _joined(have.get(k), v) for k, v in additions.items()}}
    return [_Section("prometheus", additions, full)]


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _joined(old: Any, new: Any) -> Any:
    if isinstance(new, dict):
        return {**(old if isinstance(old, dict) else {}), **new}
    return [*(old if isinstance(old, list) else []), *new]


def _edits(
    text: str, mapping: yaml.MappingNode, section: _Section, *, top: bool = False
) -> list[tuple[int, int, str]]:
    """Text edits that put ``section`` into ``mapping`` (a block mapping of the spec): a new top-level
    section goes at the end of the file, anything else right after the content it follows."""
    found = next(((k, v) for k, v in mapping.value if k.value == section.key), None)
    if found is None:
        indent = mapping.value[0][0].start_mark.column if mapping.value else 0
        at = len(text) if top else _after(text, _content_end(text, mapping))
        return [(at, at, _indented(dump_yaml({section.key: section.additions}), indent))]
    key_node, node = found
    if isinstance(node, yaml.MappingNode) and node.value and not node.flow_style:
        if isinstance(section.additions, dict) and section.key == "prometheus":
            edits = []
            for name, value in section.additions.items():
                full = section.full[name] if isinstance(section.full, dict) else value
                edits += _edits(text, node, _Section(name, value, full))
            return edits
        indent = node.value[0][0].start_mark.column
        at = _after(text, _content_end(text, node))
        return [(at, at, _indented(dump_yaml(section.additions), indent))]
    if isinstance(node, yaml.SequenceNode) and node.value and not node.flow_style:
        first = node.value[0].start_mark
        line_start = text.rfind("\n", 0, first.index) + 1
        indent = text.rfind("-", line_start, first.index) - line_start
        at = _after(text, _content_end(text, node))
        return [(at, at, _indented(dump_yaml(section.additions), indent))]
    # Empty, null or flow style: rewrite this one value as a block.
    block = _indented(dump_yaml(section.full), key_node.start_mark.column + 2).rstrip("\n")
    start = node.start_mark.index
    while start > key_node.end_mark.index and text[start - 1] in " \t":
        start -= 1
    return [(start, node.end_mark.index, "\n" + block)]


def _content_end(text: str, node: yaml.Node) -> int:
    """Index just past the last character a node's content takes (block ends reach past comments)."""
    if isinstance(node, yaml.MappingNode) and node.value and not node.flow_style:
        key, value = node.value[-1]
        return _content_end(text, value) if value.end_mark.index > key.end_mark.index else key.end_mark.index
    if isinstance(node, yaml.SequenceNode) and node.value and not node.flow_style:
        return _content_end(text, node.value[-1])
    return node.end_mark.index


def _after(text: str, index: int) -> int:
    """The start of the line after the one ``index`` ends on (the text's end when it has no more lines)."""
    if index > 0 and text[index - 1] == "\n":
        return index
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def _indented(block: str, indent: int) -> str:
    pad = " " * indent
    return "".join(pad + line if line.strip() else line for line in block.splitlines(keepends=True))
