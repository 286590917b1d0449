"""What a log line needs to know about the request it is written in: service, request id, tenant, user."""

from __future__ import annotations

from contextvars import ContextVar


class RequestContext:
    """Mutable on purpose: the app may set the user in a copied context (a thread pool, a task group), and
    the middleware's own log line at the end of the request must still see it."""

    __slots__ = ("request_id", "service", "tenant_id", "user_id")

    def __init__(
        self,
        *,
        service: str | None = None,
        request_id: str | None = None,
        tenant_id: str | None = None,
        user_id: str | None = None,
    ) -> None:
        self.service = service
        self.request_id = request_id
        self.tenant_id = tenant_id
        self.user_id = user_id


CURRENT: ContextVar[RequestContext | None] = ContextVar("siaga_instrument_request", default=None)


def current_request_id() -> str | None:
    """Returns the id of the request being handled, or None outside a request."""
    context = CURRENT.get()
    return context.request_id if context is not None else None


def set_user_id(user_id: str | None) -> None:
    """Given the id the app's authentication established, stamps it on every later log line of this request
    (or of this context, outside a request)."""
    context = CURRENT.get()
    if context is None:
        CURRENT.set(RequestContext(user_id=user_id))
    else:
        context.user_id = user_id
