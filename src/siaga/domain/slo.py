"""Service level arithmetic over per-minute rollups: latency quantiles, error budgets, multi-window burn-rate
alerts, budget reports and a service's uptime over a calendar period.

Everything here reads ``MinuteSample`` rows (one per check and minute) and is given ``now``; an availability
SLI counts failed runs out of runs, a latency SLI counts bad minutes out of minutes with a histogram.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from operator import attrgetter
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from siaga.domain.oncall import wall_time_to_utc

LATENCY_BOUNDS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)  # seconds
MINUTE = timedelta(minutes=1)
_MICROSECOND = timedelta(microseconds=1)

AlertKind = Literal["page", "ticket"]


@dataclass(frozen=True, slots=True)
class MinuteSample:
    """One check's probe runs that started in one minute, rolled up."""

    start: datetime  # the minute (UTC, second=0)
    count: int  # probe runs that started in this minute
    failures: int  # runs that were down
    degraded: int = 0
    latency_sum: float = 0.0  # seconds, over all runs
    histogram: tuple[int, ...] = ()  # len(LATENCY_BOUNDS)+1 counts (non-cumulative), or () when unknown
    every: timedelta = timedelta(minutes=1)  # the check's interval: one run speaks for that long


class LatencyGoal(Protocol):
    """A latency objective: ``percentile`` (e.g. 95) of each minute's latency must stay at or below ``below``;
    the spec's ``LatencyObjective`` is one."""

    @property
    def percentile(self) -> float: ...

    @property
    def below(self) -> timedelta: ...


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at.isoformat()}: pass an aware (UTC) datetime")
    return at.astimezone(UTC)


# -- latency ---------------------------------------------------------------------------------------------


def histogram_index(latency: float) -> int:
    """Given a latency in seconds, return the index of its bucket: the first bound it does not exceed
    (Prometheus' ``le``), or ``len(LATENCY_BOUNDS)`` for the +Inf bucket."""
    return bisect.bisect_left(LATENCY_BOUNDS, latency)


def quantile(q: float, histogram: Sequence[int]) -> float | None:
    """Given q in [0, 1] and non-cumulative bucket counts, return the q-quantile in seconds, interpolated
    linearly inside its bucket as Prometheus' ``histogram_quantile`` does; None when there are no counts.

    As in Prometheus, the first bucket starts at 0, and a quantile landing in the +Inf bucket is the highest
    finite bound (10 s): that bucket has no upper edge to interpolate towards. Raises ValueError for q outside
    [0, 1] or a histogram of the wrong length.
    """
    if not histogram:
        return None
    if len(histogram) != len(LATENCY_BOUNDS) + 1:
        raise ValueError(f"histogram: expected {len(LATENCY_BOUNDS) + 1} buckets, got {len(histogram)}")
    if not 0 <= q <= 1:
        raise ValueError(f"quantile: q must be within [0, 1], got {q}")
    total = sum(histogram)
    if total == 0:
        return None
    rank = q * total
    before = 0
    index = len(histogram) - 1
    for position, count in enumerate(histogram):
        # Empty buckets are skipped so that q=0 lands on the lower edge of the first observed bucket.
        if count and before + count >= rank:
            index = position
            break
        before += count
    if index == len(LATENCY_BOUNDS):
        return LATENCY_BOUNDS[-1]
    lower = LATENCY_BOUNDS[index - 1] if index else 0.0
    upper = LATENCY_BOUNDS[index]
    return lower + (upper - lower) * (rank - before) / histogram[index]


# -- budgets and burn rates ------------------------------------------------------------------------------


def _allowed(objective_percent: float) -> Decimal:
    # Decimal from the written text: 100 - 99.9 in floats is 0.09999999999999432, not 0.1.
    if not 0 < objective_percent < 100:
        raise ValueError(
            f"objective: expected a percentage strictly between 0 and 100, got {objective_percent}"
        )
    return (100 - Decimal(str(objective_percent))) / 100


