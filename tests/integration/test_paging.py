"""Paging on both engines and a virtual clock: outbox in the same transaction, escalation, acknowledgement,
mutes, announcements, retries, rate limits, leases. The dispatcher sends through an in-process recording
sender here; the real channel modules are tested against real local servers in tests/integration/channels
and end to end in tests/e2e/test_paging_luxima.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from siaga.adapters.clock import ManualClock
from siaga.bootstrap import Container
from siaga.domain import oncall
from siaga.domain.alerts import AlertIn, AlertStatus
from siaga.domain.notifications import Kind, Message
from siaga.integrations.channels.base import Outcome, RateLimit, Receipt
from siaga.runtime.dispatcher import Backoff, Dispatcher
from siaga.runtime.sweeper import Sweeper
from siaga.services import dryrun, incidents, ingest, paging, silences
from siaga.services import oncall as oncall_service
from siaga.services.policy import Policy

MIN = timedelta(minutes=1)


@dataclass
class Recorder:
    """A Sender that records what it is given; ``fail`` makes it answer with that outcome."""

    name: str
    sent: list[Message] = field(default_factory=list)
    fail: Outcome | None = None
    per_minute: int | None = None

    def limits(self, message: Message) -> list[RateLimit]:
        return [RateLimit(f"rec:{self.name}", self.per_minute, 60)] if self.per_minute else []

    async def send(self, message: Message) -> Receipt:
        if self.fail is not None:
            return Receipt(self.fail, 503 if self.fail is Outcome.TEMPORARY else 400, "refused by test")
        self.sent.append(message)
        return Receipt(Outcome.SENT, 200, "ok")


class Rig:
    """The Luxima fragment's channels as recorders, a dispatcher and a sweeper on the manual clock."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.clock: ManualClock = container.clock  # type: ignore[assignment]
        self.channels = {name: Recorder(name) for name in container.spec.channels}
        self.dispatcher = Dispatcher(container, senders=self._senders, backoff=Backoff(base=10), seed=1)
        self.sweeper = Sweeper(container)
        self._loop = asyncio.new_event_loop()  # one loop for all ticks: the dispatcher keeps its session

    def _senders(
        self, _channels: Mapping[str, Any], _session: aiohttp.ClientSession
    ) -> Mapping[str, Recorder]:
        return self.channels

    def alert(self, status: str = "firing", **labels: str) -> list[int]:
        merged = {"alertname": "DatabaseDown", "service": "database", "severity": "critical", **labels}
        now = self.clock.now()
        alert = AlertIn(
            labels=merged,
            annotations={"summary": "Database tidak merespons"},
            status=AlertStatus(status),
            starts_at=now,
            ends_at=now if status == "resolved" else None,
            fingerprint=None,
        )
        db, policy = self.container.db, self.container.policy
        return ingest.ingest(
            uow=db, policy=policy, alerts=[alert], source="test", actor="test", now=now
        ).touched

    def tick(self, by: timedelta = timedelta(0)) -> None:
        """Advance the clock, run one sweep (escalations, announcements) and send what is due."""
        self.clock.advance(by)
        self.sweeper.run_once()
        self._loop.run_until_complete(self._dispatch())

    async def _dispatch(self) -> None:
        while await self.dispatcher.run_once() >= self.dispatcher.batch:
            pass

    def close(self) -> None:
        self._loop.run_until_complete(self.dispatcher.close())
        self._loop.close()

    def got(self, channel: str) -> list[tuple[str, str | None]]:
        return [
            (m.kind.value, m.recipient.name if m.recipient else None) for m in self.channels[channel].sent
        ]

    def on_call(self) -> str:
        """Who the `devops` rotation puts on call now (week 105 of the rotation on 2026-01-05: budi)."""
        rotation = self.container.policy.paging.rotations["devops"]
        return oncall.on_call(rotation, [], self.clock.now()).person

    def outbox(self, incident_id: int) -> list[Mapping[str, Any]]:
        with self.container.db.read() as store:
            return store.outbox_of(incident_id)


