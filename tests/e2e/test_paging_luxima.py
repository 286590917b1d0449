"""The Luxima paging chain end to end on a virtual clock, through the real channel modules to local Slack,
PagerDuty and Telegram stand-ins that check every payload, and a real SMTP server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from siaga.adapters.clock import ManualClock
from siaga.adapters.db.engine import Database
from siaga.bootstrap import Container
from siaga.domain import oncall
from siaga.domain.alerts import AlertIn, AlertStatus
from siaga.runtime.dispatcher import Dispatcher
from siaga.runtime.sweeper import Sweeper
from siaga.services import incidents, ingest
from siaga.services.policy import Policy
from siaga.settings import Settings
from siaga.spec import load_spec
from tests.conftest import T0
from tests.e2e.receivers import HttpReceivers, SmtpReceiver

SPEC = Path(__file__).with_name("luxima.yaml")
MIN = timedelta(minutes=1)
ROUTING_KEY = "R0UT1NGKEY0000000000000000000001"
BOT_TOKEN = "123456:TEST-telegram-token"


class Luxima:
    def __init__(self, db: Database, http: HttpReceivers, smtp: SmtpReceiver, tmp: Path) -> None:
        env = {
            "SLACK_ALERTS_URL": f"{http.url}/slack/alerts",
            "SLACK_SECURITY_URL": f"{http.url}/slack/security-alerts",
            "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
            "PAGERDUTY_API_URL": http.url,
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "TELEGRAM_API_URL": http.url,
            "SMTP_URL": smtp.url,
            "OPS_WEBHOOK_URL": f"{http.url}/hook/ops",
            "OPS_WEBHOOK_SECRET": "s3cret",
        }
        spec = load_spec(SPEC, env=env)
        settings = Settings(
            data_dir=tmp, database_url=str(db.engine.url), config_path=SPEC, sweep_interval=3600
        )
        self.clock = ManualClock(T0)
        self.container = Container(settings, db, self.clock, spec, Policy.from_spec(spec))
        self.http, self.smtp = http, smtp
        self.sweeper = Sweeper(self.container)
        self.dispatcher = Dispatcher(self.container, seed=3)

    def alert(self, **labels: str) -> int:
        merged = {"alertname": "DatabaseDown", "service": "database", "severity": "critical", **labels}
        now = self.clock.now()
        alert = AlertIn(labels=merged, status=AlertStatus.FIRING, starts_at=now, annotations={})
        wired = self.container
        result = ingest.ingest(
            uow=wired.db, policy=wired.policy, alerts=[alert], source="am", actor="am", now=now
        )
        return result.touched[0]

    def tick(self, by: timedelta = timedelta(0)) -> None:
        self.clock.advance(by)
        self.sweeper.run_once()

        async def drain() -> None:
            try:
                while await self.dispatcher.run_once():
                    pass
            finally:
                await self.dispatcher.close()

        asyncio.run(drain())

    def on_call(self) -> str:
        rotation = self.container.policy.paging.rotations["devops"]
        return oncall.on_call(rotation, [], self.clock.now()).person


@pytest.fixture
def luxima(db: Database, tmp_path: Path) -> Iterator[Luxima]:
    http, smtp = HttpReceivers().start(), SmtpReceiver().start()
    try:
        yield Luxima(db, http, smtp, tmp_path)
    finally:
        http.stop()
        smtp.stop()


def test_luxima_chain(luxima: Luxima) -> None:
    http, smtp = luxima.http, luxima.smtp
    incident = luxima.alert()
    luxima.tick()
    # A critical alert reaches Slack #alerts and PagerDuty at once.
    assert len(http.at("/slack/alerts")) == 1
    (trigger,) = http.at("/v2/enqueue")
    assert trigger.body["event_action"] == "trigger"
    assert trigger.body["dedup_key"] == f"siaga-{incident}"
    assert trigger.body["payload"]["severity"] == "critical"
    assert trigger.body["links"][0]["href"] == f"https://siaga.luxima.id/incidents/{incident}"
    assert http.at("/slack/alerts")[0].body["attachments"][0]["color"] == "#d92d20"

    # Unacknowledged at 10 minutes: the on-call person of devops, by Telegram and e-mail.
    luxima.tick(9 * MIN)
    assert http.at(f"/bot{BOT_TOKEN}") == []
    luxima.tick(1 * MIN)
    person = luxima.on_call()
    chat = {"andi": "1001", "budi": "1002"}[person]
    (page,) = http.at(f"/bot{BOT_TOKEN}/sendMessage")
    assert page.body["chat_id"] == chat
    assert page.body["parse_mode"] == "HTML"
    assert len(smtp.to(f"{person}@luxima.id")) == 1

    # Unresolved at 30 minutes: the CTO and the management list, by e-mail (text and HTML).
    luxima.tick(20 * MIN)
    (to_cto,) = smtp.to("cto@luxima.id")
    (to_management,) = smtp.to("management@luxima.id")
    assert to_cto["Subject"] == "[SEV-1] DatabaseDown on database — escalated (step 3)"
    assert {part.get_content_type() for part in to_management.walk()} >= {"text/plain", "text/html"}

    # Acknowledging stops further steps; those paged hear of it, PagerDuty acknowledges the same alert.
    incidents.acknowledge(uow=luxima.container.db, incident_id=incident, actor="andi", now=luxima.clock.now())
    luxima.tick()
    assert [r.body["event_action"] for r in http.at("/v2/enqueue")] == ["trigger", "acknowledge"]
    sent_before = len(http.received) + len(smtp.inbox.messages)
    luxima.tick(3 * 60 * MIN)
    assert len(http.received) + len(smtp.inbox.messages) == sent_before

    # Resolving sends resolved messages: PagerDuty resolves the same dedup_key; Slack turns green.
    incidents.resolve(uow=luxima.container.db, incident_id=incident, actor="andi", now=luxima.clock.now())
    luxima.tick()
    assert [r.body["event_action"] for r in http.at("/v2/enqueue")] == ["trigger", "acknowledge", "resolve"]
    assert {r.body["dedup_key"] for r in http.at("/v2/enqueue")} == {f"siaga-{incident}"}
    assert http.at("/slack/alerts")[-1].body["attachments"][0]["color"] == "#12b76a"
    assert smtp.to("cto@luxima.id")[-1]["Subject"].endswith("— resolved")

    # Every receipt is on the timeline.
    timeline = incidents.get_incident(uow=luxima.container.db, incident_id=incident)["timeline"]
    receipts = [entry for entry in timeline if entry["kind"] == "notification"]
    assert len(receipts) == len(http.received) + len(smtp.inbox.messages)
    assert all("delivered" in entry["message"] for entry in receipts)
    assert http.problems == []


def test_security_alert_also_reaches_security_channel(luxima: Luxima) -> None:
    luxima.alert(alertname="LoginBruteForce", service="auth-api", category="security")
    luxima.tick()
    assert len(luxima.http.at("/slack/security-alerts")) == 1
    assert len(luxima.http.at("/slack/alerts")) == 1
    assert len(luxima.http.at("/v2/enqueue")) == 1
    assert luxima.http.problems == []


def test_a_failing_channel_retries_then_pages_the_fallback_webhook(luxima: Luxima) -> None:
    luxima.http.fail_next["/slack/alerts"] = 1
    luxima.alert()
    luxima.tick()
    assert luxima.http.at("/slack/alerts") == []
    luxima.tick(MIN)  # the retry (backoff 1-2 s) goes through
    assert len(luxima.http.at("/slack/alerts")) == 1
    luxima.http.fail_next["/v2/enqueue"] = 100
    for n in range(3):
        luxima.alert(alertname=f"Down{n}", service=f"svc{n}")
    luxima.tick()
    luxima.tick()
    (notice,) = luxima.http.at("/hook/ops")
    assert notice.body["incident"]["labels"]["alertname"] == "SiagaChannelFailing"
    assert notice.body["incident"]["labels"]["channel"] == "pagerduty"
    assert notice.headers["X-Siaga-Signature"].startswith("sha256=")
    assert ROUTING_KEY not in str(notice.body)
