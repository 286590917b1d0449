"""Incidents: list, read, and act on them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse

from siaga.api.auth import Responder, Viewer
from siaga.api.deps import Wired
from siaga.api.schemas import NUL_FREE, Assignment, Note, Postmortem, Resolution, SeverityChange, UtcDateTime
from siaga.services import incidents

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])
IncidentId = Annotated[int, Path(ge=1, le=2**62)]
StatusFilter = Literal["triggered", "acknowledged", "resolved", "open"]


@router.get("", summary="List incidents, newest first")
def list_incidents(
    wired: Wired,
    _who: Viewer,
    status: Annotated[list[StatusFilter] | None, Query()] = None,
    severity: Annotated[list[Annotated[str, Query(max_length=64, pattern=NUL_FREE)]] | None, Query()] = None,
    service: Annotated[str | None, Query(max_length=4096, pattern=NUL_FREE)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> dict[str, Any]:
    statuses: list[str] = []
    for item in status or []:
        statuses += ["triggered", "acknowledged"] if item == "open" else [item]
    levels = []
    for name in severity or []:
        level = wired.policy.ladder.get(name)
        levels.append(level.name if level else name)
    items = incidents.list_incidents(
        uow=wired.db, statuses=statuses, severities=levels, service=service, limit=limit, offset=offset
    )
    return {"items": items, "limit": limit, "offset": offset}


@router.get("/stats", summary="MTTA, MTTR, breaches and pending post-mortems")
def stats(wired: Wired, _who: Viewer, since: UtcDateTime | None = None) -> dict[str, Any]:
    return incidents.stats(uow=wired.db, since=since)


@router.get("/{incident_id}", summary="One incident with its timeline and alerts")
def get_incident(wired: Wired, _who: Viewer, incident_id: IncidentId) -> dict[str, Any]:
    return incidents.get_incident(uow=wired.db, incident_id=incident_id)


def _done(wired: Wired, incident_id: int, *, paged: bool = False) -> dict[str, Any]:
    if paged:
        wired.outbox_changed()  # acknowledge / resolve / reopen messages may be waiting
    return incidents.get_incident(uow=wired.db, incident_id=incident_id)


@router.post("/{incident_id}/ack", summary="Acknowledge")
def acknowledge(wired: Wired, who: Responder, incident_id: IncidentId) -> dict[str, Any]:
    incidents.acknowledge(uow=wired.db, incident_id=incident_id, actor=who.actor, now=wired.clock.now())
    return _done(wired, incident_id, paged=True)


@router.post("/{incident_id}/unack", summary="Withdraw an acknowledgement")
def unacknowledge(wired: Wired, who: Responder, incident_id: IncidentId) -> dict[str, Any]:
    incidents.unacknowledge(uow=wired.db, incident_id=incident_id, actor=who.actor, now=wired.clock.now())
    return _done(wired, incident_id, paged=True)


@router.post("/{incident_id}/resolve", summary="Resolve")
def resolve(
    wired: Wired, who: Responder, incident_id: IncidentId, body: Resolution | None = None
) -> dict[str, Any]:
    reason = body.reason if body else None
    incidents.resolve(
        uow=wired.db, incident_id=incident_id, actor=who.actor, now=wired.clock.now(), reason=reason
    )
    return _done(wired, incident_id, paged=True)


@router.post("/{incident_id}/reopen", summary="Reopen a resolved incident")
def reopen(wired: Wired, who: Responder, incident_id: IncidentId) -> dict[str, Any]:
    now = wired.clock.now()
    incidents.reopen(uow=wired.db, policy=wired.policy, incident_id=incident_id, actor=who.actor, now=now)
    return _done(wired, incident_id, paged=True)


@router.post("/{incident_id}/notes", summary="Add a note to the timeline")
def add_note(wired: Wired, who: Responder, incident_id: IncidentId, body: Note) -> dict[str, Any]:
    incidents.add_note(
        uow=wired.db,
        incident_id=incident_id,
        actor=who.actor,
        text=body.text,
        now=wired.clock.now(),
        public=body.public,
    )
    return _done(wired, incident_id)


@router.post("/{incident_id}/assign", summary="Assign to someone (null unassigns)")
def assign(wired: Wired, who: Responder, incident_id: IncidentId, body: Assignment) -> dict[str, Any]:
    now = wired.clock.now()
    incidents.assign(uow=wired.db, incident_id=incident_id, actor=who.actor, assignee=body.assignee, now=now)
    return _done(wired, incident_id)


@router.post("/{incident_id}/severity", summary="Change the severity (name or alias)")
def change_severity(
    wired: Wired, who: Responder, incident_id: IncidentId, body: SeverityChange
) -> dict[str, Any]:
    incidents.change_severity(
        uow=wired.db,
        policy=wired.policy,
        incident_id=incident_id,
        actor=who.actor,
        severity=body.severity,
        now=wired.clock.now(),
    )
    return _done(wired, incident_id)


@router.get("/{incident_id}/postmortem", summary="The post-mortem (attached, or a draft from the timeline)")
def get_postmortem(wired: Wired, _who: Viewer, incident_id: IncidentId) -> PlainTextResponse:
    text = incidents.postmortem_draft(uow=wired.db, incident_id=incident_id)
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")


@router.put("/{incident_id}/postmortem", summary="Attach the post-mortem (Markdown)")
def attach_postmortem(
    wired: Wired, who: Responder, incident_id: IncidentId, body: Postmortem
) -> dict[str, Any]:
    now = wired.clock.now()
    incidents.attach_postmortem(
        uow=wired.db, incident_id=incident_id, actor=who.actor, text=body.text, now=now
    )
    return _done(wired, incident_id)
