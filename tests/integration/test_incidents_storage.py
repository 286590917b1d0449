"""Alert ingestion and incident handling against real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from siaga.adapters.clock import ManualClock
from siaga.adapters.db.engine import Database
from siaga.domain.alerts import AlertIn, AlertStatus
from siaga.domain.incidents import InvalidTransition
from siaga.services import incidents, ingest
from siaga.services.incidents import NotFound
from siaga.services.policy import Policy
from siaga.services.ports import ConflictError
from tests.conftest import T0


def alert(name: str = "DatabaseDown", status: str = "firing", **labels: str) -> AlertIn:
    merged = {"alertname": name, "service": "database", "severity": "critical", **labels}
    return AlertIn(labels=merged, status=AlertStatus(status), starts_at=T0)


PAGING_KINDS = {"paging", "escalation", "muted", "notification"}


def core(timeline: list[dict[str, object]]) -> list[dict[str, object]]:
    """The timeline without the paging entries (tests/integration/test_paging.py covers those)."""
    return [entry for entry in timeline if entry["kind"] not in PAGING_KINDS]


def send(db: Database, policy: Policy, clock: ManualClock, *alerts: AlertIn) -> ingest.IngestResult:
    return ingest.ingest(
        uow=db, policy=policy, alerts=list(alerts), source="test", actor="tester", now=clock.now()
    )


def test_firing_alert_opens_one_incident_with_targets(
    db: Database, policy: Policy, clock: ManualClock
) -> None:
    result = send(db, policy, clock, alert())
    assert len(result.opened) == 1
    data = incidents.get_incident(uow=db, incident_id=result.opened[0])
    assert data["status"] == "triggered"
    assert data["severity"] == "SEV-1"
    assert data["service"] == "database"
    assert data["ack_due_at"] == clock.now() + timedelta(minutes=10)
    assert data["resolve_due_at"] == clock.now() + timedelta(hours=4)
    assert data["postmortem"] == "pending"
    assert [e["message"] for e in core(data["timeline"])] == ["opened as SEV-1", "alert DatabaseDown firing"]
    assert [e["seq"] for e in data["timeline"]] == list(range(1, len(data["timeline"]) + 1))


def test_duplicates_are_logged_but_do_not_open_or_repeat(
    db: Database, policy: Policy, clock: ManualClock
) -> None:
    first = send(db, policy, clock, alert())
    again = send(db, policy, clock, alert(), alert())
    assert again.opened == []
    assert again.touched == first.opened
    data = incidents.get_incident(uow=db, incident_id=first.opened[0])
    assert len(core(data["timeline"])) == 2
    with db.read() as store:
        assert store.alert_event_count() == 3


def test_alerts_group_by_service_and_alertname(db: Database, policy: Policy, clock: ManualClock) -> None:
    send(
        db, policy, clock, alert(instance="a"), alert(instance="b"), alert("HighCPULoad", severity="warning")
    )
    items = incidents.list_incidents(uow=db)
    assert sorted(i["title"] for i in items) == ["DatabaseDown on database", "HighCPULoad on database"]
    one = next(i for i in items if i["title"].startswith("DatabaseDown"))
    assert len(incidents.get_incident(uow=db, incident_id=one["id"])["alerts"]) == 2


def test_unknown_severity_falls_to_least_urgent_and_says_so(
    db: Database, policy: Policy, clock: ManualClock
) -> None:
    result = send(db, policy, clock, alert("Odd", severity="catastrophic"))
    data = incidents.get_incident(uow=db, incident_id=result.opened[0])
    assert data["severity"] == "SEV-3"
    assert any("unknown severity 'catastrophic'; treated as SEV-3" in e["message"] for e in data["timeline"])
    assert data["postmortem"] == "not_required"


def test_more_urgent_alert_raises_severity(db: Database, policy: Policy, clock: ManualClock) -> None:
    opened = send(db, policy, clock, alert("Slow", severity="warning")).opened[0]
    send(db, policy, clock, alert("Slow", severity="P1", instance="b"))
    data = incidents.get_incident(uow=db, incident_id=opened)
    assert data["severity"] == "SEV-1"
    assert data["ack_due_at"] == data["opened_at"] + timedelta(minutes=10)
    assert any(e["message"] == "severity raised SEV-2 → SEV-1 by alert Slow" for e in data["timeline"])


def test_auto_resolve_waits_resolve_after(db: Database, policy: Policy, clock: ManualClock) -> None:
    opened = send(db, policy, clock, alert()).opened[0]
    clock.advance(timedelta(minutes=1))
    send(db, policy, clock, alert(status="resolved"))
    clock.advance(timedelta(minutes=4, seconds=59))
    assert incidents.sweep(uow=db, policy=policy, now=clock.now()).auto_resolved == 0
    clock.advance(timedelta(seconds=1))
    assert incidents.sweep(uow=db, policy=policy, now=clock.now()).auto_resolved == 1
    data = incidents.get_incident(uow=db, incident_id=opened)
    assert data["status"] == "resolved"
    assert data["resolved_by"] == "siaga"
    assert data["time_to_resolve_seconds"] == 6 * 60


def test_refiring_cancels_auto_resolve(db: Database, policy: Policy, clock: ManualClock) -> None:
    opened = send(db, policy, clock, alert()).opened[0]
    send(db, policy, clock, alert(status="resolved"))
    clock.advance(timedelta(minutes=3))
    send(db, policy, clock, alert())
    clock.advance(timedelta(minutes=10))
    assert incidents.sweep(uow=db, policy=policy, now=clock.now()).auto_resolved == 0
    assert incidents.get_incident(uow=db, incident_id=opened)["status"] == "triggered"


def test_firing_again_soon_after_resolve_reopens(db: Database, policy: Policy, clock: ManualClock) -> None:
    opened = send(db, policy, clock, alert()).opened[0]
    incidents.resolve(uow=db, incident_id=opened, actor="andi", now=clock.now())
    clock.advance(timedelta(minutes=20))
    result = send(db, policy, clock, alert(status="resolved"), alert())
    assert result.opened == []
    data = incidents.get_incident(uow=db, incident_id=opened)
    assert data["status"] == "triggered"
    assert data["reopen_count"] == 1
    clock.advance(timedelta(hours=2))
    incidents.resolve(uow=db, incident_id=opened, actor="andi", now=clock.now())
    clock.advance(timedelta(hours=2))
    assert send(db, policy, clock, alert(status="resolved"), alert()).opened != []


def test_human_actions_and_timeline(db: Database, policy: Policy, clock: ManualClock) -> None:
    opened = send(db, policy, clock, alert()).opened[0]
    clock.advance(timedelta(minutes=3))
    incidents.acknowledge(uow=db, incident_id=opened, actor="andi", now=clock.now())
    incidents.assign(uow=db, incident_id=opened, actor="andi", assignee="budi", now=clock.now())
    incidents.add_note(uow=db, incident_id=opened, actor="budi", text="failing over", now=clock.now())
    incidents.change_severity(
        uow=db, policy=policy, incident_id=opened, actor="budi", severity="warning", now=clock.now()
    )
    with pytest.raises(InvalidTransition):
        incidents.acknowledge(uow=db, incident_id=opened, actor="andi", now=clock.now())
    clock.advance(timedelta(minutes=30))
    incidents.resolve(uow=db, incident_id=opened, actor="budi", now=clock.now(), reason="failover done")
    data = incidents.get_incident(uow=db, incident_id=opened)
    assert data["assignee"] == "budi"
    assert data["time_to_acknowledge_seconds"] == 180
    assert data["time_to_resolve_seconds"] == 33 * 60
    messages = [(e["actor"], e["message"]) for e in core(data["timeline"])]
    assert messages[2:] == [
        ("andi", "acknowledged"),
        ("andi", "assigned to budi"),
        ("budi", "failing over"),
        ("budi", "severity changed SEV-1 → SEV-2"),
        ("budi", "resolved: failover done"),
    ]
    assert [e["seq"] for e in data["timeline"]] == list(range(1, len(data["timeline"]) + 1))
    stats = incidents.stats(uow=db)
    assert stats["mtta_seconds"] == 180
    assert stats["mttr_seconds"] == 33 * 60
    with pytest.raises(NotFound):
        incidents.acknowledge(uow=db, incident_id=999, actor="x", now=clock.now())


def test_breaches_are_recorded_once(db: Database, policy: Policy, clock: ManualClock) -> None:
    opened = send(db, policy, clock, alert()).opened[0]
    clock.advance(timedelta(minutes=10))
    assert incidents.sweep(uow=db, policy=policy, now=clock.now()).breaches == 1
    assert incidents.sweep(uow=db, policy=policy, now=clock.now()).breaches == 0
    incidents.acknowledge(uow=db, incident_id=opened, actor="andi", now=clock.now())
    clock.advance(timedelta(hours=4))
    assert incidents.sweep(uow=db, policy=policy, now=clock.now()).breaches == 1
    data = incidents.get_incident(uow=db, incident_id=opened)
    assert data["ack_breached"]
    assert data["resolve_breached"]
    assert [e["kind"] for e in data["timeline"]].count("breach") == 2
    assert incidents.stats(uow=db)["breaches"] == {"ack": 1, "resolve": 1}


def test_postmortem_draft_then_attached(db: Database, policy: Policy, clock: ManualClock) -> None:
    opened = send(db, policy, clock, alert()).opened[0]
    clock.advance(timedelta(minutes=5))
    incidents.acknowledge(uow=db, incident_id=opened, actor="andi", now=clock.now())
    draft = incidents.postmortem_draft(uow=db, incident_id=opened)
    assert draft.startswith("# Post-mortem: DatabaseDown on database")
    assert "| Time to acknowledge | 5m 00s |" in draft
    assert "| 2026-01-05 08:05:00 UTC | andi | acknowledged |" in draft
    assert incidents.stats(uow=db)["postmortems_pending"] == 1
    incidents.attach_postmortem(
        uow=db, incident_id=opened, actor="andi", text="# RCA\nDisk full.", now=clock.now()
    )
    assert incidents.postmortem_draft(uow=db, incident_id=opened) == "# RCA\nDisk full."
    assert incidents.get_incident(uow=db, incident_id=opened)["postmortem"] == "attached"
    assert incidents.stats(uow=db)["postmortems_pending"] == 0


def test_one_batch_firing_then_resolving_same_alert(db: Database, policy: Policy, clock: ManualClock) -> None:
    result = send(db, policy, clock, alert(), alert(status="resolved"))
    data = incidents.get_incident(uow=db, incident_id=result.opened[0])
    assert data["alerts"][0]["status"] == "resolved"
    assert [e["message"] for e in core(data["timeline"])][-2] == "alert DatabaseDown resolved"
    clock.advance(timedelta(minutes=5))
    assert incidents.sweep(uow=db, policy=policy, now=clock.now()).auto_resolved == 1


def test_a_clashing_timeline_write_is_a_conflict_to_retry(
    db: Database, policy: Policy, clock: ManualClock
) -> None:
    opened = send(db, policy, clock, alert()).opened[0]
    clash = {"incident_id": opened, "seq": 1, "at": clock.now(), "actor": "x", "kind": "note", "message": "m"}
    with pytest.raises(ConflictError), db.transaction() as store:
        store.insert_events([{**clash, "data": None}])
    assert len(core(incidents.get_incident(uow=db, incident_id=opened)["timeline"])) == 2