@pytest.fixture
def rig(container: Container) -> Iterator[Rig]:
    made = Rig(container)
    yield made
    made.close()


def test_opening_queues_the_first_step_in_the_same_transaction(rig: Rig) -> None:
    (incident,) = rig.alert()
    rows = rig.outbox(incident)  # before any dispatcher ran
    assert sorted(row["channel"] for row in rows) == ["alerts", "pagerduty"]
    assert {row["status"] for row in rows} == {"pending"}
    timeline = incidents.get_incident(uow=rig.container.db, incident_id=incident)["timeline"]
    assert any("escalation 'critical' frozen" in entry["message"] for entry in timeline)


def test_luxima_chain_on_the_virtual_clock(rig: Rig) -> None:
    (incident,) = rig.alert()
    rig.tick()
    assert rig.got("alerts") == [("triggered", None)]
    assert rig.got("pagerduty") == [("triggered", None)]
    rig.tick(9 * MIN)
    assert rig.got("management") == []
    rig.tick(1 * MIN)  # 10 minutes, unacknowledged: the on-call person of devops, by e-mail
    assert [m.recipient.name for m in rig.channels["management"].sent if m.recipient] == [rig.on_call()]
    rig.tick(20 * MIN)  # 30 minutes: the CTO (by e-mail) and the management list
    assert rig.got("management")[1:] == [("escalated", "cto"), ("escalated", None)]
    incidents.acknowledge(uow=rig.container.db, incident_id=incident, actor="andi", now=rig.clock.now())
    rig.tick(2 * 60 * MIN)
    kinds = {message.kind for recorder in rig.channels.values() for message in recorder.sent}
    assert Kind.ACKNOWLEDGED in kinds
    sent_after_ack = [
        m for r in rig.channels.values() for m in r.sent if m.at > rig.clock.now() - 2 * 60 * MIN
    ]
    assert {m.kind for m in sent_after_ack} <= {Kind.ACKNOWLEDGED}
    incidents.resolve(uow=rig.container.db, incident_id=incident, actor="andi", now=rig.clock.now())
    rig.tick()
    assert rig.got("pagerduty")[-1] == ("resolved", None)
    assert {m.dedup_key for m in rig.channels["pagerduty"].sent} == {f"siaga-{incident}"}
    receipts = incidents.get_incident(uow=rig.container.db, incident_id=incident)["timeline"]
    assert any(e["kind"] == "notification" and "delivered" in e["message"] for e in receipts)


def test_security_alert_also_reaches_the_security_channel(rig: Rig) -> None:
    rig.alert(category="security", alertname="LoginBruteForce", service="auth-api")
    rig.tick()
    assert rig.got("security-alerts") == [("triggered", None)]
    assert rig.got("alerts") == [("triggered", None)]


def test_acknowledging_cancels_alarms_not_yet_sent(rig: Rig) -> None:
    (incident,) = rig.alert()
    incidents.acknowledge(uow=rig.container.db, incident_id=incident, actor="andi", now=rig.clock.now())
    rig.tick(60 * MIN)
    assert all(recorder.sent == [] for recorder in rig.channels.values())
    assert {row["status"] for row in rig.outbox(incident)} == {"cancelled"}


def test_unacknowledge_resumes_and_reopen_pages_again(rig: Rig) -> None:
    db = rig.container.db
    (incident,) = rig.alert()
    rig.tick()
    incidents.acknowledge(uow=db, incident_id=incident, actor="andi", now=rig.clock.now())
    rig.tick(5 * MIN)
    incidents.unacknowledge(uow=db, incident_id=incident, actor="andi", now=rig.clock.now())
    rig.tick(4 * MIN)  # 5 minutes were acknowledged: step 2 is due at 15, not 10
    assert not any(m.recipient for m in rig.channels["management"].sent)
    rig.tick(1 * MIN)
    assert [m.recipient.name for m in rig.channels["management"].sent if m.recipient] == [rig.on_call()]
    incidents.resolve(uow=db, incident_id=incident, actor="andi", now=rig.clock.now())
    rig.tick()
    incidents.reopen(
        uow=db, policy=rig.container.policy, incident_id=incident, actor="budi", now=rig.clock.now()
    )
    rig.tick()
    assert rig.got("pagerduty")[-1] == ("reopened", None)


