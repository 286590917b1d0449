"""The public status page: `/status` (HTML), `/status.json`, `/status/badge/{service}.svg` and
`/status/feed.atom`. Open to everyone (no sign-in); they show only what `services.status_page` returns."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree as ET

from fastapi import APIRouter, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, Response

from siaga.api.deps import Wired
from siaga.bootstrap import Container
from siaga.services import status_page
from siaga.web.templating import render

router = APIRouter(include_in_schema=False)

# Badge colours per public state (CSS variables of siaga.css, as SVG attributes: the CSP forbids styles).
STATE_FILL = {
    "operational": "#1a7f37",
    "degraded_performance": "#9a6700",
    "partial_outage": "#bc4c00",
    "major_outage": "#cf222e",
    "under_maintenance": "#0969da",
    "no_data": "#57606a",
}
_BAR_WIDTH, _BAR_GAP, _BAR_HEIGHT = 3, 2, 34
_ATOM = "http://www.w3.org/2005/Atom"
# Tag URIs need a date at which the authority was held; fixed, so that ids never change.
_TAG_DATE = "2026"
ET.register_namespace("", _ATOM)


# Hour rollups change once an hour: the uptime bars are recomputed at most every 5 minutes per process.
_UPTIME_CACHE = status_page.UptimeCache()


def _data(wired: Container) -> dict[str, Any]:
    return status_page.public_status(
        uow=wired.db,
        spec=wired.spec,
        policy=wired.policy,
        plan=wired.check_plan(),
        now=wired.clock.now(),
        cache=_UPTIME_CACHE,
    )


def bar_fill(day: dict[str, Any]) -> str:
    """A day's colour: green at 99.95 % or better, amber from 99 %, orange from 95 %, red below; blue for a
    day spent in maintenance only, grey without data."""
    percent = day["uptime_percent"]
    if percent is None:
        return STATE_FILL["under_maintenance"] if day["maintenance_minutes"] else "#d0d7de"
    if percent >= 99.95:
        return STATE_FILL["operational"]
    if percent >= 99:
        return STATE_FILL["degraded_performance"]
    if percent >= 95:
        return STATE_FILL["partial_outage"]
    return STATE_FILL["major_outage"]


def _bar_title(day: dict[str, Any]) -> str:
    percent = day["uptime_percent"]
    if percent is None:
        text = "under maintenance" if day["maintenance_minutes"] else "no data"
    else:
        text = f"{percent:g}% uptime"
        if day["down_minutes"]:
            text += f", {day['down_minutes']:g} min down"
    return f"{day['date']}: {text}"


def _bars(days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"x": i * (_BAR_WIDTH + _BAR_GAP), "fill": bar_fill(day), "title": _bar_title(day)}
        for i, day in enumerate(days)
    ]


@router.get("/status", response_class=HTMLResponse)
def status_html(request: Request, wired: Wired) -> HTMLResponse:
    data = _data(wired)
    for component in data["components"]:
        component["bars"] = _bars(component["days"])
    context = {
        **data,
        "title": f"{data['project']} status",
        "user": None,
        "bar_width": _BAR_WIDTH,
        "bar_height": _BAR_HEIGHT,
        "bars_width": status_page.DAYS * (_BAR_WIDTH + _BAR_GAP) - _BAR_GAP,
    }
    return render(request, "status.html", context)


@router.get("/status.json")
def status_json(wired: Wired) -> JSONResponse:
    return JSONResponse(jsonable_encoder(_data(wired)))


def _text_width(text: str) -> int:
    # Verdana 11px averages about 6.5 px a character; textLength below makes renderers agree.
    return round(len(text) * 6.5)


def badge_svg(label: str, message: str, fill: str) -> str:
    """A shields.io-style flat badge: `label` on grey, `message` on `fill`; every text escaped."""
    left, right = _text_width(label) + 10, _text_width(message) + 10
    width = left + right
    label_e, message_e = html.escape(label), html.escape(message)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" '
        f'aria-label="{label_e}: {message_e}">'
        f"<title>{label_e}: {message_e}</title>"
        f'<rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{html.escape(fill)}"/>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" '
        'font-size="11">'
        f'<text x="{left / 2}" y="14" textLength="{left - 10}">{label_e}</text>'
        f'<text x="{left + right / 2}" y="14" textLength="{right - 10}">{message_e}</text>'
        "</g></svg>"
    )


@router.get("/status/badge/{service}.svg")
def status_badge(wired: Wired, service: str) -> Response:
    states = status_page.component_states(
        uow=wired.db, spec=wired.spec, policy=wired.policy, plan=wired.check_plan(), now=wired.clock.now()
    )
    state = states.get(service)
    if state is None:  # unknown and private services alike: nothing tells them apart
        raise HTTPException(404, detail="no such public service")
    svg = badge_svg(service, status_page.STATE_TEXT[state], STATE_FILL[state])
    return Response(svg, media_type="image/svg+xml")


# -- Atom --------------------------------------------------------------------------------------------


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _base_url(wired: Container, request: Request) -> str:
    return (wired.spec.project.public_url or str(request.base_url)).rstrip("/")


def _entry_html(incident: dict[str, Any]) -> str:
    parts = [
        f"<p>{html.escape(incident['status_text'].capitalize())} · {html.escape(incident['severity'])} · "
        f"{html.escape(incident['service'] or '')}</p>"
    ]
    for update in incident["updates"]:
        parts.append(f"<p><strong>{_stamp(update['at'])}</strong> — {html.escape(update['text'])}</p>")
    if incident["resolved_at"] is not None:
        parts.append(f"<p>Resolved {_stamp(incident['resolved_at'])}.</p>")
    return "".join(parts)


def feed_xml(data: dict[str, Any], *, base: str) -> bytes:
    """Atom 1.0: one entry per incident (its public updates as the content), ids as `tag:` URIs."""
    authority = urlsplit(base).hostname or "localhost"
    project = quote(data["project"], safe="")

    def sub(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{_ATOM}}}{name}", attrs)
        element.text = text
        return element

    feed = ET.Element(f"{{{_ATOM}}}feed")
    sub(feed, "id", f"tag:{authority},{_TAG_DATE}:siaga/{project}/status")
    sub(feed, "title", f"{data['project']} status: incidents")
    updated = max((i["updated_at"] for i in data["incidents"]), default=data["generated_at"])
    sub(feed, "updated", _stamp(updated))
    author = sub(feed, "author")
    sub(author, "name", data["project"])
    sub(feed, "link", rel="self", href=f"{base}/status/feed.atom", type="application/atom+xml")
    sub(feed, "link", rel="alternate", href=f"{base}/status", type="text/html")
    for incident in data["incidents"]:
        entry = sub(feed, "entry")
        opened = incident["opened_at"].astimezone(UTC)
        sub(entry, "id", f"tag:{authority},{opened:%Y-%m-%d}:siaga/{project}/incident/{incident['id']}")
        sub(entry, "title", f"[{incident['status_text']}] {incident['title']}")
        sub(entry, "published", _stamp(incident["opened_at"]))
        sub(entry, "updated", _stamp(incident["updated_at"]))
        sub(entry, "link", rel="alternate", href=f"{base}/status#incident-{incident['id']}", type="text/html")
        sub(entry, "content", _entry_html(incident), type="html")
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document


@router.get("/status/feed.atom")
def status_feed(request: Request, wired: Wired) -> Response:
    body = feed_xml(_data(wired), base=_base_url(wired, request))
    return Response(body, media_type="application/atom+xml; charset=utf-8")
