"""The signed-in dashboard: overview, services, incidents (and acting on them), on call, silences, SLOs,
settings; and the fragments `siaga.js` polls to keep the overview and an incident live.

Pages read through `views`; forms post back here (responder role and the session's CSRF token), then
redirect (303) to the page they came from, or show what went wrong on that page — never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from siaga.api.deps import Wired
from siaga.api.schemas import NUL_FREE, SilenceRequest
from siaga.bootstrap import Container
from siaga.domain.incidents import IncidentError, InvalidTransition
from siaga.services import incidents, silences
from siaga.services.incidents import InvalidInput, NotFound
from siaga.services.ports import ConflictError
from siaga.web import views
from siaga.web.session import Admin, CsrfChecked, Responder, Viewer, WebUser, read_form
from siaga.web.templating import render

router = APIRouter(include_in_schema=False)
RowId = Annotated[int, Path(ge=1, le=2**62)]
Form = Annotated[dict[str, str], Depends(read_form)]
Filter = Annotated[str, Query(max_length=200, pattern=NUL_FREE)]
PAGE_SIZE = 50
STATUS_FILTERS = (
    ("open", "open (triggered or acknowledged)"),
    ("triggered", "triggered"),
    ("acknowledged", "acknowledged"),
    ("resolved", "resolved"),
    ("all", "all"),
)


def _page(
    request: Request,
    wired: Container,
    user: WebUser,
    template: str,
    title: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    base = {"title": title, "user": user, "csrf_token": user.csrf_token, "zone": wired.spec.project.timezone}
    return render(request, template, {**base, **context}, status_code=status_code)


def _missing(request: Request, wired: Container, user: WebUser, message: str, back: str) -> HTMLResponse:
    return _page(request, wired, user, "page_error.html", "Not found", 404, message=message, back=back)


def _fragment(request: Request, wired: Container, template: str, context: dict[str, Any]) -> HTMLResponse:
    return render(request, template, {"zone": wired.spec.project.timezone, **context})


def _budgets(request: Request) -> views.BudgetCache:
    cache = getattr(request.app.state, "budget_cache", None)
    if not isinstance(cache, views.BudgetCache):
        cache = request.app.state.budget_cache = views.BudgetCache()
    return cache


def _text(fields: dict[str, str], name: str, *, limit: int, required: bool = False) -> str:
    """A form field, stripped; raises InvalidInput when it is required and empty, too long, or holds NUL."""
    value = fields.get(name, "").strip()
    if required and not value:
        raise InvalidInput(f"{name}: please fill it in")
    if len(value) > limit:
        raise InvalidInput(f"{name}: at most {limit} characters")
    if "\x00" in value:
        raise InvalidInput(f"{name}: must not contain NUL characters")
    return value


def _error_status(error: Exception) -> int:
    if isinstance(error, InvalidTransition):
        return 409
    if isinstance(error, ConflictError):
        return 503
    return 422


def _message(error: Exception) -> str:
    if isinstance(error, ConflictError):
        return "Someone changed this at the same moment; please try again."
    return str(error)


# -- overview and services ------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, wired: Wired, user: Viewer) -> HTMLResponse:
    now = wired.clock.now()
    live = views.overview_live(wired=wired, now=now)
    budgets = _budgets(request).get(wired=wired, now=now)
    return _page(request, wired, user, "overview.html", "Overview", budgets=budgets, **live)


@router.get("/live/overview", response_class=HTMLResponse)
def overview_fragment(request: Request, wired: Wired, _user: Viewer) -> HTMLResponse:
    live = views.overview_live(wired=wired, now=wired.clock.now())
    return _fragment(request, wired, "_overview_live.html", live)


@router.get("/services/{name}", response_class=HTMLResponse)
def service(
    request: Request,
    wired: Wired,
    user: Viewer,
    name: Annotated[str, Path(max_length=200, pattern=NUL_FREE)],
    span: Annotated[str, Query(alias="range", max_length=10)] = "24h",
) -> HTMLResponse:
    span = span if span in views.LATENCY_RANGES else "24h"
    found = views.service_page(wired=wired, name=name, now=wired.clock.now(), span=span)
    if found is None:
        return _missing(request, wired, user, f"There is no service '{name}' in the spec.", "/")
    return _page(request, wired, user, "service.html", name, **found)


# -- incidents ------------------------------------------------------------------------------------------


@router.get("/incidents", response_class=HTMLResponse)
def incident_list(
    request: Request,
    wired: Wired,
    user: Viewer,
    status: Filter = "open",
    severity: Filter = "",
    service: Filter = "",
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> HTMLResponse:
    status = status if status in dict(STATUS_FILTERS) else "open"
    statuses = {"open": ["triggered", "acknowledged"], "all": []}.get(status, [status])
    found = views.incident_list(
        wired=wired,
        now=wired.clock.now(),
        statuses=statuses,
        severity=severity or None,
        service=service or None,
        limit=PAGE_SIZE + 1,  # one more than shown: is there an older page?
        offset=offset,
    )
    filters = {"status": status, "severity": severity, "service": service}

    def url(at: int) -> str:
        query = {key: value for key, value in filters.items() if value}
        return "/incidents?" + urlencode({**query, **({"offset": at} if at else {})})

    return _page(
        request,
        wired,
        user,
        "incidents.html",
        "Incidents",
        incidents=found[:PAGE_SIZE],
        filters=filters,
        statuses=STATUS_FILTERS,
        severities=[level.name for level in wired.policy.ladder.levels],
        services=sorted(wired.spec.services),
        prev_url=url(max(offset - PAGE_SIZE, 0)) if offset else None,
        next_url=url(offset + PAGE_SIZE) if len(found) > PAGE_SIZE else None,
    )


def _incident(
    request: Request,
    wired: Container,
    user: WebUser,
    incident_id: int,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    try:
        found = views.incident_page(wired=wired, incident_id=incident_id, now=wired.clock.now())
    except NotFound:
        return _missing(request, wired, user, f"There is no incident #{incident_id}.", "/incidents")
    title = f"#{incident_id} {found['incident']['title']}"
    return _page(
        request, wired, user, "incident.html", title, status_code, error=error, form=form or {}, **found
    )


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident(request: Request, wired: Wired, user: Viewer, incident_id: RowId) -> HTMLResponse:
    return _incident(request, wired, user, incident_id)


@router.get("/live/incidents/{incident_id}", response_class=HTMLResponse)
def incident_fragment(request: Request, wired: Wired, _user: Viewer, incident_id: RowId) -> HTMLResponse:
    try:
        found = views.incident_page(wired=wired, incident_id=incident_id, now=wired.clock.now())
    except NotFound:
        return HTMLResponse("<p>No such incident.</p>", status_code=404)
    return _fragment(request, wired, "_incident_live.html", found)


def _act(
    request: Request,
    wired: Container,
    user: WebUser,
    incident_id: int,
    form: dict[str, str],
    action: Callable[[], None],
    *,
    paged: bool = False,
) -> Response:
    """Carry out `action` on the incident, then back to its page (303); a refusal is shown on the page."""
    try:
        action()
    except NotFound:
        return _missing(request, wired, user, f"There is no incident #{incident_id}.", "/incidents")
    except (IncidentError, ConflictError) as error:
        kept = {key: value for key, value in form.items() if key != "csrf_token"}
        return _incident(
            request,
            wired,
            user,
            incident_id,
            error=_message(error),
            form=kept,
            status_code=_error_status(error),
        )
    if paged:
        wired.outbox_changed()  # acknowledge / resolve / reopen messages may be waiting
    return RedirectResponse(f"/incidents/{incident_id}", status_code=303)


@router.post("/incidents/{incident_id}/ack")
def acknowledge(
    request: Request, wired: Wired, user: Responder, _csrf: CsrfChecked, form: Form, incident_id: RowId
) -> Response:
    def action() -> None:
        incidents.acknowledge(uow=wired.db, incident_id=incident_id, actor=user.actor, now=wired.clock.now())

    return _act(request, wired, user, incident_id, form, action, paged=True)


@router.post("/incidents/{incident_id}/resolve")
def resolve(
    request: Request, wired: Wired, user: Responder, _csrf: CsrfChecked, form: Form, incident_id: RowId
) -> Response:
    def action() -> None:
        reason = _text(form, "reason", limit=2000) or None
        now = wired.clock.now()
        incidents.resolve(uow=wired.db, incident_id=incident_id, actor=user.actor, now=now, reason=reason)

    return _act(request, wired, user, incident_id, form, action, paged=True)


@router.post("/incidents/{incident_id}/reopen")
def reopen(
    request: Request, wired: Wired, user: Responder, _csrf: CsrfChecked, form: Form, incident_id: RowId
) -> Response:
    def action() -> None:
        now = wired.clock.now()
        incidents.reopen(
            uow=wired.db, policy=wired.policy, incident_id=incident_id, actor=user.actor, now=now
        )

    return _act(request, wired, user, incident_id, form, action, paged=True)


@router.post("/incidents/{incident_id}/assign")
def assign(
    request: Request, wired: Wired, user: Responder, _csrf: CsrfChecked, form: Form, incident_id: RowId
) -> Response:
    def action() -> None:
        assignee = _text(form, "assignee", limit=200) or None
        now = wired.clock.now()
        incidents.assign(uow=wired.db, incident_id=incident_id, actor=user.actor, assignee=assignee, now=now)

    return _act(request, wired, user, incident_id, form, action)


@router.post("/incidents/{incident_id}/note")
def add_note(
    request: Request, wired: Wired, user: Responder, _csrf: CsrfChecked, form: Form, incident_id: RowId
) -> Response:
    def action() -> None:
        text = _text(form, "text", limit=20000, required=True)
        public = form.get("public") in ("1", "on", "true")
        incidents.add_note(
            uow=wired.db,
            incident_id=incident_id,
            actor=user.actor,
            text=text,
            now=wired.clock.now(),
            public=public,
        )

    return _act(request, wired, user, incident_id, form, action)


def _postmortem(
    request: Request,
    wired: Container,
    user: WebUser,
    incident_id: int,
    *,
    error: str | None = None,
    text: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    try:
        found = views.postmortem_page(wired=wired, incident_id=incident_id)
    except NotFound:
        return _missing(request, wired, user, f"There is no incident #{incident_id}.", "/incidents")
    if text is not None:
        found["text"] = text
    return _page(request, wired, user, "postmortem.html", "Post-mortem", status_code, error=error, **found)


@router.get("/incidents/{incident_id}/postmortem", response_class=HTMLResponse)
def postmortem(request: Request, wired: Wired, user: Viewer, incident_id: RowId) -> HTMLResponse:
    return _postmortem(request, wired, user, incident_id)


@router.post("/incidents/{incident_id}/postmortem")
def attach_postmortem(
    request: Request, wired: Wired, user: Responder, _csrf: CsrfChecked, form: Form, incident_id: RowId
) -> Response:
    try:
        text = _text(form, "text", limit=500000, required=True)
        incidents.attach_postmortem(
            uow=wired.db, incident_id=incident_id, actor=user.actor, text=text, now=wired.clock.now()
        )
    except NotFound:
        return _missing(request, wired, user, f"There is no incident #{incident_id}.", "/incidents")
    except (IncidentError, ConflictError) as error:
        return _postmortem(
            request,
            wired,
            user,
            incident_id,
            error=_message(error),
            text=form.get("text", ""),
            status_code=_error_status(error),
        )
    return RedirectResponse(f"/incidents/{incident_id}", status_code=303)


# -- on call, silences, SLOs, settings ------------------------------------------------------------------


@router.get("/oncall", response_class=HTMLResponse)
def oncall(request: Request, wired: Wired, user: Viewer) -> HTMLResponse:
    schedules = views.oncall_page(wired=wired, now=wired.clock.now())
    return _page(request, wired, user, "oncall.html", "On call", schedules=schedules)


def _silences(
    request: Request,
    wired: Container,
    user: WebUser,
    *,
    include_expired: bool = False,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    found = views.silences_page(wired=wired, now=wired.clock.now(), include_expired=include_expired)
    return _page(
        request,
        wired,
        user,
        "silences.html",
        "Silences",
        status_code,
        include_expired=include_expired,
        error=error,
        form=form or {},
        **found,
    )


@router.get("/silences", response_class=HTMLResponse)
def silence_list(
    request: Request,
    wired: Wired,
    user: Viewer,
    include_expired: Annotated[bool, Query(alias="all")] = False,
    matcher: Annotated[str, Query(max_length=1024, pattern=NUL_FREE)] = "",
) -> HTMLResponse:
    # ?matcher= fills in the new-silence form (the incident page links here with its service).
    form = {"matchers": matcher} if matcher else None
    return _silences(request, wired, user, include_expired=include_expired, form=form)


def _validation_message(error: ValidationError) -> str:
    parts = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"])
        parts.append(f"{where}: {problem['msg']}" if where else str(problem["msg"]))
    return "; ".join(parts)


@router.post("/silences")
def create_silence(
    request: Request, wired: Wired, user: Responder, _csrf: CsrfChecked, form: Form
) -> Response:
    kept = {key: value for key, value in form.items() if key != "csrf_token"}
    body: dict[str, Any] = {
        "matchers": [line.strip() for line in form.get("matchers", "").splitlines() if line.strip()],
        "comment": form.get("comment", "").strip(),
        "duration": form.get("duration", "").strip() or None,
    }
    if until := form.get("until_resolved", "").strip().lstrip("#"):
        body["until_resolved"] = until
    try:
        request_ = SilenceRequest.model_validate(body)
        now = wired.clock.now()
        silences.create(
            uow=wired.db,
            matchers=request_.matchers,
            starts_at=now,
            ends_at=request_.ends_after(now),
            comment=request_.comment,
            actor=user.actor,
            now=now,
            until_resolved=request_.until_resolved,
        )
    except ValidationError as error:
        return _silences(request, wired, user, error=_validation_message(error), form=kept, status_code=422)
    except (IncidentError, ConflictError) as error:
        status_code = 404 if isinstance(error, NotFound) else _error_status(error)
        return _silences(request, wired, user, error=_message(error), form=kept, status_code=status_code)
    return RedirectResponse("/silences", status_code=303)


@router.post("/silences/{silence_id}/expire")
def expire_silence(
    request: Request, wired: Wired, user: Responder, _csrf: CsrfChecked, silence_id: RowId
) -> Response:
    try:
        silences.expire(uow=wired.db, silence_id=silence_id, actor=user.actor, now=wired.clock.now())
    except (IncidentError, ConflictError) as error:
        status_code = 404 if isinstance(error, NotFound) else _error_status(error)
        return _silences(request, wired, user, error=_message(error), status_code=status_code)
    return RedirectResponse("/silences", status_code=303)


@router.get("/slos", response_class=HTMLResponse)
def slos(request: Request, wired: Wired, user: Viewer) -> HTMLResponse:
    found = views.slo_page(wired=wired, now=wired.clock.now())
    return _page(request, wired, user, "slos.html", "SLOs", slos=found)


@router.get("/settings", response_class=HTMLResponse)
def settings(request: Request, wired: Wired, user: Admin) -> HTMLResponse:
    return _page(request, wired, user, "settings.html", "Settings", **views.settings_page(wired=wired))
