"""PromQL rules evaluated by Siaga through Prometheus' query API, with Prometheus' own semantics.

Each series the expression returns is one rule instance: pending while it keeps appearing, firing once it
has appeared for `for`, resolved at the first evaluation it is absent. Instance states, the alerts they
raise or resolve, and the incidents and pages those cause are written in one transaction. A rule whose
query failed keeps every instance as it was (nothing fires or resolves on a failed query).

Annotations may use the two template forms rules use most, ``{{ $labels.NAME }}`` and ``{{ $value }}``;
other template functions are left as written (Prometheus' Go templates are not reimplemented here).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from siaga.domain import rules as rule_domain
from siaga.domain.alerts import AlertIn, AlertStatus, fingerprint
from siaga.integrations.prometheus_query import Sample
from siaga.services import ingest
from siaga.services.policy import Policy
from siaga.services.ports import UnitOfWork
from siaga.spec.checks import Rule

SOURCE = "prometheus-query"
ACTOR = "siaga:promql"
_LABEL = re.compile(r"\{\{\s*\$labels\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_VALUE = re.compile(r"\{\{\s*\$value\s*\}\}")


@dataclass
class Outcome:
    fired: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    queued: int = 0


def rule_key(rule: Rule) -> str:
    """A rule's identity across reloads: its group, name and expression (an edited query starts afresh)."""
    digest = hashlib.sha256(f"{rule.expr}\0{sorted(rule.labels.items())}".encode()).hexdigest()[:10]
    return f"promql:{rule.group or 'siaga'}/{rule.name}/{digest}"


def _instance(labels: Mapping[str, str]) -> str:
    """The stored id of a series: its labels as JSON (so a resolve can name them), or, past the column's
    400 characters, a digest (the resolve then has the same fingerprint, without the series labels)."""
    text = orjson.dumps(dict(sorted(labels.items()))).decode()
    return text if len(text) <= 400 else "#" + fingerprint(labels)


def _labels_of(instance: str) -> dict[str, str]:
    if instance.startswith("#"):
        return {}
    found: dict[str, str] = orjson.loads(instance)
    return found


def _expand(text: str, labels: Mapping[str, str], value: float | None) -> str:
    text = _LABEL.sub(lambda m: labels.get(m.group(1), ""), text)
    return _VALUE.sub(lambda _m: "" if value is None else f"{value:g}", text)


def _alert(
    rule: Rule,
    instance: str,
    labels: Mapping[str, str],
    value: float | None,
    status: AlertStatus,
    since: datetime,
    now: datetime,
) -> AlertIn:
    series = {name: v for name, v in labels.items() if name != "__name__"}
    full = {**series, **rule.labels, "alertname": rule.name}
    if rule.severity is not None:
        full["severity"] = rule.severity
    annotations = {name: _expand(text, series, value) for name, text in rule.annotations.items()}
    annotations.setdefault("summary", f"{rule.name}: {rule.expr}")
    return AlertIn(
        labels=full,
        fingerprint=fingerprint({"rule": rule_key(rule), "instance": instance}),
        status=status,
        starts_at=since,
        ends_at=now if status is AlertStatus.RESOLVED else None,
        annotations=annotations,
    )


def apply(
    *,
    uow: UnitOfWork,
    policy: Policy,
    results: Sequence[tuple[Rule, Sequence[Sample] | None]],
    now: datetime,
) -> Outcome:
    """Advance every rule's instances given its query result at ``now`` (None: the query failed)."""
    outcome = Outcome()
    with uow.transaction() as store:
        states = store.rule_states()
        upserts: list[dict[str, object]] = []
        deletes: list[tuple[str, str]] = []
        alerts: list[AlertIn] = []
        for rule, samples in results:
            if samples is None:
                continue
            key = rule_key(rule)
            current = {_instance(s.labels): s for s in samples}
            known = {instance: row for (name, instance), row in states.items() if name == key}
            for instance in sorted(set(current) | set(known)):
                row = known.get(instance)
                state = (
                    rule_domain.RuleState(row["active_since"], bool(row["firing"]))
                    if row
                    else rule_domain.RuleState()
                )
                sample = current.get(instance)
                step = rule_domain.evaluate(state, sample is not None, now, rule.for_)
                if step.state.active_since is None:
                    if row is not None:
                        deletes.append((key, instance))
                elif step.state != state or row is None:
                    upserts.append(
                        {
                            "rule": key,
                            "instance": instance,
                            "active_since": step.state.active_since,
                            "firing": step.state.firing,
                        }
                    )
                if step.fire or step.resolve:
                    labels = sample.labels if sample is not None else _labels_of(instance)
                    since = step.state.active_since or (row["active_since"] if row else now)
                    status = AlertStatus.FIRING if step.fire else AlertStatus.RESOLVED
                    alerts.append(
                        _alert(rule, instance, labels, sample.value if sample else None, status, since, now)
                    )
                    (outcome.fired if step.fire else outcome.resolved).append(f"{rule.name}{instance}")
        if upserts or deletes:
            store.save_rule_states(upserts, deletes)
        if alerts:
            outcome.queued = ingest.apply(store, policy, [ingest.Submission(alerts, SOURCE, ACTOR)], now)[
                0
            ].queued
    return outcome
