"""Charts drawn on the server as SVG: latency lines, uptime bars, an error budget bar and its burn line.

Each function is given the numbers to draw and returns the SVG as `Markup` (text and attributes escaped),
with `role="img"`, an `aria-label` saying what it shows and a `<title>` per bar or point worth hovering.
Colours are presentation attributes (not `style=`), so the page's CSP holds and the SVG reads the same on its
own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

UP, DEGRADED, DOWN, NO_DATA = "#1a7f37", "#9a6700", "#cf222e", "#8c959f"
INK, MUTED, GRID = "#1b1f24", "#57606a", "#d0d7de"
P50, P95 = "#0969da", "#8250df"


@dataclass(frozen=True, slots=True)
class LatencyPoint:
    """One bucket of a latency chart: its start and the p50 / p95 in seconds (None: no runs then)."""

    start: datetime
    p50: float | None
    p95: float | None


@dataclass(frozen=True, slots=True)
class DayUptime:
    """One day's bar: the share of runs that were up, in percent (None: no runs that day)."""

    day: date
    percent: float | None
    runs: int = 0
    failures: int = 0


def _svg(
    width: int, height: int, label: str, body: Sequence[str], css_class: str, aspect: str = "xMidYMid meet"
) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class={quoteattr(css_class)} '
        f'viewBox="0 0 {width} {height}" role="img" aria-label={quoteattr(label)} '
        f'preserveAspectRatio="{aspect}">'
    )
    return Markup(head + f"<title>{escape(label)}</title>" + "".join(body) + "</svg>")  # noqa: S704 - every value in it was escaped


def _ms(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.0f} ms"


def _percent(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") + " %"


def uptime_colour(percent: float | None) -> str:
    """The bar colour of a day's uptime: green from 99.9 %, amber from 99 %, red below, grey without data."""
    if percent is None:
        return NO_DATA
    if percent >= 99.9:
        return UP
    return DEGRADED if percent >= 99 else DOWN


def uptime_bars(days: Sequence[DayUptime], *, label: str) -> Markup:
    """Given the days oldest first, return one bar per day coloured by its uptime, each with a `<title>`."""
    width, height, gap = 900, 34, 2
    step = width / max(len(days), 1)
    bars = []
    for index, found in enumerate(days):
        if found.percent is None:
            tip = f"{found.day.isoformat()}: no data"
        else:
            tip = (
                f"{found.day.isoformat()}: {_percent(found.percent)} up "
                f"({found.runs - found.failures} of {found.runs} runs)"
            )
        bars.append(
            f'<rect x="{index * step:.2f}" y="0" width="{max(step - gap, 1):.2f}" height="{height}" rx="1" '
            f'fill="{uptime_colour(found.percent)}"><title>{escape(tip)}</title></rect>'
        )
    measured = [d for d in days if d.percent is not None]
    runs = sum(d.runs for d in measured)
    summary = f"{label}: {len(days)} days"
    if runs:
        summary += f", {_percent(100 * (runs - sum(d.failures for d in measured)) / runs)} of runs up"
    # Bars stretch to the width they are given (no text in them to distort).
    return _svg(width, height, summary, bars, "bars uptime-bars", aspect="none")


def latency_chart(points: Sequence[LatencyPoint], *, label: str, time_format: str = "%H:%M") -> Markup:
    """Given buckets oldest first (times already in the zone to show), return p50 and p95 as two lines over a
    y axis from 0 to the highest p95, with the first and last bucket's time under it."""
    width, height, left, right, top, bottom = 480, 200, 58, 8, 22, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for p in points for v in (p.p50, p.p95) if v is not None]
    highest = max(values, default=0.0) or 0.001
    step = plot_w / max(len(points) - 1, 1)

    def xy(index: int, value: float) -> str:
        return f"{left + index * step:.1f},{top + plot_h - value / highest * plot_h:.1f}"

    body = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="{GRID}"/>',
        f'<line x1="{left}" y1="{top}" x2="{width - right}" y2="{top}" stroke="{GRID}" '
        'stroke-dasharray="4 3"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="12" fill="{MUTED}">'
        f"{escape(_ms(highest))}</text>",
        f'<text x="{left - 6}" y="{top + plot_h + 4}" text-anchor="end" font-size="12" '
        f'fill="{MUTED}">0</text>',
    ]
    if points:
        first, last = points[0].start.strftime(time_format), points[-1].start.strftime(time_format)
        body += [
            f'<text x="{left}" y="{height - 6}" font-size="12" fill="{MUTED}">{escape(first)}</text>',
            f'<text x="{width - right}" y="{height - 6}" text-anchor="end" font-size="12" fill="{MUTED}">'
            f"{escape(last)}</text>",
        ]
    for name, colour, pick in (("p50", P50, 0), ("p95", P95, 1)):
        # A bucket without runs breaks the line rather than drawing a slope across the gap.
        runs: list[list[str]] = [[]]
        for index, point in enumerate(points):
            value = (point.p50, point.p95)[pick]
            if value is None:
                runs.append([])
            else:
                runs[-1].append(xy(index, value))
        for run in runs:
            if len(run) == 1:
                cx, cy = run[0].split(",")
                body.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{colour}"/>')
            elif run:
                body.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" stroke-width="2" '
                    f'class="line-{name}"/>'
                )
    for index, point in enumerate(points):
        if point.p95 is None:
            continue
        p50 = _ms(point.p50) if point.p50 is not None else "—"
        tip = f"{point.start.strftime(time_format)}: p50 {p50}, p95 {_ms(point.p95)}"
        x = left + index * step - step / 2
        body.append(
            f'<rect x="{max(x, left):.1f}" y="{top}" width="{max(step, 1):.1f}" height="{plot_h}" '
            f'fill="transparent"><title>{escape(tip)}</title></rect>'
        )
    legend = width - right - 100  # above the plot, right-aligned
    body += [
        f'<rect x="{legend}" y="6" width="12" height="4" fill="{P50}"/>',
        f'<text x="{legend + 16}" y="12" font-size="12" fill="{INK}">p50</text>',
        f'<rect x="{legend + 52}" y="6" width="12" height="4" fill="{P95}"/>',
        f'<text x="{legend + 68}" y="12" font-size="12" fill="{INK}">p95</text>',
    ]
    summary = f"{label}: highest p95 {_ms(highest)}" if values else f"{label}: no runs"
    return _svg(width, height, summary, body, "chart latency-chart")


