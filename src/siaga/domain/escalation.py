"""Escalation as pure arithmetic over a frozen snapshot of the policy.

When an incident opens, its policy is copied into a :class:`Snapshot`, so editing the spec later never changes
what an open incident does. The snapshot unrolls into a fixed list of *fires* — each step at its ``after``
delay, then each repeat ``repeat_every`` later — and the only state is how many fires have gone out. That
makes :func:`next_step` trivially restartable: after a crash the stored count says exactly what is left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True, slots=True)
class StepSpec:
    after: timedelta
    notify: tuple[str, ...]
    repeat: int = 0
    repeat_every: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The escalation an incident follows: its policy's steps, plus the route's immediate targets."""

    policy: str | None
    steps: tuple[StepSpec, ...]
    group_wait: timedelta = timedelta(0)  # the first fire waits this long (more alerts may join)
    group_interval: timedelta | None = None  # new alerts joining are notified at most this often

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "group_wait": self.group_wait.total_seconds(),
            "group_interval": None if self.group_interval is None else self.group_interval.total_seconds(),
            "steps": [
                {
                    "after": step.after.total_seconds(),
                    "notify": list(step.notify),
                    "repeat": step.repeat,
                    "repeat_every": step.repeat_every.total_seconds(),
                }
                for step in self.steps
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Snapshot:
        return cls(
            policy=data.get("policy"),
            group_wait=timedelta(seconds=data.get("group_wait", 0)),
            group_interval=None
            if data.get("group_interval") is None
            else timedelta(seconds=data["group_interval"]),
            steps=tuple(
                StepSpec(
                    after=timedelta(seconds=step["after"]),
                    notify=tuple(step["notify"]),
                    repeat=int(step.get("repeat", 0)),
                    repeat_every=timedelta(seconds=step.get("repeat_every", 300)),
                )
                for step in data["steps"]
            ),
        )


@dataclass(frozen=True, slots=True)
class Fire:
    """One scheduled notification round: ``step`` (index into the snapshot), its ``repeat`` number (0 = the
    step itself), the targets, and the time it is due."""

    step: int
    repeat: int
    targets: tuple[str, ...]
    due_at: datetime


@dataclass(frozen=True, slots=True)
class State:
    """Where an incident's escalation stands. ``anchor`` is when delays count from (the open or reopen time,
    moved forward by the time spent acknowledged); ``fired`` counts fires already sent."""

    anchor: datetime
    fired: int = 0
    paused_at: datetime | None = None  # set while acknowledged
    rushed: int = 0  # fires pulled forward by a missed ack target, already counted in ``fired``


def schedule(snapshot: Snapshot, anchor: datetime) -> list[Fire]:
    """Every fire of ``snapshot`` from ``anchor``, in the order they go out (time, then step, then repeat)."""
    fires: list[Fire] = []
    first = anchor + snapshot.group_wait
    for index, step in enumerate(snapshot.steps):
        for repeat in range(step.repeat + 1):
            due = max(anchor + step.after + repeat * step.repeat_every, first)
            fires.append(Fire(index, repeat, step.notify, due))
    return sorted(fires, key=lambda fire: (fire.due_at, fire.step, fire.repeat))


def next_step(
    snapshot: Snapshot, state: State, now: datetime, *, ack_breached: bool = False
) -> tuple[list[Fire], State]:
    """The fires due at ``now`` and the state after sending them.

    Nothing fires while paused (acknowledged). When the acknowledgement target was just missed
    (``ack_breached``) and the next fire is not yet due, it fires at once; later fires keep their times.
    """
    if state.paused_at is not None:
        return [], state
    pending = schedule(snapshot, state.anchor)[state.fired :]
    due = [fire for fire in pending if fire.due_at <= now]
    if not due and ack_breached and pending:
        due = [replace(pending[0], due_at=now)]
    return due, replace(state, fired=state.fired + len(due))


def next_due_at(snapshot: Snapshot, state: State) -> datetime | None:
    """When the next fire is due, or None when nothing is left (or the escalation is paused)."""
    if state.paused_at is not None:
        return None
    pending = schedule(snapshot, state.anchor)[state.fired :]
    return pending[0].due_at if pending else None


def pause(state: State, now: datetime) -> State:
    """Acknowledged: stop firing."""
    return state if state.paused_at is not None else replace(state, paused_at=now)


def resume(state: State, now: datetime) -> State:
    """Un-acknowledged: carry on where it stopped; the remaining delays count from now, as if the time spent
    acknowledged had not passed."""
    if state.paused_at is None:
        return state
    return replace(state, anchor=state.anchor + (now - state.paused_at), paused_at=None)


def restart(now: datetime) -> State:
    """Reopened: page from the first step again."""
    return State(anchor=now)


REPEAT_HORIZON = timedelta(days=7)  # a repeat_interval re-notifies for at most this long


def snapshot_of(
    policy: str | None,
    steps: Sequence[StepSpec],
    route_targets: Sequence[str] = (),
    group_wait: timedelta = timedelta(0),
    repeat_interval: timedelta | None = None,
    group_interval: timedelta | None = None,
) -> Snapshot:
    """Freeze a policy; a route's own ``notify`` targets join the first fire (after 0s). With a
    ``repeat_interval`` they are notified again that often until someone acknowledges (for at most a week)."""
    frozen = list(steps)
    if route_targets and repeat_interval is not None and repeat_interval > timedelta(0):
        repeats = min(1000, int(REPEAT_HORIZON / repeat_interval))
        targets = tuple(dict.fromkeys(route_targets))
        frozen.insert(0, StepSpec(timedelta(0), targets, repeat=repeats, repeat_every=repeat_interval))
    elif route_targets:
        if frozen and frozen[0].after == timedelta(0):
            first = frozen[0]
            merged = tuple(dict.fromkeys((*route_targets, *first.notify)))
            frozen[0] = replace(first, notify=merged)
        else:
            frozen.insert(0, StepSpec(after=timedelta(0), notify=tuple(dict.fromkeys(route_targets))))
    return Snapshot(policy=policy, steps=tuple(frozen), group_wait=group_wait, group_interval=group_interval)


def update_due(snapshot: Snapshot, last_notice: datetime, now: datetime) -> datetime | None:
    """New alerts joined at ``now``: when to tell those already notified (None: the route has no
    ``group_interval``, so joins are only on the timeline)."""
    if snapshot.group_interval is None:
        return None
    return max(now, last_notice + snapshot.group_interval)
