"""On-call rotations as arithmetic: who is on call at an instant, the shifts of a range, with overrides.

Hand-offs happen at local wall time in the rotation's zone, so a 09:00 hand-off stays 09:00 across
daylight-saving changes (the shift around the change is an hour shorter or longer). Shift ``n`` begins at
``first hand-off + n * step`` on the wall clock (step: one day, seven days or ``shift_length``) and belongs to
``members[n % len(members)]``; the index of the shift containing an instant is computed, never iterated to.

Overrides replace the rotation for their span; where overrides overlap, the later-created one (higher
``id``; an unsaved override, ``id`` None, counts as newest) wins. Times given and returned are aware UTC.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from siaga.spec.calendar import parse_handoff
from siaga.spec.models import Schedule

DEFAULT_START = date(2024, 1, 1)  # a Monday
# How far on_call and next_handoff look for the ends of one person's run of shifts: the run of a rotation of
# one person (or of a very long override) is cut at the hand-offs just past this, either side of the instant.
HORIZON = timedelta(days=366)


def wall_time_to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """Given a naive wall-clock time in ``tz``, return the UTC instant it names.

    An ambiguous time (clocks going back) is its first occurrence; a time the clocks skipped is the instant of
    the change, as cron does. So a later wall time never maps to an earlier instant.
    """
    utc = local.replace(tzinfo=tz).astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) == local:
        return utc
    # Skipped: fold=1 reads it with the offset after the change (an instant before it), fold=0 with the offset
    # before (an instant after it). Zone changes fall on whole seconds: bisect between the two.
    before = math.floor(local.replace(tzinfo=tz, fold=1).timestamp())
    after = math.ceil(utc.timestamp())
    offset = datetime.fromtimestamp(before, tz).utcoffset()
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == offset:
            before = middle
        else:
            after = middle
    return datetime.fromtimestamp(after, UTC)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at.isoformat()}: pass an aware (UTC) datetime")
    return at.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Rotation:
    """A schedule as data: who takes turns, in what order, at which local hand-off time, since when."""

    name: str
    kind: Literal["daily", "weekly", "custom"]
    members: tuple[str, ...]
    handoff_weekday: int | None  # 0 = Monday; weekly rotations (custom ones may have it too)
    handoff_time: time
    shift_length: timedelta | None  # custom rotations only
    tz: ZoneInfo
    start: date = DEFAULT_START
    # Derived once: on_call runs for every page, so it should not recompute them.
    _first: datetime = field(init=False, repr=False, compare=False)
    _step: timedelta = field(init=False, repr=False, compare=False)
    _reach: int = field(init=False, repr=False, compare=False)
    _solo: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError(f"rotation '{self.name}' has no members")
        if self.kind == "weekly" and self.handoff_weekday is None:
            raise ValueError(f"weekly rotation '{self.name}' needs a hand-off weekday")
        if self.kind == "custom":
            if self.shift_length is None or self.shift_length <= timedelta(0):
                raise ValueError(f"custom rotation '{self.name}' needs a positive shift_length")
            step = self.shift_length
        else:
            step = timedelta(days=1 if self.kind == "daily" else 7)
        day = self.start
        if self.handoff_weekday is not None:
            day += timedelta(days=(self.handoff_weekday - day.weekday()) % 7)
        object.__setattr__(self, "_first", datetime.combine(day, self.handoff_time.replace(tzinfo=None)))
        object.__setattr__(self, "_step", step)
        object.__setattr__(self, "_reach", HORIZON // step + 1)
        object.__setattr__(self, "_solo", len(set(self.members)) == 1)

    @classmethod
    def from_spec(cls, name: str, schedule: Schedule, project_timezone: str) -> Rotation:
        """Given a spec schedule and the project's zone (used when the schedule names none)."""
        weekday, at = parse_handoff(schedule.handoff, schedule.rotation)
        return cls(
            name=name,
            kind=schedule.rotation,
            members=tuple(schedule.members),
            handoff_weekday=weekday,
            handoff_time=at,
            shift_length=schedule.shift_length,
            tz=ZoneInfo(schedule.timezone or project_timezone),
            start=schedule.start or DEFAULT_START,
        )

    @property
    def step(self) -> timedelta:
        """Wall-clock time from one hand-off to the next."""
        return self._step

    @property
    def first_handoff(self) -> datetime:
        """When shift 0 (the first member's first) begins, as naive local wall time."""
        return self._first

    def boundary(self, index: int) -> datetime:
        """When shift ``index`` begins (UTC); negative indices are the shifts before ``start``."""
        return wall_time_to_utc(self._first + index * self._step, self.tz)

    def index_at(self, at: datetime) -> int:
        """The index of the shift containing ``at``."""
        return self._locate(_utc(at))[0]

    def _locate(self, at: datetime) -> tuple[int, datetime, datetime]:
        """(index, start, end) of the shift containing ``at`` (UTC)."""
        local = at.astimezone(self.tz).replace(tzinfo=None)
        index = (local - self._first) // self._step
        lo, hi = self.boundary(index), self.boundary(index + 1)
        # The wall-clock estimate is off by at most the zone's offset change (around a DST change).
        while lo > at:
            index -= 1
            lo, hi = self.boundary(index), lo
        while hi <= at:
            index += 1
            lo, hi = hi, self.boundary(index + 1)
        return index, lo, hi

    def member(self, index: int) -> str:
        return self.members[index % len(self.members)]

    def run(self, index: int) -> tuple[int, int]:
        """Indices [first, stop) of the consecutive shifts around ``index`` held by the same person, cut at
        about HORIZON either side (a rotation of one person never hands off)."""
        person, reach = self.member(index), self._reach
        if self._solo:
            return index - reach, index + 1 + reach
        first, stop = index, index + 1
        while self.member(first - 1) == person and first > index - reach:
            first -= 1
        while self.member(stop) == person and stop < index + 1 + reach:
            stop += 1
        return first, stop