def test_missed_ack_target_escalates_at_once(rig: Rig, container: Container) -> None:
    # SEV-2 (warning): ack within 1h; its `standard` escalation has one step, so use a SEV-1 whose next step
    # is due at 10m and an ack target of 10m: move the clock past the target between sweeps.
    (incident,) = rig.alert()
    rig.tick()
    rig.tick(10 * MIN + timedelta(seconds=1))
    timeline = incidents.get_incident(uow=container.db, incident_id=incident)["timeline"]
    assert any(e["kind"] == "breach" for e in timeline)
    assert [m.recipient.name for m in rig.channels["management"].sent if m.recipient] == [rig.on_call()]


def test_a_silence_mutes_paging_but_records_the_alert(rig: Rig) -> None:
    now = rig.clock.now()
    silences.create(
        uow=rig.container.db,
        matchers=["service=database"],
        starts_at=now,
        ends_at=now + 30 * MIN,
        comment="failover drill",
        actor="andi",
        now=now,
    )
    (incident,) = rig.alert()
    rig.tick()
    assert all(recorder.sent == [] for recorder in rig.channels.values())
    timeline = incidents.get_incident(uow=rig.container.db, incident_id=incident)["timeline"]
    assert any("silenced by silence" in e["message"] for e in timeline)
    rig.tick(31 * MIN)  # the silence ended and the incident is still open: paging starts
    assert rig.got("alerts") == [("triggered", None)]


def test_expiring_a_silence_early_resumes_paging_at_the_next_tick(rig: Rig) -> None:
    now = rig.clock.now()
    silence = silences.create(
        uow=rig.container.db,
        matchers=["service=database"],
        starts_at=now,
        ends_at=now + 2 * 60 * MIN,
        comment="failover drill",
        actor="andi",
        now=now,
    )
    rig.alert()
    rig.tick()
    assert rig.got("alerts") == []
    rig.tick(5 * MIN)
    silences.expire(uow=rig.container.db, silence_id=silence["id"], actor="andi", now=rig.clock.now())
    rig.tick(MIN)
    assert rig.got("alerts") == [("triggered", None)]


def test_group_interval_tells_those_paged_about_new_alerts(rig: Rig) -> None:
    spec = rig.container.spec
    routes = [route.model_copy(update={"group_interval": 5 * MIN}) for route in spec.routes]
    rig.container.policy = Policy.from_spec(spec.model_copy(update={"routes": routes}))
    (incident,) = rig.alert(instance="db-1")
    rig.tick()
    rig.tick(MIN)
    rig.alert(instance="db-2")  # joins the same incident (same service and alertname)
    rig.tick()
    assert rig.got("alerts") == [("triggered", None)]
    rig.tick(4 * MIN)  # five minutes after the first notice
    assert rig.got("alerts") == [("triggered", None), ("updated", None)]
    assert rig.got("pagerduty")[-1] == ("updated", None)
    rig.alert(instance="db-3")
    rig.tick(MIN)
    assert len(rig.got("alerts")) == 2  # the next notice waits for the interval
    incidents.acknowledge(uow=rig.container.db, incident_id=incident, actor="andi", now=rig.clock.now())
    rig.tick(10 * MIN)
    assert [kind for kind, _ in rig.got("alerts")] == ["triggered", "updated", "acknowledged"]


def test_dependency_inhibits_the_child_service(rig: Rig) -> None:
    rig.alert()  # database down
    (child,) = rig.alert(alertname="AuthErrors", service="auth-api")
    rig.tick()
    assert len(rig.channels["pagerduty"].sent) == 1  # the database only
    timeline = incidents.get_incident(uow=rig.container.db, incident_id=child)["timeline"]
    assert any("inhibited" in e["message"] for e in timeline)


