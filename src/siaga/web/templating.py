"""One Jinja2 environment for every page: autoescaped, templates from `web/templates`, a few filters."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "xml", "svg"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _local(value: datetime | str | None, zone: str = "UTC", fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) time shown in the project's time zone."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(ZoneInfo(zone)).strftime(fmt)


def _ago(value: timedelta | float | None) -> str:
    """A span as people say it: 45s, 12m, 3h 5m, 2d."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds}s"
    if seconds < 3600:
        return f"{sign}{seconds // 60}m"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{sign}{hours}h {minutes}m" if minutes else f"{sign}{hours}h"
    return f"{sign}{seconds // 86400}d"


environment.filters["local"] = _local
environment.filters["ago"] = _ago


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """Render `template` with `context` plus `request`; `base.html` reads `title`, `user` and `csrf_token`."""
    html = environment.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status_code)
