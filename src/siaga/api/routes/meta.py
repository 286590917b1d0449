"""Health, metrics, the loaded spec and token management."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from siaga import __version__
from siaga.api import auth
from siaga.api.auth import Admin, Viewer
from siaga.api.deps import Wired
from siaga.api.schemas import NUL_FREE, TokenRequest
from siaga.services import tokens
from siaga.services.tokens import Role, TokenError

router = APIRouter()


@router.get("/health", tags=["meta"], summary="Liveness and database reachability (open)")
def health(wired: Wired) -> JSONResponse:
    try:
        with wired.db.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        database = "ok"
    except sa.exc.SQLAlchemyError:
        database = "unreachable"
    body = {"status": "ok" if database == "ok" else "degraded", "version": __version__, "database": database}
    return JSONResponse(body, status_code=200 if database == "ok" else 503)


@router.get("/metrics", tags=["meta"], summary="Prometheus metrics (open or token, by SIAGA_METRICS)")
async def metrics(request: Request, wired: Wired) -> Response:
    if not wired.settings.metrics_public:
        await auth.require(Role.VIEWER)(await auth.principal(request))
    body = await run_in_threadpool(generate_latest, request.app.state.registry)  # reads the database
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/spec", tags=["meta"], summary="The loaded spec, secrets masked")
def spec(wired: Wired, _who: Viewer) -> dict[str, Any]:
    return wired.spec.masked()


@router.get("/api/v1/stack", tags=["meta"], summary="The supervised Prometheus stack and its health")
def stack_status(wired: Wired, _who: Viewer) -> dict[str, Any]:
    from siaga.runtime import stack

    stack_dir = wired.settings.data_dir / "stack"
    if not (stack_dir / stack.STACK_FILE).is_file():
        return {"running": False, "healthy": False, "components": []}
    return stack.status_to_json(stack.status(stack_dir), now=wired.clock.now())


@router.get("/api/v1/tokens", tags=["tokens"], summary="List API tokens (never their values)")
def list_tokens(wired: Wired, _who: Admin) -> dict[str, Any]:
    return {"items": tokens.list_tokens(uow=wired.db)}


@router.post(
    "/api/v1/tokens", tags=["tokens"], status_code=201, summary="Create a token; its value is shown once"
)
def create_token(wired: Wired, _who: Admin, body: TokenRequest) -> dict[str, Any]:
    try:
        value = tokens.create(uow=wired.db, name=body.name, role=Role(body.role), now=wired.clock.now())
    except TokenError as error:
        raise HTTPException(409, detail=str(error)) from None
    return {"name": body.name, "role": body.role, "token": value}


@router.delete("/api/v1/tokens/{name}", tags=["tokens"], summary="Revoke a token")
def revoke_token(
    wired: Wired, _who: Admin, name: Annotated[str, Path(max_length=100, pattern=NUL_FREE)]
) -> dict[str, Any]:
    try:
        tokens.revoke(uow=wired.db, name=name, now=wired.clock.now())
    except TokenError as error:
        raise HTTPException(404, detail=str(error)) from None
    return {"name": name, "revoked": True}
