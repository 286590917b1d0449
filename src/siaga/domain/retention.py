"""Backup retention as a pure decision: which snapshots a policy keeps, which it forgets, and why.

The semantics are restic's ``forget`` (the classic ones, as in restic up to 0.16 and the Debian 0.14 we run),
with three safety rules of our own. Given snapshots, a ``Policy``, ``now`` and a time zone:

1. Failed snapshots (``ok=False``) are unusable: they are always removed and never count toward any rule.
2. Successful snapshots later than ``now`` (clock skew) are kept and never count toward any rule.
3. The rest — the *counted* snapshots — are sorted newest first, ties broken by id (ascending) so the
   result never depends on input order.
4. ``keep_last n`` keeps the first n counted snapshots.
5. Each bucket rule walks the counted list newest to oldest and keeps a snapshot whenever its bucket differs
   from the last bucket that rule kept, until it has kept n buckets. So it keeps the newest snapshot of each
   of the n most recent buckets *that have a snapshot* (empty hours / days… are skipped, not counted).
   Buckets are read on the wall clock of ``tz``: ``hourly`` = local date and hour (in a repeated hour when
   clocks go back, both real hours are one bucket, as in restic), ``daily`` = local date, ``weekly`` = ISO
   year and week (2024-12-31 is in 2025-W01), ``monthly`` = year and month, ``yearly`` = year.
   (restic reads each snapshot's own recorded zone; we read one project zone, so a fleet agrees.)
6. ``keep_within d`` keeps every counted snapshot strictly younger than ``d`` *measured from the newest
   counted snapshot, not from now* — as restic does, so a job that stopped backing up does not see its last
   good snapshots age out. One exactly ``d`` older than the newest is not kept (restic's ``After``).
7. A snapshot is kept if any rule keeps it; rules are independent (each walks the whole list).
8. The newest counted snapshot is always kept, whatever the policy (restic's own rules already keep it,
   except a zero ``keep_within``; this makes the guarantee unconditional).
9. A policy with no rule keeps every successful snapshot.

Not restic's: restic 0.17 also keeps the oldest snapshot while a bucket rule has counts left; we do not.

Worked example — ``keep_last 2, keep_daily 3, keep_weekly 2, keep_monthly 2`` in UTC::

    id  time (UTC)        ok  kept?  why
    a   2026-11-30 13:00  y   keep   last 2, daily 2026-11-30, weekly 2026-W49, monthly 2026-11
    b   2026-11-30 01:00  y   keep   last 2                  (same day, week and month as a)
    c   2026-11-29 13:00  n   remove failed: never counts
    d   2026-11-29 01:00  y   keep   daily 2026-11-29, weekly 2026-W48
    e   2026-11-28 01:00  y   keep   daily 2026-11-28        (third day: daily is done)
    f   2026-11-22 01:00  y   remove weekly already has 2 weeks, 2026-11 already kept
    g   2026-10-31 01:00  y   keep   monthly 2026-10         (second month: monthly is done)
    h   2026-10-20 01:00  y   remove every rule is done
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from siaga.spec.durations import format_duration

if TYPE_CHECKING:
    from siaga.spec.backups import RetentionPolicy

__all__ = ["Policy", "Selection", "Snapshot", "forget_plan", "select_kept"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One backup: its id, when it was taken (timezone-aware) and whether it succeeded."""

    id: str
    time: datetime
    ok: bool


@dataclass(frozen=True, slots=True)
class Policy:
    """Keep rules; ``None`` means the rule is off. Counts are at least 1, ``keep_within`` is not negative."""

    keep_last: int | None = None
    keep_hourly: int | None = None
    keep_daily: int | None = None
    keep_weekly: int | None = None
    keep_monthly: int | None = None
    keep_yearly: int | None = None
    keep_within: timedelta | None = None

    def __post_init__(self) -> None:
        for name in _COUNT_RULES:
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 (unset turns the rule off), got {value}")
        if self.keep_within is not None and self.keep_within < timedelta(0):
            raise ValueError(f"keep_within must not be negative, got {self.keep_within}")

    @classmethod
    def from_spec(cls, model: RetentionPolicy | None) -> Policy:
        """Given a job's ``retention`` from the spec (``None``: keep everything), return the policy."""
        if model is None:
            return cls()
        return cls(**{field.name: getattr(model, field.name) for field in fields(cls)})

    @property
    def has_rules(self) -> bool:
        return any(getattr(self, field.name) is not None for field in fields(self))


