"""A post-mortem draft in Markdown, written from an incident and its timeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def _span(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "—"
    seconds = int((end - start) / timedelta(seconds=1))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def draft(incident: Mapping[str, Any], timeline: Sequence[Mapping[str, Any]]) -> str:
    """Return a Markdown draft: summary, impact, timeline and the questions an RCA must answer."""
    alertnames = sorted({a["alertname"] for a in incident.get("alerts", ()) if a.get("alertname")})
    lines = [
        f"# Post-mortem: {incident['title']} (incident #{incident['id']})",
        "",
        "## Summary",
        "",
        "| | |",
        "| --- | --- |",
        f"| Severity | {incident['severity']} |",
        f"| Service | {incident.get('service') or '—'} |",
        f"| Opened | {_when(incident['opened_at'])} |",
        f"| Acknowledged | {_when(incident.get('first_acknowledged_at'))} |",
        f"| Resolved | {_when(incident.get('resolved_at'))} |",
        f"| Time to acknowledge | {_span(incident['opened_at'], incident.get('first_acknowledged_at'))} |",
        f"| Time to resolve | {_span(incident['opened_at'], incident.get('resolved_at'))} |",
        f"| Alerts | {', '.join(alertnames) or '—'} |",
        "",
        "## Impact",
        "",
        "_Who and what was affected, for how long._",
        "",
        "## Timeline",
        "",
        "| # | Time (UTC) | Actor | Event |",
        "| --- | --- | --- | --- |",
    ]
    for event in timeline:
        message = str(event["message"]).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {event['seq']} | {_when(event['at'])} | {event['actor']} | {message} |")
    lines += [
        "",
        "## Root cause",
        "",
        "_Why did it happen? Ask why until the answer is a decision or a gap, not a person._",
        "",
        "## What went well / what went badly",
        "",
        "## Action items",
        "",
        "| Action | Owner | Due |",
        "| --- | --- | --- |",
        "| | | |",
        "",
    ]
    return "\n".join(lines)