def test_e1_outage_in_the_monthly_window_is_recorded_not_paged_and_announced_a_week_before(
    rig: Rig, container: Container
) -> None:
    # First Sunday of February 2026 is the 1st; 03:00 WIB = 20:00 UTC on Saturday 31 January.
    rig.clock.set(datetime(2026, 1, 24, 19, 0, tzinfo=UTC))  # 8 days before the window
    rig.tick()  # the announcement job starts counting here
    rig.tick(2 * 60 * MIN)  # 7 days before 02:00 WIB (19:00 UTC) passed
    announced = [m for m in rig.channels["management"].sent if m.kind is Kind.ANNOUNCEMENT]
    assert len(announced) == 1
    assert "2026-02-01 02:00" in announced[0].title
    rig.clock.set(datetime(2026, 1, 31, 20, 0, tzinfo=UTC))
    (incident,) = rig.alert()
    rig.tick()
    assert [m for r in rig.channels.values() for m in r.sent if m.incident_id == incident] == []
    timeline = incidents.get_incident(uow=container.db, incident_id=incident)["timeline"]
    assert any("maintenance window 'monthly-patching'" in e["message"] for e in timeline)
    rig.tick(7 * 24 * 60 * MIN)  # a week later: the next day's announcement is not repeated
    assert len([m for m in rig.channels["management"].sent if m.kind is Kind.ANNOUNCEMENT]) == 1


def test_temporary_failures_retry_with_backoff_then_deliver(rig: Rig) -> None:
    rig.channels["alerts"].fail = Outcome.TEMPORARY
    (incident,) = rig.alert()
    rig.tick()
    row = next(r for r in rig.outbox(incident) if r["channel"] == "alerts")
    assert (row["status"], row["attempts"], row["response_code"]) == ("pending", 1, 503)
    assert row["next_attempt_at"] > rig.clock.now()
    rig.channels["alerts"].fail = None
    rig.tick(MIN)
    row = next(r for r in rig.outbox(incident) if r["channel"] == "alerts")
    assert (row["status"], row["attempts"]) == ("sent", 2)


def test_permanent_failure_stops_and_a_failing_channel_pages_the_fallback(
    rig: Rig, container: Container
) -> None:
    rig.channels["pagerduty"].fail = Outcome.PERMANENT
    for n in range(3):
        rig.alert(alertname=f"Down{n}", service=f"svc{n}")
    rig.tick()
    with container.db.read() as store:
        failed = [r for i in (1, 2, 3) for r in store.outbox_of(i) if r["channel"] == "pagerduty"]
    assert {r["status"] for r in failed} == {"failed"}
    rig.tick()
    failing = incidents.list_incidents(uow=container.db, statuses=["triggered"], limit=50)
    assert any(item["title"].startswith("Notification channel 'pagerduty'") for item in failing)
    # the fragment has no fallback channel: the alert is an incident, recorded, but nothing pages for it
    assert all(
        m.labels.get("alertname") != "SiagaChannelFailing" for r in rig.channels.values() for m in r.sent
    )


def test_rate_limit_defers_instead_of_dropping(rig: Rig) -> None:
    rig.channels["alerts"].per_minute = 2
    for n in range(4):
        rig.alert(alertname=f"Down{n}", service=f"svc{n}")
    rig.tick()
    assert len(rig.channels["alerts"].sent) == 2
    rig.tick(MIN)
    assert len(rig.channels["alerts"].sent) == 4


def test_an_expired_lease_resends_with_the_same_key(rig: Rig, container: Container) -> None:
    (incident,) = rig.alert()
    now = rig.clock.now()
    with container.db.transaction() as store:  # a dispatcher claims, then dies before recording
        claimed = store.claim_outbox(now, now + MIN, 10)
    assert len(claimed) == 2
    rig.tick()
    assert rig.channels["alerts"].sent == []  # still leased
    rig.tick(MIN)
    keys = [m.idempotency_key for m in rig.channels["alerts"].sent]
    assert len(keys) == 1
    assert f"alerts:{keys[0]}" in {row["key"] for row in claimed}
    assert {row["status"] for row in rig.outbox(incident)} == {"sent"}


