"""Errors raised while reading a spec.

Exception tree::

    Exception
     └── SpecError        one or more SpecIssue, each with file:line:col and a dotted path
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class SpecIssue:
    """One problem in a spec file; line and column are 1-based (0 when unknown)."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}:{self.column}: {where}{self.message}"


class SpecError(Exception):
    """A spec that cannot be used; ``issues`` lists every problem found, sorted by position."""

    def __init__(self, issues: list[SpecIssue]) -> None:
        self.issues = sorted(set(issues), key=lambda i: (i.file, i.line, i.column, i.path, i.message))
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(issue) for issue in self.issues)


PathPart = str | int
Path = tuple[PathPart, ...]


def format_path(path: Path) -> str:
    """Given ``("routes", 2, "escalation")``, return ``"routes[2].escalation"``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text
