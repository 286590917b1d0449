"""SLOs and uptime from the checks' rollups: error budgets now, monthly reports, burn-rate alerts.

Months within the minute rollups' retention (`project.retention.minutes`, 35 days) are computed minute by
minute; older months from the hour rollups, where an hour with any failed run counts as an hour down
(coarser, and said in the report).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from siaga.domain import maintenance, slo
from siaga.domain.alerts import AlertIn, AlertStatus, fingerprint
from siaga.domain.severity import Ladder
from siaga.services import ingest, rollups
from siaga.services.check_plan import ACTOR, CheckPlan, PlannedCheck
from siaga.services.policy import Policy
from siaga.services.ports import UnitOfWork
from siaga.spec import Spec
from siaga.spec.checks import Slo
from siaga.spec.durations import format_duration

SOURCE = "siaga-slo"
_LONGEST_BURN = timedelta(days=3)
_MINUTE_DETAIL = timedelta(hours=6)


def _slo_checks(plan: CheckPlan, service: str, objective: Slo) -> list[PlannedCheck]:
    own = [check for check in plan.checks if check.service == service]
    if objective.checks:
        return [check for check in own if check.name in objective.checks]
    if objective.latency is not None:
        return [check for check in own if check.spec.kind == "http"]
    return [check for check in own if check.spec.uptime]


def _samples(
    uow: UnitOfWork,
    checks: Sequence[PlannedCheck],
    start: datetime,
    end: datetime,
    resolution: str = "minute",
) -> dict[int, list[slo.MinuteSample]]:
    if not checks:
        return {}
    with uow.read() as store:
        rows = store.rollups(resolution, [c.id for c in checks], start, end)
    step = timedelta(hours=1) if resolution == "hour" else None
    every = {c.id: step or c.every for c in checks}
    return rollups.samples(rows, every)


def summed(
    uow: UnitOfWork, checks: Sequence[PlannedCheck], start: datetime, end: datetime, step: timedelta
) -> list[slo.MinuteSample]:
    """The checks' runs and failures over [start, end), summed in the database per `step` (aligned to
    `start`): what availability needs, without reading every minute row into Python."""
    if not checks:
        return []
    with uow.read() as store:
        rows = store.rollup_sums("minute", [c.id for c in checks], start, end, step)
    return [
        slo.MinuteSample(start=row["start"], count=row["count"], failures=row["failures"], every=step)
        for row in rows
    ]


def _window_samples(
    uow: UnitOfWork, checks: Sequence[PlannedCheck], objective: Slo, now: datetime, span: timedelta
) -> list[slo.MinuteSample]:
    """Samples for `objective` over the last `span`: availability summed in the database (per minute for
    the last 6 hours, per hour before: windows of 1 h and more tolerate an hour's alignment), latency read
    minute by minute (each minute's percentile needs its histogram)."""
    start = now - span
    if objective.latency is not None:
        return _flat(_samples(uow, checks, start, now))
    recent = max(start, now - _MINUTE_DETAIL)
    older = summed(uow, checks, start, recent, timedelta(hours=1)) if recent > start else []
    return older + summed(uow, checks, recent, now, timedelta(minutes=1))


def _flat(by_check: dict[int, list[slo.MinuteSample]]) -> list[slo.MinuteSample]:
    return [sample for found in by_check.values() for sample in found]


def budgets(*, uow: UnitOfWork, spec: Spec, plan: CheckPlan, now: datetime) -> list[dict[str, Any]]:
    """Every SLO's SLI and error budget over its rolling window at ``now``."""
    items = []
    for service, svc in spec.services.items():
        for objective in svc.measured_slos:
            chosen = _slo_checks(plan, service, objective)
            samples = _window_samples(uow, chosen, objective, now, objective.window)
            report = slo.budget_report(
                samples=samples,
                objective=objective.objective,
                window=objective.window,
                now=now,
                latency=objective.latency,
            )
            items.append(
                {
                    "service": service,
                    "slo": objective.name,
                    "kind": "latency" if objective.latency else "availability",
                    "objective": objective.objective,
                    "window": format_duration(objective.window),
                    "checks": [c.name for c in chosen],
                    "sli_percent": None if report.sli is None else round(report.sli * 100, 4),
                    "budget_minutes": round(report.budget.total_seconds() / 60, 2),
                    "consumed_percent": None if report.consumed is None else round(report.consumed * 100, 2),
                    "remaining_minutes": None
                    if report.remaining_time is None
                    else round(report.remaining_time.total_seconds() / 60, 2),
                    "no_data": report.no_data,
                }
            )
    return items


def monthly(
    *, uow: UnitOfWork, spec: Spec, policy: Policy, plan: CheckPlan, year: int, month: int, now: datetime
) -> dict[str, Any]:
    """Each service's uptime in a calendar month of the project time zone, maintenance excluded, and
    whether each of its availability SLOs' objectives held over that month."""
    zone = ZoneInfo(spec.project.timezone)
    start, end = slo.monthly_bounds(year, month, zone)
    resolution = "minute" if start >= now - spec.project.retention.minutes else "hour"
    services = []
    for service, svc in spec.services.items():
        counted = [c for c in plan.checks if c.service == service and c.spec.uptime]
        by_check = _samples(uow, counted, start, end, resolution)
        windows = [
            (window.starts_at, window.ends_at)
            for plan_ in policy.paging.maintenance
            if plan_.applies_to(service)
            for window in maintenance.occurrences(plan_, start, end)
        ]
        measured = slo.uptime(
            samples_by_check={str(k): v for k, v in by_check.items()},
            start=start,
            end=end,
            maintenance=windows,
            now=now,
        )
        objectives = []
        for objective in svc.measured_slos:
            if objective.latency is None:
                target, value = objective.objective, measured.percent
            else:
                samples = _flat(_samples(uow, _slo_checks(plan, service, objective), start, end, resolution))
                ratio = slo.latency_error_ratio(
                    samples,
                    start=start,
                    end=end,
                    percentile=objective.latency.percentile,
                    below=objective.latency.below,
                )
                target, value = objective.objective, None if ratio is None else (1 - ratio) * 100
            objectives.append(
                {
                    "slo": objective.name,
                    "objective": target,
                    "value_percent": None if value is None else round(value, 4),
                    "passed": None if value is None else value >= target,
                }
            )
        services.append(
            {
                "service": service,
                "checks": [c.name for c in counted],
                "uptime_percent": None if measured.percent is None else round(measured.percent, 4),
                "up_minutes": _minutes(measured.up),
                "down_minutes": _minutes(measured.down),
                "no_data_minutes": _minutes(measured.no_data),
                "maintenance_minutes": _minutes(measured.maintenance),
                "downtime": [{"start": a, "end": b} for a, b in measured.downtime_periods],
                "slos": objectives,
                "passed": None
                if all(o["passed"] is None for o in objectives)
                else all(o["passed"] is not False for o in objectives),
            }
        )
    return {
        "month": f"{year:04d}-{month:02d}",
        "timezone": spec.project.timezone,
        "start": start,
        "end": min(end, now),
        "resolution": resolution,
        "services": services,
    }


def _minutes(span: timedelta) -> float:
    return round(span.total_seconds() / 60, 2)


def burn_fingerprint(service: str, objective: str, long: timedelta) -> str:
    return fingerprint({"siaga_slo": f"{service}/{objective}", "window": format_duration(long)})


def evaluate_burn(*, uow: UnitOfWork, spec: Spec, policy: Policy, plan: CheckPlan, now: datetime) -> int:
    """Raise or clear each SLO's multi-window burn-rate alerts from the minute rollups; return the number
    of alerts that changed state."""
    alerts: list[AlertIn] = []
    wanted: dict[str, tuple[AlertIn, bool]] = {}
    for service, svc in spec.services.items():
        for objective in svc.measured_slos:
            if not objective.burn_alerts:
                continue
            chosen = _slo_checks(plan, service, objective)
            samples = _window_samples(uow, chosen, objective, now, _LONGEST_BURN)
            for burn in slo.burn_alerts(
                samples=samples,
                objective=objective.objective,
                now=now,
                min_failed_samples=objective.min_failed_samples,
                latency=objective.latency,
                window=objective.window,
            ):
                print_ = burn_fingerprint(service, objective.name, burn.window.long)
                wanted[print_] = (
                    _burn_alert(service, svc.labels, objective, burn, policy.ladder, now),
                    burn.active,
                )
    if not wanted:
        return 0
    with uow.transaction() as store:
        current = store.alerts_by_fingerprint(wanted)
        for print_, (alert, active) in wanted.items():
            firing = current.get(print_, {}).get("status") == "firing"
            if active and not firing:
                alerts.append(alert)
            elif firing and not active:
                alerts.append(
                    AlertIn(
                        labels=alert.labels,
                        status=AlertStatus.RESOLVED,
                        starts_at=current[print_]["starts_at"],
                        ends_at=now,
                        annotations=alert.annotations,
                        fingerprint=print_,
                    )
                )
        if alerts:
            ingest.apply(store, policy, [ingest.Submission(alerts, SOURCE, ACTOR)], now)
    return len(alerts)


def _burn_alert(
    service: str, labels: dict[str, str], objective: Slo, burn: slo.BurnAlert, ladder: Ladder, now: datetime
) -> AlertIn:
    chosen = objective.page_severity if burn.kind == "page" else objective.ticket_severity
    level = ladder.get(chosen) if chosen else None
    if level is None:
        level = ladder.levels[0] if burn.kind == "page" else ladder.least_urgent
    long, short = format_duration(burn.window.long), format_duration(burn.window.short)
    rate = f"{burn.long_burn_rate:.1f}" if burn.long_burn_rate is not None else "n/a"
    return AlertIn(
        labels={
            **labels,
            "alertname": "SLOBurnRate",
            "service": service,
            "slo": objective.name,
            "window": long,
            "kind": burn.kind,
            "severity": level.name,
        },
        status=AlertStatus.FIRING,
        starts_at=now,
        annotations={
            "summary": f"{service}: SLO {objective.name} ({objective.objective}%) burning its error budget "
            f"{rate}x over {long} (and {short}); at this rate {burn.window.budget_fraction:.0%} of the "
            f"budget goes in {long}",
        },
        fingerprint=burn_fingerprint(service, objective.name, burn.window.long),
    )
