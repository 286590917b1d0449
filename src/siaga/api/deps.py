"""Request-scoped access to the wired container."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from siaga.bootstrap import Container


async def container(request: Request) -> Container:
    wired: Container = request.app.state.container
    return wired


Wired = Annotated[Container, Depends(container)]