@dataclass(frozen=True, slots=True)
class Override:
    """Someone covering a schedule for [starts_at, ends_at); ``id`` orders overrides by creation."""

    id: int | None
    schedule: str
    person: str
    starts_at: datetime
    ends_at: datetime
    created_by: str = ""


@dataclass(frozen=True, slots=True)
class Shift:
    """Who is on call for [starts_at, ends_at), and whether an override put them there."""

    person: str
    starts_at: datetime
    ends_at: datetime
    override: bool

    def covers(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


def _in_utc(override: Override) -> Override:
    if override.starts_at.tzinfo is UTC and override.ends_at.tzinfo is UTC:
        return override
    return replace(override, starts_at=_utc(override.starts_at), ends_at=_utc(override.ends_at))


def _precedence(rotation: Rotation, overrides: Sequence[Override]) -> list[Override]:
    """This rotation's non-empty overrides in UTC, lowest precedence first (so each paints over the last)."""
    mine = [_in_utc(o) for o in overrides if o.schedule == rotation.name and o.ends_at > o.starts_at]
    return sorted(mine, key=lambda o: (o.id is None, o.id or 0))  # stable: equal ids keep the given order


def _rotation_pieces(rotation: Rotation, start: datetime, end: datetime) -> list[Shift]:
    """The rotation alone over [start, end), a piece per run of one person (long runs cut, to be merged)."""
    pieces: list[Shift] = []
    index, cursor = rotation._locate(start)[0], start
    while cursor < end:
        stop = rotation.run(index)[1]
        until = min(rotation.boundary(stop), end)
        pieces.append(Shift(rotation.member(index), cursor, until, False))
        index, cursor = stop, until
    return pieces


def _paint(pieces: list[Shift], override: Override) -> list[Shift]:
    painted: list[Shift] = []
    for piece in pieces:
        if piece.ends_at <= override.starts_at or piece.starts_at >= override.ends_at:
            painted.append(piece)
            continue
        if piece.starts_at < override.starts_at:
            painted.append(replace(piece, ends_at=override.starts_at))
        lo, hi = max(piece.starts_at, override.starts_at), min(piece.ends_at, override.ends_at)
        painted.append(Shift(override.person, lo, hi, True))
        if piece.ends_at > override.ends_at:
            painted.append(replace(piece, starts_at=override.ends_at))
    return painted


def _shifts(rotation: Rotation, ordered: list[Override], start: datetime, end: datetime) -> list[Shift]:
    pieces = _rotation_pieces(rotation, start, end)
    for override in ordered:
        if override.starts_at < end and override.ends_at > start:
            pieces = _paint(pieces, override)
    merged: list[Shift] = []
    for piece in pieces:
        if piece.starts_at >= piece.ends_at:
            continue  # a shift the clocks skipped entirely
        last = merged[-1] if merged else None
        if last is not None and (last.person, last.override) == (piece.person, piece.override):
            merged[-1] = replace(last, ends_at=piece.ends_at)
        else:
            merged.append(piece)
    return merged


def shifts(rotation: Rotation, overrides: Sequence[Override], start: datetime, end: datetime) -> list[Shift]:
    """Given a range, return its shifts in order, covering [start, end) with no gap or overlap.

    Overrides cut into the rotation (the later-created wins where two overlap); consecutive pieces with the
    same person and the same ``override`` flag are merged, so an override for the person already on call
    still shows as its own shift. Raises ValueError for naive datetimes.
    """
    start, end = _utc(start), _utc(end)
    if end <= start:
        return []
    return _shifts(rotation, _precedence(rotation, overrides), start, end)


def on_call(rotation: Rotation, overrides: Sequence[Override], at: datetime) -> Shift:
    """The shift containing ``at``, whole: what ``shifts`` returns around ``at`` over any wide enough range
    (a run of one person is cut at the hand-offs just beyond HORIZON either side)."""
    at = _utc(at)
    index, lo, hi = rotation._locate(at)
    first, stop = rotation.run(index)
    lo = lo if first == index else rotation.boundary(first)
    hi = hi if stop == index + 1 else rotation.boundary(stop)
    mine = [o for o in overrides if o.schedule == rotation.name]
    if not any(o.starts_at < hi and o.ends_at > lo and o.ends_at > o.starts_at for o in mine):
        return Shift(rotation.member(index), lo, hi, False)
    # Overrides touch this run: let _shifts decide, widening the range until the shift stops short of it.
    ordered = _precedence(rotation, mine)
    floor = rotation.boundary(index - rotation._reach)
    ceiling = rotation.boundary(index + 1 + rotation._reach)
    covering = [o for o in ordered if o.starts_at <= at < o.ends_at]
    lo = max(floor, min([lo, *(o.starts_at for o in covering)]))
    hi = min(ceiling, max([hi, *(o.ends_at for o in covering)]))
    while True:
        piece = next(p for p in _shifts(rotation, ordered, lo, hi) if p.covers(at))
        wider_lo = max(floor, lo - (hi - lo)) if piece.starts_at == lo else lo
        wider_hi = min(ceiling, hi + (hi - lo)) if piece.ends_at == hi else hi
        if (wider_lo, wider_hi) == (lo, hi):
            return piece
        lo, hi = wider_lo, wider_hi


def next_handoff(rotation: Rotation, overrides: Sequence[Override], at: datetime) -> Shift:
    """The first shift after the one containing ``at`` whose person differs from it; when nobody else is on
    call within HORIZON (a rotation of one person), the current shift."""
    current = on_call(rotation, overrides, at)
    cursor, limit = current.ends_at, _utc(at) + HORIZON
    while cursor < limit:
        following = on_call(rotation, overrides, cursor)
        if following.person != current.person:
            return following
        cursor = following.ends_at
    return current
