"""The FastAPI application: routers, security headers, error shapes, and the sweeper's life cycle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry

from siaga import __version__
from siaga.api.auth import TokenCache
from siaga.api.headers import SecurityHeaders
from siaga.api.intake import FastIntake
from siaga.api.metrics import BackupCollector, SchedulerCollector, StackCollector, StateCollector
from siaga.api.routes import alerts, checks, incidents, meta, paging
from siaga.bootstrap import Container
from siaga.domain.incidents import InvalidTransition
from siaga.runtime.backup_scheduler import BackupScheduler
from siaga.runtime.batcher import IngestBatcher
from siaga.runtime.dispatcher import Dispatcher
from siaga.runtime.reloader import SpecReloader
from siaga.runtime.scheduler import CheckScheduler
from siaga.runtime.sweeper import Sweeper
from siaga.runtime.telegram_bot import TelegramCommands
from siaga.services.incidents import InvalidInput, NotFound
from siaga.services.ports import ConflictError
from siaga.web import pages, status_page
from siaga.web.auth_routes import router as auth_router
from siaga.web.session import NotAllowed, not_allowed_page
from siaga.web.templating import STATIC


def create_app(
    container: Container,
    *,
    run_sweeper: bool = True,
    watch_spec: bool = True,
    dispatch: bool = True,
    run_checks: bool | None = None,
) -> FastAPI:
    """The app; `run_checks` (default: as `run_sweeper`) starts the probe scheduler with it."""
    reloader = SpecReloader(container, container.settings.config_path) if watch_spec else None
    sweeper = Sweeper(container, reloader=reloader)
    scheduler = CheckScheduler(container) if (run_sweeper if run_checks is None else run_checks) else None
    backup_scheduler = BackupScheduler(container) if scheduler is not None else None
    batcher = IngestBatcher(container)
    dispatcher = Dispatcher(container)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        if run_sweeper:
            sweeper.start()
        if scheduler is not None:
            scheduler.start()
        if backup_scheduler is not None:
            backup_scheduler.start()
        stop = asyncio.Event()
        sending = asyncio.create_task(dispatcher.run(stop)) if dispatch else None
        commands = asyncio.create_task(TelegramCommands(container).run(stop)) if dispatch else None
        if sending is not None:
            container.outbox_listeners.append(dispatcher.wake)
        try:
            yield
        finally:
            if sending is not None:
                container.outbox_listeners.remove(dispatcher.wake)
                stop.set()
                await sending
            if commands is not None:
                await commands
            if backup_scheduler is not None:
                backup_scheduler.stop()
            if scheduler is not None:
                scheduler.stop()
            if run_sweeper:
                sweeper.stop()
            batcher.stop()

    app = FastAPI(
        title="Siaga",
        version=__version__,
        description="Incidents, alerts and response targets from your siaga.yaml.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.container = container
    app.state.token_cache = TokenCache()
    app.state.sweeper = sweeper
    app.state.batcher = batcher
    app.state.scheduler = scheduler
    app.state.backup_scheduler = backup_scheduler
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(container))
    registry.register(BackupCollector(container))
    registry.register(StackCollector(container.settings.data_dir / "stack"))
    if scheduler is not None:
        registry.register(SchedulerCollector(scheduler.stats))
    app.state.registry = registry

    # Added first, so it runs inside SecurityHeaders: its answers carry the same headers.
    app.add_middleware(FastIntake, container=container, batcher=batcher, cache=app.state.token_cache)
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(NotFound)
    async def not_found(_request: Request, error: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=404)

    @app.exception_handler(InvalidTransition)
    async def invalid_transition(_request: Request, error: InvalidTransition) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=409)

    @app.exception_handler(InvalidInput)
    async def invalid_input(_request: Request, error: InvalidInput) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=422)

    @app.exception_handler(ConflictError)
    async def conflict(_request: Request, _error: ConflictError) -> JSONResponse:
        return JSONResponse({"detail": "busy: a concurrent change won; retry"}, status_code=503)

    app.include_router(meta.router)
    app.include_router(alerts.router)
    app.include_router(incidents.router)
    app.include_router(paging.router)
    app.include_router(checks.router)
    app.include_router(pages.router)
    app.include_router(auth_router)
    app.add_exception_handler(NotAllowed, not_allowed_page)
    app.include_router(status_page.router)
    app.mount("/static", StaticFiles(directory=STATIC, check_dir=True), name="static")
    return app
