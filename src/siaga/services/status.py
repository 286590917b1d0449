"""What the dashboard and `siaga checks list` show: each service's state and its checks' last runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from siaga.domain import maintenance
from siaga.domain.status import CheckView, service_states
from siaga.services.checks import CheckPlan
from siaga.services.policy import Policy
from siaga.services.ports import UnitOfWork
from siaga.spec import Spec


def overview(
    *, uow: UnitOfWork, spec: Spec, policy: Policy, plan: CheckPlan, now: datetime
) -> list[dict[str, Any]]:
    """Given the spec and its check plan, return one entry per service: state, impacted_by and checks."""
    with uow.read() as store:
        rows = store.check_rows_by_id(check.id for check in plan.checks)
    by_service: dict[str, list[dict[str, Any]]] = {name: [] for name in spec.services}
    for check in plan.checks:
        row = rows.get(check.id)
        if row is None:
            continue
        by_service[check.service].append(
            {
                "name": check.name,
                "kind": check.spec.kind,
                "status": row["status"],
                "alerting": bool(row["alerting"]),
                "severity": check.severity,
                "every_s": check.every.total_seconds(),
                "last_run_at": row["last_run_at"],
                "latency_ms": round(row["last_latency"] * 1000, 1)
                if row["last_latency"] is not None
                else None,
                "reason": row["last_reason"],
                "failing_since": row["failing_since"],
                "push_path": f"/api/v1/heartbeat/{check.push_token}" if check.push_token else None,
            }
        )
    muted = frozenset(
        name for name in spec.services if maintenance.active(policy.paging.maintenance, name, now) is not None
    )
    states = service_states(
        depends_on={name: list(svc.depends_on) for name, svc in spec.services.items()},
        checks={
            name: [CheckView(c["status"], c["alerting"]) for c in found] for name, found in by_service.items()
        },
        in_maintenance=muted,
    )
    return [
        {
            "name": name,
            "environment": svc.environment,
            "public": svc.public,
            "state": states[name].state.value,
            "impacted_by": list(states[name].impacted_by),
            "depends_on": list(svc.depends_on),
            "checks": by_service[name],
        }
        for name, svc in spec.services.items()
    ]
