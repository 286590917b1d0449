"""`siaga route test`: what would happen to an alert, on a virtual clock, without sending anything."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from siaga.domain import escalation as esc
from siaga.domain import maintenance
from siaga.domain.routing import select_routes
from siaga.services import paging
from siaga.services.policy import Policy
from siaga.services.ports import UnitOfWork


def route_test(
    *, policy: Policy, labels: Mapping[str, str], at: datetime, uow: UnitOfWork | None = None
) -> dict[str, Any]:
    """Given an alert's labels and a time, say which routes match, what mutes it, and the full escalation
    timeline (who is notified, when, through which channel) if nobody acknowledges."""
    resolution = policy.ladder.resolve(labels.get("severity"))
    severity = resolution.level.name
    routes = select_routes(policy.routes, labels, severity, policy.ladder)
    opened = paging.Opened(
        incident_id=0,
        labels=dict(labels),
        severity=severity,
        title=labels.get("alertname", "test"),
        service=labels.get("service") or labels.get("service_name") or labels.get("job"),
        opened_at=at,
    )
    snapshot = paging.snapshot_for(policy, opened)
    mutes: list[str] = []
    overrides: dict[str, Any] = {}
    if uow is not None:
        with uow.read() as store:
            mute = paging.MuteView(store, policy, at).mute(0, labels, severity, opened.service)
            fires = esc.schedule(snapshot, at)
            last = fires[-1].due_at if fires else at
            overrides = paging.overrides_at(store, policy.paging, at, last)
            if mute is not None:
                mutes.append(mute.reason)
    else:
        window = maintenance.active(policy.paging.maintenance, opened.service, at)
        if window is not None:
            mutes.append(f"in maintenance window '{window.name}'")
    timeline = []
    for fire in esc.schedule(snapshot, at):
        deliveries, problems = paging.expand(policy.paging, fire.targets, fire.due_at, overrides)
        timeline.append(
            {
                "at": fire.due_at,
                "after": fire.due_at - at,
                "step": fire.step + 1,
                "repeat": fire.repeat,
                "notify": [
                    {
                        "target": d.target,
                        "channel": d.channel,
                        "person": d.recipient.name if d.recipient else None,
                    }
                    for d in deliveries
                ],
                "problems": problems,
            }
        )
    return {
        "labels": dict(labels),
        "severity": severity,
        "severity_known": resolution.known,
        "routes": [
            {
                "index": route.index,
                "matchers": [str(m) for m in route.matchers],
                "notify": list(route.notify),
                "escalation": route.escalation,
                "continue": route.continue_,
            }
            for route in routes
        ],
        "escalation": snapshot.policy,
        "muted": mutes,
        "paged": not mutes,
        "timeline": timeline,
    }
