"""Services and their checks, heartbeat pings, and SLO reports."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse

from siaga.api.auth import Viewer
from siaga.api.deps import Wired
from siaga.bootstrap import Container
from siaga.services import checks, slo_report, status

router = APIRouter()
_TOKEN = Annotated[str, Path(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@router.get("/api/v1/services", tags=["checks"], summary="Services with their state and their checks")
def list_services(wired: Wired, _who: Viewer) -> dict[str, Any]:
    items = status.overview(
        uow=wired.db, spec=wired.spec, policy=wired.policy, plan=wired.check_plan(), now=wired.clock.now()
    )
    return {"items": items}


def _ping(wired: Container, token: str, kind: str) -> PlainTextResponse:
    found = checks.ping(
        uow=wired.db,
        policy=wired.policy,
        plan=wired.check_plan(),
        token=token,
        kind=kind,
        now=wired.clock.now(),
    )
    if not found:
        raise HTTPException(404, detail="unknown heartbeat token")
    if kind != "start":
        wired.outbox_changed()
    return PlainTextResponse("OK\n")


async def heartbeat_success(wired: Wired, token: _TOKEN) -> PlainTextResponse:
    """The job ran successfully."""
    return await run_in_threadpool(_ping, wired, token, "success")


async def heartbeat_event(
    wired: Wired, token: _TOKEN, kind: Annotated[str, Path(pattern=r"^(start|fail|success)$")]
) -> PlainTextResponse:
    """The job started (`start`), failed (`fail`) or succeeded (`success`)."""
    return await run_in_threadpool(_ping, wired, token, kind)


# The token in the URL is the credential, as with healthchecks.io's ping URLs: cron jobs and backup
# scripts can ping with a bare `curl`, and GET works where only GET is possible.
_HEARTBEAT_ROUTES = (
    ("/api/v1/heartbeat/{token}", heartbeat_success, "the job ran (open; the token is the credential)"),
    ("/api/v1/heartbeat/{token}/{kind}", heartbeat_event, "the job started, failed or succeeded"),
)
for _path, _endpoint, _what in _HEARTBEAT_ROUTES:
    for _method in ("GET", "POST"):
        router.add_api_route(
            _path,
            _endpoint,
            methods=[_method],
            tags=["checks"],
            summary=f"Heartbeat ping: {_what}",
            response_class=PlainTextResponse,
            operation_id=f"{_endpoint.__name__}_{_method.lower()}",
        )


@router.get("/api/v1/slo/report", tags=["slo"], summary="Monthly uptime and SLOs per service, pass / fail")
def monthly_report(
    wired: Wired,
    _who: Viewer,
    month: Annotated[str, Query(description="Calendar month YYYY-MM in the project time zone")],
) -> dict[str, Any]:
    match = _MONTH.match(month)
    if match is None:
        raise HTTPException(422, detail=f"month: expected YYYY-MM, got '{month[:20]}'")
    return slo_report.monthly(
        uow=wired.db,
        spec=wired.spec,
        policy=wired.policy,
        plan=wired.check_plan(),
        year=int(match.group(1)),
        month=int(match.group(2)),
        now=wired.clock.now(),
    )


@router.get("/api/v1/slo", tags=["slo"], summary="Every SLO's error budget now")
def budgets(wired: Wired, _who: Viewer) -> dict[str, Any]:
    items = slo_report.budgets(uow=wired.db, spec=wired.spec, plan=wired.check_plan(), now=wired.clock.now())
    return {"items": items}
