"""Paging: silences, on-call schedules and overrides, the iCal feed, route dry runs, an incident's
messages."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from siaga.api import auth
from siaga.api.auth import Responder, Viewer
from siaga.api.deps import Wired
from siaga.api.schemas import (
    NUL_FREE,
    OverrideRequest,
    PagingDateTime,
    RouteTestRequest,
    SilenceRequest,
)
from siaga.services import dryrun, oncall, silences
from siaga.services.incidents import NotFound
from siaga.services.tokens import Principal, Role

router = APIRouter(prefix="/api/v1")
RowId = Annotated[int, Path(ge=1, le=2**62)]
Schedule = Annotated[str, Path(min_length=1, max_length=200, pattern=NUL_FREE)]
SHIFTS_SPAN = timedelta(days=14)
# Columns of an outbox row worth showing; the stored message is reduced to its kind and title.
_OUTBOX_COLUMNS = (
    "id",
    "key",
    "channel",
    "kind",
    "status",
    "attempts",
    "created_at",
    "next_attempt_at",
    "sent_at",
    "response_code",
    "latency_ms",
    "last_error",
)


# -- silences -------------------------------------------------------------------------------------------


@router.get("/silences", tags=["silences"], summary="Silences that are active or pending")
def list_silences(
    wired: Wired,
    _who: Viewer,
    include_expired: Annotated[bool, Query(alias="all", description="Include expired silences.")] = False,
) -> dict[str, Any]:
    items = silences.list_silences(uow=wired.db, now=wired.clock.now(), include_expired=include_expired)
    return {"items": items}


@router.post("/silences", tags=["silences"], status_code=201, summary="Silence paging for matching alerts")
def create_silence(wired: Wired, who: Responder, body: SilenceRequest) -> dict[str, Any]:
    now = wired.clock.now()
    starts_at = body.starts_at or now
    return silences.create(
        uow=wired.db,
        matchers=body.matchers,
        starts_at=starts_at,
        ends_at=body.ends_after(starts_at),
        comment=body.comment,
        actor=who.actor,
        now=now,
        until_resolved=body.until_resolved,
    )


@router.delete("/silences/{silence_id}", tags=["silences"], summary="Expire a silence now")
def expire_silence(wired: Wired, who: Responder, silence_id: RowId) -> dict[str, Any]:
    return silences.expire(uow=wired.db, silence_id=silence_id, actor=who.actor, now=wired.clock.now())


# -- on call --------------------------------------------------------------------------------------------


async def feed_reader(
    request: Request,
    token: Annotated[
        str | None,
        Query(max_length=200, description="The API token, for calendar apps that cannot send headers."),
    ] = None,
) -> Principal:
    """The bearer header when there is one, else ``?token=``; raises 401 without either, 403 below viewer."""
    if request.headers.get("authorization") or token is None:
        who = await auth.principal(request)
    else:
        state = request.app.state
        found = await run_in_threadpool(
            auth.check_token, state.container.db, state.token_cache, token.strip()
        )
        if found is None:
            raise auth.unauthorized("invalid or revoked token")
        who = found
    if not who.role.allows(Role.VIEWER):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="needs the viewer role")
    return who


# Declared before /oncall/{schedule}, which would otherwise take "devops.ics" for a schedule's name.
@router.get(
    "/oncall/{schedule}.ics",
    tags=["on-call"],
    summary="The schedule's shifts as an iCalendar feed (token in the header or ?token=)",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}, "description": "An iCalendar (RFC 5545) feed."}},
)
def oncall_feed(
    wired: Wired, _who: Annotated[Principal, Depends(feed_reader)], schedule: Schedule
) -> Response:
    body = oncall.ical(uow=wired.db, policy=wired.policy, schedule=schedule, now=wired.clock.now())
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="{schedule}.ics"'},
    )


@router.get("/oncall/{schedule}", tags=["on-call"], summary="Who is on call now, and who is next")
def oncall_now(
    wired: Wired,
    _who: Viewer,
    schedule: Schedule,
    at: Annotated[PagingDateTime | None, Query(description="Ask about this instant; default now.")] = None,
) -> dict[str, Any]:
    return oncall.now_and_next(
        uow=wired.db, policy=wired.policy, schedule=schedule, at=at or wired.clock.now()
    )


@router.get("/oncall/{schedule}/shifts", tags=["on-call"], summary="The shifts of a range (default 14 days)")
def oncall_shifts(
    wired: Wired,
    _who: Viewer,
    schedule: Schedule,
    start: Annotated[PagingDateTime | None, Query(alias="from", description="Default now.")] = None,
    end: Annotated[PagingDateTime | None, Query(alias="to", description="Default `from` + 14 days.")] = None,
) -> dict[str, Any]:
    start = start or wired.clock.now()
    end = end or start + SHIFTS_SPAN
    items = oncall.shifts(uow=wired.db, policy=wired.policy, schedule=schedule, start=start, end=end)
    return {"schedule": schedule, "from": start, "to": end, "items": items}


@router.post(
    "/oncall/{schedule}/overrides", tags=["on-call"], status_code=201, summary="Put someone on call a while"
)
def add_override(wired: Wired, who: Responder, schedule: Schedule, body: OverrideRequest) -> dict[str, Any]:
    return oncall.add_override(
        uow=wired.db,
        policy=wired.policy,
        schedule=schedule,
        person=body.person,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        actor=who.actor,
        now=wired.clock.now(),
    )


@router.delete("/oncall/overrides/{override_id}", tags=["on-call"], summary="Remove an override")
def remove_override(wired: Wired, _who: Responder, override_id: RowId) -> dict[str, Any]:
    oncall.remove_override(uow=wired.db, override_id=override_id)
    return {"id": override_id, "removed": True}


# -- dry run and deliveries -----------------------------------------------------------------------------


def timeline_seconds(result: dict[str, Any]) -> dict[str, Any]:
    """The dry run with each fire's ``after`` in seconds (JSON has no duration type)."""
    timeline = [{**fire, "after": int(fire["after"].total_seconds())} for fire in result["timeline"]]
    return {**result, "timeline": timeline}


@router.post("/route-test", tags=["paging"], summary="Which routes an alert follows and who it would page")
def route_test(wired: Wired, _who: Viewer, body: RouteTestRequest) -> dict[str, Any]:
    at: datetime = body.at or wired.clock.now()
    result = dryrun.route_test(policy=wired.policy, labels=body.labels, at=at, uow=wired.db)
    return timeline_seconds(result)


@router.get(
    "/incidents/{incident_id}/notifications",
    tags=["incidents"],
    summary="The messages queued and sent for an incident, oldest first",
)
def notifications(wired: Wired, _who: Viewer, incident_id: RowId) -> dict[str, Any]:
    with wired.db.read() as store:
        if store.incident(incident_id) is None:
            raise NotFound(incident_id)
        rows = store.outbox_of(incident_id)
    items = [
        {
            **{name: row[name] for name in _OUTBOX_COLUMNS},
            "message": {"kind": row["message"].get("kind"), "title": row["message"].get("title")},
        }
        for row in rows
    ]
    return {"items": items}
