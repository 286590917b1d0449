"""The severity ladder: ordered levels, aliases, response targets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class Level:
    name: str
    rank: int  # 0 is the most urgent
    aliases: tuple[str, ...] = ()
    ack_within: timedelta | None = None
    resolve_within: timedelta | None = None
    escalation: str | None = None
    postmortem_required: bool = False


@dataclass(frozen=True, slots=True)
class Resolution:
    level: Level
    known: bool  # False when the label was missing or named no level; the level is then the least urgent


class Ladder:
    """Severities ordered most urgent first, with case-insensitive lookup by name or alias."""

    def __init__(self, levels: Sequence[Level]) -> None:
        if not levels:
            raise ValueError("a ladder needs at least one level")
        self.levels = tuple(levels)
        self._by_key: dict[str, Level] = {}
        for level in self.levels:
            for key in (level.name, *level.aliases):
                self._by_key[key.casefold()] = level

    @property
    def least_urgent(self) -> Level:
        return self.levels[-1]

    def get(self, name: str) -> Level | None:
        return self._by_key.get(name.casefold())

    def resolve(self, label: str | None) -> Resolution:
        level = self._by_key.get(label.casefold()) if label else None
        if level is None:
            return Resolution(self.least_urgent, known=False)
        return Resolution(level, known=True)

    def more_urgent(self, a: str, b: str) -> str:
        """Return whichever of two level names is more urgent."""
        level_a, level_b = self.get(a), self.get(b)
        rank_a = level_a.rank if level_a else len(self.levels)
        rank_b = level_b.rank if level_b else len(self.levels)
        return a if rank_a <= rank_b else b