def error_budget(objective_percent: float, window: timedelta) -> timedelta:
    """Given an objective in percent and the SLO window, return the time the service may be bad in it
    (99.9 % of 30 days: 43.2 minutes). Raises ValueError for an objective outside (0, 100)."""
    micros = Decimal(window // _MICROSECOND) * _allowed(objective_percent)
    return timedelta(microseconds=int(micros.to_integral_value()))


@dataclass(frozen=True, slots=True)
class BurnWindow:
    """One multi-window alert: it fires while both windows burn the budget faster than ``factor``."""

    long: timedelta
    short: timedelta
    factor: float
    kind: AlertKind
    budget_fraction: float  # share of the whole budget a burn at ``factor`` consumes over ``long``


# The SRE workbook's (ch. 5) and Sloth's defaults: (long, short, share of the budget consumed, kind).
_BURN_POLICY: tuple[tuple[timedelta, timedelta, Fraction, AlertKind], ...] = (
    (timedelta(hours=1), timedelta(minutes=5), Fraction(2, 100), "page"),
    (timedelta(hours=6), timedelta(minutes=30), Fraction(5, 100), "page"),
    (timedelta(days=1), timedelta(hours=2), Fraction(10, 100), "ticket"),
    (timedelta(days=3), timedelta(hours=6), Fraction(10, 100), "ticket"),
)


def burn_windows(window: timedelta) -> tuple[BurnWindow, ...]:
    """Given the SLO window, return the four alert windows, factor = budget share * window / long window,
    as Sloth computes it (30 days: 14.4, 6, 3, 1). Raises ValueError for a window that is not positive."""
    if window <= timedelta(0):
        raise ValueError(f"window: must be positive, got {window}")
    # Fractions keep 30d exact: 2/100 * 720 is 14.4, not 14.399999999999999.
    return tuple(
        BurnWindow(
            long=long,
            short=short,
            factor=float(share * Fraction(window // _MICROSECOND, long // _MICROSECOND)),
            kind=kind,
            budget_fraction=float(share),
        )
        for long, short, share, kind in _BURN_POLICY
    )


def _in_range(samples: Sequence[MinuteSample], start: datetime, end: datetime) -> list[MinuteSample]:
    return [sample for sample in samples if start <= sample.start < end]


def _bad_minutes(samples: Sequence[MinuteSample], percentile: float, below: timedelta) -> tuple[int, int]:
    # Time-slice SLI: each row with a histogram is one measured minute, bad when its percentile is too slow.
    bound = below.total_seconds()
    measured = bad = 0
    for sample in samples:
        value = quantile(percentile / 100, sample.histogram) if sample.count else None
        if value is not None:
            measured += 1
            bad += value > bound
    return bad, measured


def _measure(
    samples: Sequence[MinuteSample], start: datetime, end: datetime, latency: LatencyGoal | None
) -> tuple[int, int]:
    """(bad, out of) over [start, end): failed runs of runs, or bad minutes of minutes with a histogram."""
    chosen = _in_range(samples, start, end)
    if latency is not None:
        return _bad_minutes(chosen, latency.percentile, latency.below)
    return sum(s.failures for s in chosen), sum(s.count for s in chosen)


def error_ratio(samples: Sequence[MinuteSample], *, start: datetime, end: datetime) -> float | None:
    """Given rows and a range, return failed runs / runs over rows starting in [start, end), or None when
    no run started there."""
    failed, total = _measure(samples, start, end, None)
    return failed / total if total else None


def latency_error_ratio(
    samples: Sequence[MinuteSample], *, start: datetime, end: datetime, percentile: float, below: timedelta
) -> float | None:
    """Given rows, a range and a percentile (e.g. 95) with its bound, return bad minutes / minutes with a
    histogram in [start, end), a minute being bad when its percentile exceeds ``below``; None without data."""
    bad, measured = _bad_minutes(_in_range(samples, start, end), percentile, below)
    return bad / measured if measured else None


@dataclass(frozen=True, slots=True)
class BurnAlert:
    """One alert window's state at ``now``; burn rates are None when that window holds no data."""

    window: BurnWindow
    long_burn_rate: float | None
    short_burn_rate: float | None
    failed: int  # failed runs (availability) or bad minutes (latency) in the long window
    active: bool

    @property
    def kind(self) -> AlertKind:
        return self.window.kind

    @property
    def factor(self) -> float:
        return self.window.factor


def burn_alerts(
    *,
    samples: Sequence[MinuteSample],
    objective: float,
    now: datetime,
    min_failed_samples: int,
    latency: LatencyGoal | None = None,
    window: timedelta = timedelta(days=30),
) -> list[BurnAlert]:
    """Given an SLO's rows, objective (percent), window and ``now``, return each burn window's alert; it is
    active when both windows burn faster than its factor and the long one holds ``min_failed_samples``."""
    now = _utc(now)
    allowed = float(_allowed(objective))
    alerts: list[BurnAlert] = []
    for burn in burn_windows(window):
        long_bad, long_total = _measure(samples, now - burn.long, now, latency)
        short_bad, short_total = _measure(samples, now - burn.short, now, latency)
        long_rate = long_bad / long_total / allowed if long_total else None
        short_rate = short_bad / short_total / allowed if short_total else None
        active = (
            long_rate is not None
            and short_rate is not None
            and long_rate > burn.factor
            and short_rate > burn.factor
            # One failed probe in an hour of minutely probes burns 16.7x at 99.9 %: too little to page on.
            and long_bad >= min_failed_samples
        )
        alerts.append(BurnAlert(burn, long_rate, short_rate, long_bad, active))
    return alerts


@dataclass(frozen=True, slots=True)
class BudgetReport:
    """An SLO's error budget over its rolling window; the measured fields are None when there is no data."""

    objective: float
    window: timedelta
    budget: timedelta
    sli: float | None  # good ratio in [0, 1]
    consumed: float | None  # share of the budget spent (above 1 when overspent)
    remaining: float | None  # 1 - consumed, negative when overspent
    remaining_time: timedelta | None  # budget * remaining

    @property
    def no_data(self) -> bool:
        return self.sli is None


def budget_report(
    *,
    samples: Sequence[MinuteSample],
    objective: float,
    window: timedelta,
    now: datetime,
    latency: LatencyGoal | None = None,
) -> BudgetReport:
    """Given an SLO's rows, objective (percent), window and ``now``, return its SLI and budget over
    [now - window, now)."""
    now = _utc(now)
    budget = error_budget(objective, window)
    bad, total = _measure(samples, now - window, now, latency)
    if not total:
        return BudgetReport(objective, window, budget, None, None, None, None)
    ratio = bad / total
    consumed = ratio / float(_allowed(objective))
    return BudgetReport(objective, window, budget, 1 - ratio, consumed, 1 - consumed, budget * (1 - consumed))


# -- uptime ----------------------------------------------------------------------------------------------

# Minute states; a bitwise OR over checks keeps DOWN whenever any check is down (UP | DOWN is read as DOWN).
_NO_DATA, _UP, _DOWN, _MAINTENANCE = 0, 1, 2, 3
_ANY_DOWN = bytes.maketrans(bytes([_UP | _DOWN]), bytes([_DOWN]))
_DOWN_RUN = re.compile(bytes([_DOWN]) + b"+")


@dataclass(frozen=True, slots=True)
class Uptime:
    """A service's availability over [start, end): time up, down, without data and in maintenance."""

    start: datetime
    end: datetime  # capped at ``now``
    up: timedelta
    down: timedelta
    no_data: timedelta
    maintenance: timedelta
    downtime_periods: tuple[tuple[datetime, datetime], ...]

    @property
    def percent(self) -> float | None:
        """Up / (up + down) * 100: time without data or in maintenance counts neither way."""
        measured = self.up + self.down
        return self.up / measured * 100 if measured else None


def _ceil_minutes(span: timedelta) -> int:
    return -(-span // MINUTE)


def _check_states(samples: Sequence[MinuteSample], base: datetime, slots: int) -> bytearray:
    """Each minute's state for one check: the latest run covering a minute speaks for it."""
    states = bytearray(slots)
    every, span = MINUTE, 1
    for sample in sorted(samples, key=attrgetter("start")):
        if sample.count <= 0:
            continue
        if sample.every != every:
            # A run covers its interval, so a 5-minute check speaks for its minute and the 4 after it.
            every, span = sample.every, max(1, _ceil_minutes(sample.every))
        first = (sample.start - base) // MINUTE
        state = _DOWN if sample.failures else _UP
        if span == 1:
            if 0 <= first < slots:
                states[first] = state
        elif first < slots and first + span > 0:
            low, high = max(first, 0), min(first + span, slots)
            states[low:high] = bytes([state]) * (high - low)
    return states


def uptime(
    *,
    samples_by_check: Mapping[str, Sequence[MinuteSample]],
    start: datetime,
    end: datetime,
    maintenance: Sequence[tuple[datetime, datetime]],
    now: datetime,
) -> Uptime:
    """Given the rows of the checks that count for uptime, a period, maintenance windows and ``now``, return
    the service's availability over [start, min(end, now)), minute by minute.

    A minute touched by a maintenance window at all is maintenance (an operator's window is honoured to the
    minute, in the service's favour); else it is down if any check's covering run failed, up if some check
    covers it, and no data otherwise. Minutes cut by ``start`` or ``end`` count for their part only.
    """
    start, end = _utc(start), min(_utc(end), _utc(now))
    if end <= start:
        zero = timedelta(0)
        return Uptime(start, start, zero, zero, zero, zero, ())
    base = start.replace(second=0, microsecond=0)
    slots = _ceil_minutes(end - base)

    combined = 0
    for samples in samples_by_check.values():
        combined |= int.from_bytes(_check_states(samples, base, slots), "big")
    states = bytearray(combined.to_bytes(slots, "big").translate(_ANY_DOWN))

    for window_start, window_end in maintenance:
        low = max((_utc(window_start) - base) // MINUTE, 0)
        high = min(_ceil_minutes(_utc(window_end) - base), slots)
        if low < high:
            states[low:high] = bytes([_MAINTENANCE]) * (high - low)

    totals = {state: states.count(state) * MINUTE for state in (_NO_DATA, _UP, _DOWN, _MAINTENANCE)}
    # The first and last minute may be cut by the period's edges: take off the parts outside it.
    totals[states[0]] -= start - base
    totals[states[-1]] -= base + slots * MINUTE - end
    periods = tuple(
        (max(base + match.start() * MINUTE, start), min(base + match.end() * MINUTE, end))
        for match in _DOWN_RUN.finditer(states)
    )
    return Uptime(
        start=start,
        end=end,
        up=totals[_UP],
        down=totals[_DOWN],
        no_data=totals[_NO_DATA],
        maintenance=totals[_MAINTENANCE],
        downtime_periods=periods,
    )


def monthly_bounds(year: int, month: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Given a calendar month and a zone, return [first midnight, next month's first midnight) in UTC; a
    midnight the clocks skip is the instant of the change. Raises ValueError for a month outside 1-12."""
    if not 1 <= month <= 12:
        raise ValueError(f"month: expected 1-12, got {month}")
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return (
        wall_time_to_utc(datetime.combine(date(year, month, 1), time()), tz),
        wall_time_to_utc(datetime.combine(following, time()), tz),
    )