def test_outbox_keys_are_unique_so_a_replayed_step_adds_nothing(container: Container) -> None:
    now = container.clock.now()
    row = {
        "key": "x:1",
        "incident_id": None,
        "channel": "alerts",
        "kind": "test",
        "message": {},
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    with container.db.transaction() as store:
        assert store.insert_outbox([row, row]) == 1
        assert store.insert_outbox([row]) == 0


def test_resolved_messages_and_paging_effects_are_one_per_channel(rig: Rig) -> None:
    (incident,) = rig.alert()
    rig.tick()
    rig.alert(status="resolved")
    rig.tick(6 * MIN)  # resolve_after is 5m: auto-resolved by the sweep
    assert rig.got("alerts")[-1] == ("resolved", None)
    assert [k for k, _ in rig.got("pagerduty")] == ["triggered", "resolved"]
    view = incidents.get_incident(uow=rig.container.db, incident_id=incident)
    assert view["status"] == "resolved"
    assert paging.ALARMS == ("triggered", "escalated", "updated", "reopened")


def test_expiring_a_silence_before_it_starts_leaves_no_backwards_range(container: Container) -> None:
    now = container.clock.now()
    created = silences.create(
        uow=container.db,
        matchers=["service=web"],
        starts_at=now + 60 * MIN,
        ends_at=now + 120 * MIN,
        comment="tonight",
        actor="andi",
        now=now,
    )
    ended = silences.expire(uow=container.db, silence_id=created["id"], actor="andi", now=now)
    assert ended["state"] == "expired"
    assert ended["starts_at"] <= ended["ends_at"] == now


def test_route_dry_run_sees_an_override_that_starts_before_the_step(container: Container) -> None:
    now = container.clock.now()
    oncall_service.add_override(
        uow=container.db,
        policy=container.policy,
        schedule="devops",
        person="cto",
        starts_at=now + 5 * MIN,
        ends_at=now + 60 * MIN,
        actor="andi",
        now=now,
    )
    plan = dryrun.route_test(
        policy=container.policy,
        labels={"alertname": "DatabaseDown", "severity": "critical"},
        at=now,
        uow=container.db,
    )
    step_two = next(item for item in plan["timeline"] if item["step"] == 2)
    assert {target["person"] for target in step_two["notify"]} == {"cto"}


def test_the_running_dispatcher_overlaps_rounds_and_sends_each_message_once(container: Container) -> None:
    # One message per round: rounds follow each other at once, each recorded while the next sends.
    channels = {name: Recorder(name) for name in container.spec.channels}
    dispatcher = Dispatcher(container, senders=lambda _c, _s: channels, batch=1, poll_seconds=0.05)
    now = container.clock.now()
    alerts = [
        AlertIn(
            labels={"alertname": f"Down{n}", "service": f"svc{n}", "severity": "critical"},
            status=AlertStatus.FIRING,
            starts_at=now,
        )
        for n in range(12)
    ]
    ingest.ingest(uow=container.db, policy=container.policy, alerts=alerts, source="t", actor="t", now=now)
    expected = len(_pending(container))
    assert expected >= 12

    async def scenario() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(dispatcher.run(stop))
        async with asyncio.timeout(20):  # a spinning loop would never get here
            while _pending(container):
                await asyncio.sleep(0.02)
        stop.set()
        await running

    asyncio.run(scenario())

    keys = sorted(f"{name}:{m.idempotency_key}" for name, recorder in channels.items() for m in recorder.sent)
    assert len(set(keys)) == expected
    assert len(keys) == expected, [key for key in keys if keys.count(key) > 1]


def _pending(container: Container) -> list[Mapping[str, Any]]:
    with container.db.read() as store:
        return store.claim_outbox(container.clock.now(), None, 10_000)
