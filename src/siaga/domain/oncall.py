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
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from siaga.spec.calendar import parse_handoff
from siaga.spec.models import Schedule

DEFAULT_START = date(2024, 1, 1)  # a Monday
# How far on_call and next_handoff look for the ends of one person's run of shifts: a rotation of one person
# (or a very long override) is reported as ending at the first hand-off past this.
HORIZON = timedelta(days=366)
_TICK = timedelta(microseconds=1)


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

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError(f"rotation '{self.name}' has no members")
        if self.kind == "custom" and (self.shift_length is None or self.shift_length <= timedelta(0)):
            raise ValueError(f"custom rotation '{self.name}' needs a positive shift_length")
        if self.kind == "weekly" and self.handoff_weekday is None:
            raise ValueError(f"weekly rotation '{self.name}' needs a hand-off weekday")

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
        if self.kind == "custom" and self.shift_length is not None:
            return self.shift_length
        return timedelta(days=1 if self.kind == "daily" else 7)

    @property
    def first_handoff(self) -> datetime:
        """When shift 0 (the first member's first) begins, as naive local wall time."""
        day = self.start
        if self.handoff_weekday is not None:
            day += timedelta(days=(self.handoff_weekday - day.weekday()) % 7)
        return datetime.combine(day, self.handoff_time.replace(tzinfo=None))

    def boundary(self, index: int) -> datetime:
        """When shift ``index`` begins (UTC); negative indices are the shifts before ``start``."""
        return wall_time_to_utc(self.first_handoff + index * self.step, self.tz)

    def index_at(self, at: datetime) -> int:
        """The index of the shift containing ``at``."""
        local = _utc(at).astimezone(self.tz).replace(tzinfo=None)
        index = (local - self.first_handoff) // self.step
        # The wall-clock estimate is off by at most the zone's offset change (around a DST change).
        while self.boundary(index) > at:
            index -= 1
        while self.boundary(index + 1) <= at:
            index += 1
        return index

    def member(self, index: int) -> str:
        return self.members[index % len(self.members)]

    def run(self, index: int) -> tuple[int, int] | None:
        """Indices [first, stop) of the consecutive shifts around ``index`` held by the same person, or None
        when every member is that person (the run never ends)."""
        person = self.member(index)
        if all(member == person for member in self.members):
            return None
        first, stop = index, index + 1
        while self.member(first - 1) == person:
            first -= 1
        while self.member(stop) == person:
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


def _precedence(rotation: Rotation, overrides: Sequence[Override]) -> list[Override]:
    """This rotation's non-empty overrides in UTC, lowest precedence first (so each paints over the last)."""
    mine = [
        Override(o.id, o.schedule, o.person, _utc(o.starts_at), _utc(o.ends_at), o.created_by)
        for o in overrides
        if o.schedule == rotation.name and o.ends_at > o.starts_at
    ]
    return sorted(mine, key=lambda o: (o.id is None, o.id or 0))  # stable: equal ids keep the given order


def _rotation_pieces(rotation: Rotation, start: datetime, end: datetime) -> list[Shift]:
    """The rotation alone over [start, end), one piece per run of the same person."""
    pieces: list[Shift] = []
    index, cursor = rotation.index_at(start), start
    while cursor < end:
        run = rotation.run(index)
        until = end if run is None else min(rotation.boundary(run[1]), end)
        pieces.append(Shift(rotation.member(index), cursor, until, False))
        if run is None:
            break
        index, cursor = run[1], until
    return pieces


def _paint(pieces: list[Shift], override: Override) -> list[Shift]:
    painted: list[Shift] = []
    for piece in pieces:
        if piece.ends_at <= override.starts_at or piece.starts_at >= override.ends_at:
            painted.append(piece)
            continue
        if piece.starts_at < override.starts_at:
            painted.append(Shift(piece.person, piece.starts_at, override.starts_at, piece.override))
        lo, hi = max(piece.starts_at, override.starts_at), min(piece.ends_at, override.ends_at)
        painted.append(Shift(override.person, lo, hi, True))
        if piece.ends_at > override.ends_at:
            painted.append(Shift(piece.person, override.ends_at, piece.ends_at, piece.override))
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
            merged[-1] = Shift(piece.person, last.starts_at, piece.ends_at, piece.override)
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


def _limits(rotation: Rotation, at: datetime) -> tuple[datetime, datetime]:
    """The hand-offs just beyond ``at`` ± HORIZON: how far on_call looks."""
    return (
        rotation.boundary(rotation.index_at(at - HORIZON)),
        rotation.boundary(rotation.index_at(at + HORIZON) + 1),
    )


def _run_span(rotation: Rotation, index: int, at: datetime) -> tuple[datetime, datetime]:
    run = rotation.run(index)
    if run is not None:
        lo, hi = rotation.boundary(run[0]), rotation.boundary(run[1])
        if at - HORIZON <= lo and hi <= at + HORIZON:
            return lo, hi
    floor, ceiling = _limits(rotation, at)
    return (floor, ceiling) if run is None else (max(lo, floor), min(hi, ceiling))


def on_call(rotation: Rotation, overrides: Sequence[Override], at: datetime) -> Shift:
    """The shift containing ``at``, whole: what ``shifts`` returns around ``at`` over any wide enough range
    (a run of one person is cut at the first hand-off more than HORIZON away)."""
    at = _utc(at)
    ordered = _precedence(rotation, overrides)
    index = rotation.index_at(at)
    lo, hi = _run_span(rotation, index, at)
    if not any(o.starts_at < hi and o.ends_at > lo for o in ordered):
        return Shift(rotation.member(index), lo, hi, False)
    # Overrides touch this run: let shifts() decide, widening the range until the shift stops short of it.
    floor, ceiling = _limits(rotation, at)
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
