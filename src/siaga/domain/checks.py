"""Check runs judged and remembered: the verdict of one run, the alert state across runs, the schedule.

Pure: the probe's answer and `now` come in, decisions go out (fire, resolve); storage keeps the state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from siaga.domain.conditions import compile_condition


class Status(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"  # never run yet

    @property
    def code(self) -> int:
        """Small integer stored with each result (0 up, 1 degraded, 2 down)."""
        return _CODES[self]


_CODES = {Status.UP: 0, Status.DEGRADED: 1, Status.DOWN: 2, Status.UNKNOWN: 3}
STATUS_BY_CODE = {code: status for status, code in _CODES.items()}


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    reason: str | None = None  # why down or degraded, one line


def judge(
    *,
    reached: bool,
    error: str | None,
    variables: Mapping[str, Any],
    expect: Sequence[str],
    degraded_if: Sequence[str],
) -> Verdict:
    """Given a probe's answer and the check's conditions, return up / degraded / down with the reason."""
    if not reached:
        return Verdict(Status.DOWN, error or "no answer")
    for text in expect:
        verdict = compile_condition(text).evaluate(variables)
        if not verdict.holds:
            detail = f" ({verdict.error})" if verdict.error else ""
            return Verdict(Status.DOWN, f"expected {text}{detail}{_evidence(text, variables)}")
    for text in degraded_if:
        if compile_condition(text).evaluate(variables).holds:
            return Verdict(Status.DEGRADED, f"{text}{_evidence(text, variables)}")
    return Verdict(Status.UP)


def _evidence(text: str, variables: Mapping[str, Any]) -> str:
    """The scalar values a condition names, e.g. `; status=500`, so an alert says what was seen."""
    shown = []
    for name in sorted(compile_condition(text).variables):
        value = variables.get(name)
        if isinstance(value, timedelta):
            shown.append(f"{name}={value.total_seconds() * 1000:.0f}ms")
        elif isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) <= 60):
            shown.append(f"{name}={value}")
    return "; " + ", ".join(shown) if shown else ""


@dataclass(frozen=True, slots=True)
class Thresholds:
    failures_before_alert: int = 1
    successes_before_resolve: int = 1
    for_: timedelta = timedelta(0)


@dataclass(frozen=True, slots=True)
class CheckState:
    status: Status = Status.UNKNOWN
    failures: int = 0  # consecutive failed runs
    successes: int = 0  # consecutive passing runs
    failing_since: datetime | None = None
    alerting: bool = False
    changed_at: datetime | None = None  # when `status` last changed


@dataclass(frozen=True, slots=True)
class Step:
    state: CheckState
    fire: bool = False
    resolve: bool = False


def advance(state: CheckState, verdict: Verdict, now: datetime, thresholds: Thresholds) -> Step:
    """Given the state before a run, the run's verdict and the check's thresholds, return the new state
    and whether the check's alert now fires or resolves (degraded counts as passing: shown, not paged)."""
    changed_at = now if verdict.status is not state.status else state.changed_at
    if verdict.status is Status.DOWN:
        failing_since = state.failing_since or now
        new = replace(
            state,
            status=verdict.status,
            failures=state.failures + 1,
            successes=0,
            failing_since=failing_since,
            changed_at=changed_at,
        )
        due = new.failures >= thresholds.failures_before_alert and now - failing_since >= thresholds.for_
        if due and not state.alerting:
            return Step(replace(new, alerting=True), fire=True)
        return Step(new)
    new = replace(
        state,
        status=verdict.status,
        failures=0,
        successes=state.successes + 1,
        failing_since=None,
        changed_at=changed_at,
    )
    if state.alerting and new.successes >= thresholds.successes_before_resolve:
        return Step(replace(new, alerting=False), resolve=True)
    return Step(new)


def phase(key: str, every: timedelta) -> timedelta:
    """Given a check's identity and interval, return its stable offset within the interval, so first runs
    spread evenly across it and stay put across restarts."""
    digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
    micros = max(int(every.total_seconds() * 1_000_000), 1)
    return timedelta(microseconds=digest % micros)


def next_run(key: str, every: timedelta, after: datetime) -> datetime:
    """Given a check and an instant, return its first scheduled start strictly after it, on the fixed grid
    `epoch + phase + k * every` (fixed rate: a late run does not push later ones back)."""
    epoch = datetime(2000, 1, 1, tzinfo=after.tzinfo)
    offset = phase(key, every)
    elapsed = after - epoch - offset
    k = elapsed // every + 1
    return epoch + offset + k * every


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """What a heartbeat check expects: a ping every `period`, or at the times of a cron expression (read in
    `zone`), each at most `grace` late; a `start` ping must be followed by success within `grace`."""

    grace: timedelta
    period: timedelta | None = None
    cron: str | None = None
    zone: str = "UTC"


def heartbeat_verdict(
    expects: Heartbeat,
    *,
    last_ping_at: datetime | None,
    last_kind: str | None,
    watching_since: datetime,
    now: datetime,
) -> tuple[Verdict, dict[str, Any]]:
    """Given the last ping (its time and kind: start, success or fail) and since when the check exists,
    return the verdict now and the variables conditions see (`last_ping_age`, `last_status`)."""
    base = last_ping_at or watching_since
    variables: dict[str, Any] = {
        "last_ping_age": now - base if last_ping_at else None,
        "last_status": last_kind or "never",
    }
    if last_kind == "fail" and last_ping_at is not None:
        return Verdict(
            Status.DOWN, f"the job reported failure at {last_ping_at:%Y-%m-%d %H:%M:%S} UTC"
        ), variables
    if last_kind == "start" and last_ping_at is not None:
        if now > last_ping_at + expects.grace:
            return Verdict(
                Status.DOWN,
                f"started at {last_ping_at:%Y-%m-%d %H:%M:%S} UTC and has not reported success within "
                f"{_short(expects.grace)}",
            ), variables
        return Verdict(Status.UP), variables
    due = _next_expected(expects, base) + expects.grace
    if now > due:
        seen = f"last ping {base:%Y-%m-%d %H:%M:%S} UTC" if last_ping_at else "no ping yet"
        return Verdict(Status.DOWN, f"{seen}; one was due by {due:%Y-%m-%d %H:%M:%S} UTC"), variables
    return Verdict(Status.UP), variables


def _next_expected(expects: Heartbeat, base: datetime) -> datetime:
    if expects.period is not None:
        return base + expects.period
    from zoneinfo import ZoneInfo

    from croniter import croniter

    fire: datetime = croniter(str(expects.cron), base.astimezone(ZoneInfo(expects.zone))).get_next(datetime)
    return fire.astimezone(base.tzinfo)


def _short(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
