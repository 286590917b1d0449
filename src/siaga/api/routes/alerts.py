"""Alert intake (generic API and Alertmanager webhook) and the alert log."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request

from siaga.api.auth import Responder, Viewer
from siaga.api.deps import Wired
from siaga.api.schemas import NUL_FREE, AlertmanagerWebhook, GenericAlert, UtcDateTime
from siaga.domain.alerts import AlertIn
from siaga.runtime.batcher import IngestBatcher
from siaga.services.ingest import Submission

router = APIRouter(prefix="/api/v1", tags=["alerts"])


async def _ingest(request: Request, alerts: list[AlertIn], source: str, actor: str) -> dict[str, Any]:
    # The writer thread commits alerts of concurrent requests together; we answer after that commit.
    batcher: IngestBatcher = request.app.state.batcher
    result = await asyncio.wrap_future(batcher.submit(Submission(alerts, source, actor)))
    return {"accepted": result.accepted, "incidents": result.touched, "opened": result.opened}


@router.post("/alerts", summary="Post alerts (generic JSON; Alertmanager API v2 shape accepted)")
async def post_alerts(
    request: Request,
    wired: Wired,
    who: Responder,
    alerts: Annotated[list[GenericAlert], Body(min_length=1, max_length=1000)],
) -> dict[str, Any]:
    now = wired.clock.now()
    return await _ingest(request, [alert.to_domain(now) for alert in alerts], "api", f"api:{who.name}")


@router.post("/integrations/alertmanager", summary="Alertmanager webhook receiver (payload version 4)")
async def alertmanager_webhook(
    request: Request, wired: Wired, who: Responder, payload: AlertmanagerWebhook
) -> dict[str, Any]:
    now = wired.clock.now()
    actor = f"alertmanager:{who.name}"
    return await _ingest(request, [alert.to_domain(now) for alert in payload.alerts], "alertmanager", actor)


@router.get("/alerts", summary="The alert log: every alert event received, newest first")
def alert_log(
    wired: Wired,
    _who: Viewer,
    fingerprint: Annotated[str | None, Query(max_length=128, pattern=NUL_FREE)] = None,
    alertname: Annotated[str | None, Query(max_length=4096, pattern=NUL_FREE)] = None,
    incident_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    since: UtcDateTime | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    with wired.db.read() as store:
        rows = store.alert_log(
            fingerprint=fingerprint,
            alertname=alertname,
            incident_id=incident_id,
            since=since,
            before_id=before_id,
            limit=limit,
        )
    items = [dict(row) for row in rows]
    return {"items": items, "next_before_id": items[-1]["id"] if len(items) == limit else None}