def budget_colour(remaining: float | None) -> str:
    """Green while more than half the budget is left, amber above a fifth, red below (grey: no data)."""
    if remaining is None:
        return NO_DATA
    if remaining > 0.5:
        return UP
    return DEGRADED if remaining > 0.2 else DOWN


def budget_bar(remaining: float | None, *, label: str) -> Markup:
    """Given the share of the error budget left (1 = untouched, below 0 = overspent, None = no data), return a
    horizontal bar filled to that share."""
    width, height = 300, 16
    if remaining is None:
        text = f"{label}: no data"
        filled = 0.0
    elif remaining < 0:
        text = f"{label}: budget overspent by {_percent(-remaining * 100)}"
        filled = 0.0
    else:
        text = f"{label}: {_percent(remaining * 100)} of the error budget left"
        filled = min(remaining, 1.0)
    colour = budget_colour(remaining)
    body = [
        f'<rect x="0" y="0" width="{width}" height="{height}" rx="3" fill="#eaeef2" stroke="{GRID}"/>',
        f'<rect x="0" y="0" width="{filled * width:.1f}" height="{height}" rx="3" fill="{colour}"/>',
    ]
    if remaining is not None and remaining < 0:
        body.append(
            f'<rect x="0" y="0" width="{width}" height="{height}" rx="3" fill="none" stroke="{DOWN}" '
            'stroke-width="2"/>'
        )
    return _svg(width, height, text, body, "chart budget-bar", aspect="none")


def burn_chart(
    points: Sequence[tuple[datetime, float]], *, start: datetime, end: datetime, label: str
) -> Markup:
    """Given (time, share of the budget left) pairs oldest first within [start, end] (times in the zone to
    show), return the remaining budget as a line from 100 % down, with the 0 % line drawn."""
    width, height, left, right, top, bottom = 480, 180, 46, 8, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    lowest = min([0.0, *(value for _, value in points)])
    span = (end - start).total_seconds() or 1.0

    def y(value: float) -> float:
        return top + (1 - value) / (1 - lowest) * plot_h

    def x(at: datetime) -> float:
        return left + max(0.0, min(1.0, (at - start).total_seconds() / span)) * plot_w

    body = [
        f'<line x1="{left}" y1="{y(1):.1f}" x2="{width - right}" y2="{y(1):.1f}" stroke="{GRID}" '
        'stroke-dasharray="4 3"/>',
        f'<line x1="{left}" y1="{y(0):.1f}" x2="{width - right}" y2="{y(0):.1f}" stroke="{DOWN}"/>',
        f'<text x="{left - 6}" y="{y(1) + 4:.1f}" text-anchor="end" font-size="12" '
        f'fill="{MUTED}">100%</text>',
        f'<text x="{left - 6}" y="{y(0) + 4:.1f}" text-anchor="end" font-size="12" fill="{MUTED}">0%</text>',
        f'<text x="{left}" y="{height - 6}" font-size="12" fill="{MUTED}">'
        f"{escape(start.strftime('%Y-%m-%d'))}</text>",
        f'<text x="{width - right}" y="{height - 6}" text-anchor="end" font-size="12" fill="{MUTED}">'
        f"{escape(end.strftime('%Y-%m-%d %H:%M'))}</text>",
    ]
    if points:
        line = " ".join(f"{x(at):.1f},{y(value):.1f}" for at, value in points)
        colour = budget_colour(points[-1][1])
        body.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        summary = f"{label}: {_percent(points[-1][1] * 100)} of the error budget left"
    else:
        summary = f"{label}: no data"
    return _svg(width, height, summary, body, "chart burn-chart")
