"""What an import produced and what it could not carry over: the result every importer returns.

Exception tree::

    ValueError
     └── SourceError     the input is not a file of the kind asked for (not YAML, wrong shape, bad PromQL)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class SourceError(ValueError):
    """Malformed input; the message names the file and the place, in one line."""


@dataclass(frozen=True, slots=True)
class Unmapped:
    """Something in the source that has no place in the spec (or only an approximate one), and why."""

    location: str
    reason: str


@dataclass(frozen=True, slots=True)
class Placeholder:
    """A ``${ENV_VAR}`` the fragment uses: what the variable must hold. Never the value itself."""

    env_var: str
    what: str


@dataclass(frozen=True, slots=True)
class Note:
    """Mapped, but worth knowing: a difference in behaviour, a renamed or adjusted item."""

    location: str
    text: str


@dataclass
class ImportResult:
    """A spec fragment (plain data, spec key order) and the report of the import."""

    fragment: dict[str, Any]
    unmapped: list[Unmapped] = field(default_factory=list)
    placeholders: list[Placeholder] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    def placeholder(self, env_var: str, what: str) -> str:
        """Record that ``${env_var}`` must be set (once per variable) and return the reference text."""
        if all(p.env_var != env_var for p in self.placeholders):
            self.placeholders.append(Placeholder(env_var, what))
        return f"${{{env_var}}}"

    def to_json(self) -> dict[str, Any]:
        """The fragment and the report as JSON-able data."""
        return {
            "fragment": self.fragment,
            "placeholders": [{"env_var": p.env_var, "what": p.what} for p in self.placeholders],
            "unmapped": [{"location": u.location, "reason": u.reason} for u in self.unmapped],
            "notes": [{"location": n.location, "text": n.text} for n in self.notes],
        }


def summary(fragment: dict[str, Any]) -> str:
    """Given a fragment, return ``"4 rules, 3 channels, 4 routes"``-style counts of what it holds."""
    parts = []
    for key, what in (
        ("rules", "rule"),
        ("channels", "channel"),
        ("routes", "route"),
        ("inhibit", "inhibit rule"),
    ):
        count = len(fragment.get(key) or ())
        if count or key in fragment:
            parts.append(f"{count} {what}{'' if count == 1 else 's'}")
    prometheus = fragment.get("prometheus") or {}
    recorded = len(prometheus.get("recording_rules") or ())
    if recorded:
        parts.append(f"{recorded} recording rule{'' if recorded == 1 else 's'}")
    return ", ".join(parts) or "nothing"


def format_report(result: ImportResult, title: str) -> str:
    """Given a result and a title (the command and files), return the human-readable report text."""
    lines = [f"{title}: {summary(result.fragment)}"]
    if result.placeholders:
        lines.append("placeholders (the spec reads them from the environment):")
        lines += [f"  set {p.env_var} to {p.what}" for p in result.placeholders]
    if result.unmapped:
        lines.append("not mapped:")
        lines += [f"  {u.location}: {u.reason}" for u in result.unmapped]
    if result.notes:
        lines.append("notes:")
        lines += [f"  {n.location}: {n.text}" for n in result.notes]
    if not (result.placeholders or result.unmapped or result.notes):
        lines.append("everything mapped")
    return "\n".join(lines)