@dataclass(frozen=True, slots=True)
class Selection:
    """Ids kept and removed (each newest first), and for each kept id the rules that keep it."""

    keep: tuple[str, ...]
    remove: tuple[str, ...]
    reasons: Mapping[str, tuple[str, ...]]


_COUNT_RULES = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")

# (policy field, label, bucket of a local time). Labels double as reasons: "daily 2026-11-30".
_BUCKETS: tuple[tuple[str, str, Callable[[datetime], str]], ...] = (
    ("keep_hourly", "hourly", lambda t: f"{t:%Y-%m-%dT%H}"),
    ("keep_daily", "daily", lambda t: f"{t:%Y-%m-%d}"),
    ("keep_weekly", "weekly", lambda t: "{:04d}-W{:02d}".format(*t.isocalendar()[:2])),
    ("keep_monthly", "monthly", lambda t: f"{t:%Y-%m}"),
    ("keep_yearly", "yearly", lambda t: f"{t:%Y}"),
)


def select_kept(snapshots: Iterable[Snapshot], policy: Policy, now: datetime, tz: str = "UTC") -> Selection:
    """Given snapshots, a policy, ``now`` and the zone buckets are read in, return what to keep and remove.

    Raises ValueError for a naive datetime or a repeated id. The rules are in the module docstring.
    """
    _require_aware(now, "now")
    zone = ZoneInfo(tz)
    ordered = _newest_first(snapshots)
    reasons: dict[str, list[str]] = {}

    def keep(snapshot: Snapshot, reason: str) -> None:
        reasons.setdefault(snapshot.id, []).append(reason)

    counted = []
    for snapshot in ordered:
        if snapshot.ok and snapshot.time > now:
            keep(snapshot, "future (clock skew)")
        elif snapshot.ok:
            counted.append(snapshot)

    if not policy.has_rules:
        for snapshot in counted:
            keep(snapshot, "no rules: keep all")
    if policy.keep_last is not None:
        for snapshot in counted[: policy.keep_last]:
            keep(snapshot, f"last {policy.keep_last}")
    for name, label, bucket_of in _BUCKETS:
        wanted: int | None = getattr(policy, name)
        if wanted is None:
            continue
        last_bucket = None
        for snapshot in counted:
            if wanted == 0:
                break
            bucket = bucket_of(snapshot.time.astimezone(zone))
            if bucket != last_bucket:
                keep(snapshot, f"{label} {bucket}")
                last_bucket = bucket
                wanted -= 1
    if policy.keep_within is not None and counted:
        since = counted[0].time - policy.keep_within
        for snapshot in counted:
            if snapshot.time > since:
                keep(snapshot, f"within {format_duration(policy.keep_within)}")
    if counted and counted[0].id not in reasons:
        keep(counted[0], "newest (always kept)")

    return Selection(
        keep=tuple(s.id for s in ordered if s.id in reasons),
        remove=tuple(s.id for s in ordered if s.id not in reasons),
        reasons=MappingProxyType({s.id: tuple(reasons[s.id]) for s in ordered if s.id in reasons}),
    )


def forget_plan(snapshots: Iterable[Snapshot], policy: Policy, now: datetime, tz: str = "UTC") -> list[str]:
    """Given the same arguments as ``select_kept``, return the ids to forget, newest first.

    The dry run and the real run both call this, so what a dry run shows is what a run removes.
    """
    return list(select_kept(snapshots, policy, now, tz).remove)


def _newest_first(snapshots: Iterable[Snapshot]) -> list[Snapshot]:
    snapshots_list = list(snapshots)
    seen: set[str] = set()
    for snapshot in snapshots_list:
        _require_aware(snapshot.time, f"snapshot {snapshot.id!r} time")
        if snapshot.id in seen:
            raise ValueError(f"snapshot id {snapshot.id!r} appears twice")
        seen.add(snapshot.id)
    # Two sorts (stable): by id, then by time descending — newest first, equal times by ascending id.
    by_id = sorted(snapshots_list, key=lambda s: s.id)
    return sorted(by_id, key=lambda s: s.time, reverse=True)


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
