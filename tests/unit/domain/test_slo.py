"""SLO arithmetic on golden values: quantiles, budgets, burn-rate alerts, budget reports, monthly uptime."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siaga.domain.maintenance import MaintenancePlan, occurrences
from siaga.domain.slo import (
    LATENCY_BOUNDS,
    BurnAlert,
    BurnWindow,
    MinuteSample,
    budget_report,
    burn_alerts,
    burn_windows,
    error_budget,
    error_ratio,
    histogram_index,
    latency_error_ratio,
    monthly_bounds,
    quantile,
    uptime,
)
from siaga.spec.checks import LatencyObjective
from siaga.spec.models import MaintenanceWindow

MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
JAKARTA = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def wib(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=JAKARTA)


def buckets(**counts: int) -> tuple[int, ...]:
    """A histogram from counts by bucket index, e.g. ``buckets(b7=10)`` (b11 is +Inf)."""
    return tuple(counts.get(f"b{i}", 0) for i in range(len(LATENCY_BOUNDS) + 1))


def minutely(minutes: int, *, failing: frozenset[int] = frozenset()) -> list[MinuteSample]:
    """One probe a minute for the ``minutes`` before NOW; ``failing`` holds minutes-ago (1 = the last)."""
    return [MinuteSample(NOW - ago * MINUTE, 1, int(ago in failing)) for ago in range(minutes, 0, -1)]


# -- quantiles --------------------------------------------------------------------------------------------


def test_histogram_index_follows_le_bounds() -> None:
    assert histogram_index(0.0) == 0
    assert histogram_index(0.005) == 0  # le: a bound belongs to its own bucket
    assert histogram_index(0.0051) == 1
    assert histogram_index(0.3) == 6  # (0.25, 0.5]
    assert histogram_index(10.0) == 10
    assert histogram_index(10.01) == 11  # +Inf


def test_quantile_golden_values() -> None:
    # All in the (0.5, 1.0] bucket: linear from 0.5 to 1.0.
    assert quantile(0.5, buckets(b7=10)) == pytest.approx(0.75)
    assert quantile(0.95, buckets(b7=10)) == pytest.approx(0.975)
    assert quantile(1.0, buckets(b7=10)) == pytest.approx(1.0)
    assert quantile(0.0, buckets(b7=10)) == pytest.approx(0.5)
    # The first bucket starts at 0.
    assert quantile(0.5, buckets(b0=4)) == pytest.approx(0.0025)
    # 90 fast, 10 slow: p90 is the top of the fast bucket, p95 halfway through (1.0, 2.5].
    assert quantile(0.9, buckets(b4=90, b8=10)) == pytest.approx(0.1)
    assert quantile(0.95, buckets(b4=90, b8=10)) == pytest.approx(1.75)
    # A rank in +Inf is the highest finite bound, as in Prometheus.
    assert quantile(0.99, buckets(b0=50, b11=50)) == 10.0
    assert quantile(0.5, buckets(b11=3)) == 10.0


def test_quantile_without_data_or_with_bad_input() -> None:
    assert quantile(0.5, ()) is None
    assert quantile(0.5, buckets()) is None
    with pytest.raises(ValueError, match="buckets"):
        quantile(0.5, (1, 2))
    with pytest.raises(ValueError, match="within"):
        quantile(95, buckets(b1=1))


# -- budgets and burn windows -----------------------------------------------------------------------------


def test_error_budget_is_exact() -> None:
    assert error_budget(99.9, 30 * DAY) == timedelta(minutes=43.2)
    assert error_budget(99.5, 30 * DAY) == timedelta(minutes=216)
    assert error_budget(99.99, 30 * DAY) == timedelta(seconds=259.2)
    assert error_budget(99.0, 28 * DAY) == timedelta(hours=6.72)
    with pytest.raises(ValueError, match="between 0 and 100"):
        error_budget(100, 30 * DAY)


def test_burn_windows_for_thirty_days() -> None:
    assert burn_windows(30 * DAY) == (
        BurnWindow(HOUR, 5 * MINUTE, 14.4, "page", 0.02),
        BurnWindow(6 * HOUR, 30 * MINUTE, 6.0, "page", 0.05),
        BurnWindow(DAY, 2 * HOUR, 3.0, "ticket", 0.1),
        BurnWindow(3 * DAY, 6 * HOUR, 1.0, "ticket", 0.1),
    )


def test_burn_windows_for_twenty_eight_days_scale_the_factor_as_sloth_does() -> None:
    windows = burn_windows(28 * DAY)
    assert [(w.long, w.short, w.kind) for w in windows] == [
        (b.long, b.short, b.kind) for b in burn_windows(30 * DAY)
    ]
    assert [w.factor for w in windows] == pytest.approx([13.44, 5.6, 2.8, 28 / 30])
    with pytest.raises(ValueError, match="positive"):
        burn_windows(timedelta(0))


# -- ratios and burn alerts -------------------------------------------------------------------------------


def test_error_ratio_counts_runs_in_a_half_open_range() -> None:
    samples = [
        MinuteSample(NOW - 2 * MINUTE, 6, 1),
        MinuteSample(NOW - MINUTE, 6, 2),
        MinuteSample(NOW, 6, 6),
    ]
    assert error_ratio(samples, start=NOW - 2 * MINUTE, end=NOW) == pytest.approx(3 / 12)
    assert error_ratio(samples, start=NOW - HOUR, end=NOW - 2 * MINUTE) is None


def test_latency_error_ratio_is_a_time_slice() -> None:
    fast, slow = buckets(b4=60), buckets(b4=50, b9=10)  # p95 0.1 s vs 3.75 s
    samples = [
        MinuteSample(NOW - 3 * MINUTE, 60, 0, histogram=fast),
        MinuteSample(NOW - 2 * MINUTE, 60, 0, histogram=slow),
        MinuteSample(NOW - MINUTE, 60, 0),  # no histogram: not measured
    ]
    ratio = latency_error_ratio(samples, start=NOW - HOUR, end=NOW, percentile=95, below=timedelta(seconds=3))
    assert ratio == 0.5
    assert latency_error_ratio(samples[2:], start=NOW - HOUR, end=NOW, percentile=95, below=HOUR) is None


def active(alerts: list[BurnAlert]) -> list[tuple[timedelta, timedelta, str]]:
    return [(a.window.long, a.window.short, a.kind) for a in alerts if a.active]


def test_a_single_failed_probe_does_not_page() -> None:
    alerts = burn_alerts(
        samples=minutely(3 * 24 * 60, failing=frozenset({1})), objective=99.9, now=NOW, min_failed_samples=3
    )
    fast = alerts[0]
    assert fast.long_burn_rate == pytest.approx(1 / 60 / 0.001)  # 16.7, above 14.4
    assert fast.long_burn_rate is not None
    assert fast.long_burn_rate > fast.factor
    assert fast.short_burn_rate == pytest.approx(200)
    assert fast.failed == 1
    assert active(alerts) == []


def test_five_failed_probes_in_a_row_page() -> None:
    alerts = burn_alerts(
        samples=minutely(3 * 24 * 60, failing=frozenset(range(1, 6))),
        objective=99.9,
        now=NOW,
        min_failed_samples=3,
    )
    fast = alerts[0]
    assert (fast.window.long, fast.window.short, fast.kind, fast.factor) == (HOUR, 5 * MINUTE, "page", 14.4)
    assert fast.active
    assert fast.long_burn_rate == pytest.approx(5 / 60 / 0.001)
    assert fast.short_burn_rate == pytest.approx(1000)
    assert fast.failed == 5


@pytest.mark.parametrize("phase", [0, 3, 100, 359])
def test_a_steady_two_per_mille_raises_only_the_three_day_ticket(phase: int) -> None:
    # One failed probe every 500 minutes, the latest ``phase`` minutes ago.
    failing = frozenset(range(phase + 1, 3 * 24 * 60 + 1, 500))
    alerts = burn_alerts(
        samples=minutely(3 * 24 * 60, failing=failing), objective=99.9, now=NOW, min_failed_samples=3
    )
    assert active(alerts) == [(3 * DAY, 6 * HOUR, "ticket")]
    assert alerts[3].long_burn_rate == pytest.approx(len(failing) / 4320 / 0.001)


def test_latency_burn_counts_bad_minutes() -> None:
    slow = buckets(b9=60)  # p95 = 4.875 s
    samples = [
        MinuteSample(NOW - ago * MINUTE, 60, 0, histogram=slow if ago <= 5 else buckets(b3=60))
        for ago in range(120, 0, -1)
    ]
    goal = LatencyObjective(percentile=95, below=timedelta(seconds=1))
    alerts = burn_alerts(samples=samples, objective=99.5, now=NOW, min_failed_samples=3, latency=goal)
    assert alerts[0].failed == 5
    assert alerts[0].long_burn_rate == pytest.approx(5 / 60 / 0.005)
    assert alerts[0].active
    quiet = burn_alerts(samples=samples[:-5], objective=99.5, now=NOW, min_failed_samples=3, latency=goal)
    assert active(quiet) == []
    assert quiet[0].short_burn_rate is None  # the last five minutes hold no data


# -- budget report ----------------------------------------------------------------------------------------


def test_budget_report_over_thirty_days() -> None:
    window = 30 * DAY
    # 43200 minutely probes, 21 failed: 21 of 43.2 budget minutes spent.
    report = budget_report(
        samples=minutely(43200, failing=frozenset(range(1, 22))), objective=99.9, window=window, now=NOW
    )
    assert report.budget == timedelta(minutes=43.2)
    assert report.sli == pytest.approx(1 - 21 / 43200)
    assert report.consumed == pytest.approx(21 / 43.2)
    assert report.remaining == pytest.approx(1 - 21 / 43.2)
    assert report.remaining_time is not None
    assert abs(report.remaining_time - timedelta(minutes=22.2)) < timedelta(milliseconds=1)
    assert not report.no_data
    overspent = budget_report(
        samples=minutely(1000, failing=frozenset(range(1, 101))), objective=99.5, window=window, now=NOW
    )
    assert overspent.remaining == pytest.approx(1 - 0.1 / 0.005)
    assert overspent.remaining_time is not None
    assert overspent.remaining_time < timedelta(0)


def test_budget_report_without_data() -> None:
    report = budget_report(samples=[], objective=99.9, window=30 * DAY, now=NOW)
    assert report.no_data
    assert (report.budget, report.sli, report.consumed, report.remaining_time) == (
        timedelta(minutes=43.2),
        None,
        None,
        None,
    )


# -- uptime -----------------------------------------------------------------------------------------------


def test_monthly_bounds_in_jakarta_and_across_daylight_saving() -> None:
    assert monthly_bounds(2026, 11, JAKARTA) == (utc(2026, 10, 31, 17), utc(2026, 11, 30, 17))
    assert monthly_bounds(2026, 12, JAKARTA) == (utc(2026, 11, 30, 17), utc(2026, 12, 31, 17))
    start, end = monthly_bounds(2026, 3, ZoneInfo("Europe/Berlin"))
    assert (start, end) == (utc(2026, 2, 28, 23), utc(2026, 3, 31, 22))
    assert end - start == 31 * DAY - HOUR
    # Asuncion skipped midnight on 1 October 2023 (-04 to -03): the month opens at the change.
    asuncion = ZoneInfo("America/Asuncion")
    assert (
        monthly_bounds(2023, 9, asuncion)[1] == monthly_bounds(2023, 10, asuncion)[0] == utc(2023, 10, 1, 4)
    )
    with pytest.raises(ValueError, match="1-12"):
        monthly_bounds(2026, 13, JAKARTA)


def month_of_checks(
    start: datetime, end: datetime, down: list[tuple[datetime, datetime]]
) -> dict[str, list[MinuteSample]]:
    """An http check every minute and a tcp check every 5 minutes, both failing during ``down``."""

    def failing(at: datetime) -> int:
        return int(any(a <= at < b for a, b in down))

    minutes = int((end - start) / MINUTE)
    return {
        "http": [MinuteSample(start + i * MINUTE, 1, failing(start + i * MINUTE)) for i in range(minutes)],
        "tcp": [
            MinuteSample(start + i * MINUTE, 1, failing(start + i * MINUTE), every=5 * MINUTE)
            for i in range(0, minutes, 5)
        ],
    }


E1 = MaintenancePlan.from_spec(
    MaintenanceWindow(name="patching", every="first sunday of month 02:00-04:00", services=["*"]),
    "Asia/Jakarta",
)


def test_november_uptime_excludes_the_e1_maintenance_window() -> None:
    start, end = monthly_bounds(2026, 11, JAKARTA)
    windows = [(w.starts_at, w.ends_at) for w in occurrences(E1, start, end)]
    assert windows == [(wib(2026, 11, 1, 2), wib(2026, 11, 1, 4))]
    outage = (wib(2026, 11, 17, 9, 15), wib(2026, 11, 17, 9, 45))
    samples = month_of_checks(start, end, [windows[0], outage])
    result = uptime(samples_by_check=samples, start=start, end=end, maintenance=windows, now=utc(2027, 1, 1))
    assert result.maintenance == 2 * HOUR
    assert result.down == 30 * MINUTE
    assert result.no_data == timedelta(0)
    assert result.up == (43200 - 120 - 30) * MINUTE
    assert result.percent == (43200 - 120 - 30) / (43200 - 120) * 100
    assert round(result.percent, 3) == 99.930
    assert result.downtime_periods == (outage,)


def test_a_check_that_stops_reporting_is_no_data_not_down() -> None:
    start, end = monthly_bounds(2026, 11, JAKARTA)
    gap = (wib(2026, 11, 10, 8), wib(2026, 11, 10, 10))
    http = [s for s in month_of_checks(start, end, [])["http"] if not gap[0] <= s.start < gap[1]]
    result = uptime(samples_by_check={"http": http}, start=start, end=end, maintenance=[], now=end)
    assert result.no_data == 2 * HOUR
    assert (result.down, result.percent, result.downtime_periods) == (timedelta(0), 100.0, ())


def test_a_five_minute_check_covers_the_four_minutes_after_it() -> None:
    start = utc(2026, 3, 1)
    samples = {"tcp": [MinuteSample(start, 1, 1, every=5 * MINUTE), MinuteSample(start + 10 * MINUTE, 1, 0)]}
    result = uptime(samples_by_check=samples, start=start, end=start + HOUR, maintenance=[], now=NOW)
    assert result.downtime_periods == ((start, start + 5 * MINUTE),)
    assert (result.down, result.up, result.no_data) == (5 * MINUTE, MINUTE, 54 * MINUTE)
    # A later run speaks for the minutes it covers: a pass at minute 2 ends the outage there.
    samples["tcp"].append(MinuteSample(start + 2 * MINUTE, 1, 0, every=5 * MINUTE))
    result = uptime(samples_by_check=samples, start=start, end=start + HOUR, maintenance=[], now=NOW)
    assert result.downtime_periods == ((start, start + 2 * MINUTE),)


def test_uptime_is_capped_at_now_and_partial_maintenance_minutes_count() -> None:
    start = utc(2026, 3, 1)
    samples = {"http": [MinuteSample(start + i * MINUTE, 1, 0) for i in range(60)]}
    window = [(start + timedelta(minutes=10, seconds=30), start + timedelta(minutes=11, seconds=1))]
    now = start + timedelta(minutes=30, seconds=20)
    result = uptime(samples_by_check=samples, start=start, end=start + DAY, maintenance=window, now=now)
    assert result.end == now
    assert result.maintenance == 2 * MINUTE  # minutes 10 and 11, each only touched
    assert result.up == now - start - 2 * MINUTE
    empty = uptime(samples_by_check=samples, start=start, end=start + DAY, maintenance=[], now=start)
    assert (empty.up, empty.percent) == (timedelta(0), None)


def test_a_month_of_three_checks_is_fast() -> None:
    import time

    start, end = monthly_bounds(2026, 12, JAKARTA)
    minutes = int((end - start) / MINUTE)
    samples = {
        name: [MinuteSample(start + i * MINUTE, 1, int(i % 997 == 0)) for i in range(minutes)]
        for name in ("http", "tcp", "dns")
    }
    began = time.perf_counter()
    result = uptime(samples_by_check=samples, start=start, end=end, maintenance=[], now=end)
    assert time.perf_counter() - began < 0.5
    assert result.down == math.ceil(minutes / 997) * MINUTE


@settings(max_examples=200, deadline=None)
@given(
    start_offset=st.integers(0, 3600 * 6),
    length=st.integers(0, 3600 * 6),
    now_offset=st.integers(0, 3600 * 12),
    runs=st.lists(
        st.tuples(
            st.integers(-30, 400), st.integers(0, 3), st.integers(0, 2), st.sampled_from([30, 60, 300])
        ),
        max_size=60,
    ),
    windows=st.lists(st.tuples(st.integers(-3600, 3600 * 8), st.integers(0, 3600)), max_size=3),
)
def test_uptime_parts_always_add_up_to_the_period(
    start_offset: int,
    length: int,
    now_offset: int,
    runs: list[tuple[int, int, int, int]],
    windows: list[tuple[int, int]],
) -> None:
    origin = utc(2026, 3, 1)
    start = origin + timedelta(seconds=start_offset)
    end, now = start + timedelta(seconds=length), origin + timedelta(seconds=now_offset)
    samples = {
        f"check-{check}": [
            MinuteSample(origin + minute * MINUTE, 1, failed, every=timedelta(seconds=every))
            for minute, owner, failed, every in runs
            if owner == check
        ]
        for check in range(3)
    }
    maintenance = [
        (origin + timedelta(seconds=at), origin + timedelta(seconds=at + size)) for at, size in windows
    ]
    result = uptime(samples_by_check=samples, start=start, end=end, maintenance=maintenance, now=now)
    period = max(min(end, now) - start, timedelta(0))
    assert result.up + result.down + result.no_data + result.maintenance == period
    assert min(result.up, result.down, result.no_data, result.maintenance) >= timedelta(0)
    assert sum((b - a for a, b in result.downtime_periods), timedelta(0)) == result.down
    assert result.percent is None or 0 <= result.percent <= 100
