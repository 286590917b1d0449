"""Every channel against a local stand-in of its service: valid payloads, classified failures, no leaks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import pytest

from siaga.domain.notifications import Kind, Message, Recipient
from siaga.integrations.channels import pagerduty, telegram, templates
from siaga.integrations.channels.base import Outcome, Receipt, Sender
from siaga.integrations.channels.email import EmailSender, parse_smtp_url
from siaga.integrations.channels.registry import build_sender, build_senders
from siaga.integrations.channels.webhook import WebhookSender
from siaga.spec.channels import (
    AppriseChannel,
    EmailChannel,
    MessageTemplate,
    PagerDutyChannel,
    SlackChannel,
    TelegramChannel,
    WebhookChannel,
)
from tests.integration.channels import receivers
from tests.integration.channels.receivers import Answer, Mailbox, Receiver, json_answer

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
BOT_TOKEN = "7310452211:AAH-sEcReT-bot-token-0123456789abcdef"
ROUTING_KEY = "e93facc04764012d7bfb002500d5d1a6"
SMTP_PASSWORD = "p@ss:w/rd-s3cret"
SMTP_PASSWORD_IN_URL = quote(SMTP_PASSWORD, safe="")  # p%40ss%3Aw%2Frd-s3cret
SIGNING_SECRET = "whsec-7f3a9c-signing-secret"
FAST = 0.3  # seconds: the time limit used where a test waits for a timeout

T = TypeVar("T")


def run(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(scenario())


@asynccontextmanager
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def triggered(**changes: Any) -> Message:
    message = Message(
        kind=Kind.TRIGGERED,
        idempotency_key="incident:42:0:0.0:-",
        title="Database down",
        summary="SEV-1 on db: Database down",
        at=T0,
        incident_id=42,
        severity="SEV-1",
        severity_rank=0,
        status="triggered",
        service="db",
        url="https://siaga.example/incidents/42",
        labels={"env": "production", "team": "db"},
        opened_at=T0,
        step=0,
        project="luxima-core",
    )
    return replace(message, **changes)


def follow_up(kind: Kind, after: timedelta, **changes: Any) -> Message:
    verb = kind.value
    return triggered(
        kind=kind,
        status=verb,
        at=T0 + after,
        step=None,
        summary=f"{verb} by andi: Database down",
        idempotency_key=f"incident:42:{verb}",
        **changes,
    )


def announcement() -> Message:
    return Message(
        kind=Kind.ANNOUNCEMENT,
        idempotency_key="maintenance:db-upgrade:2026-01-10T01:00:00+00:00:ops",
        title="Planned maintenance 'db-upgrade': Saturday 2026-01-10 08:00 to 10:00 WIB",
        summary="Planned maintenance 'db-upgrade' for db. Alerts during the window are recorded, not paged.",
        at=T0,
        project="luxima-core",
    )


def assert_no_secret(receipts: list[Receipt], *secrets: str) -> None:
    for receipt in receipts:
        for secret in secrets:
            assert secret not in receipt.detail, f"secret leaked into {receipt.detail!r}"


# -- webhook ---------------------------------------------------------------------------------------------


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The snippet of docs/notifications.md, as a receiver would run it."""
    import hashlib
    import hmac

    timestamp = headers["X-Siaga-Timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-Siaga-Signature"], f"sha256={expected}")


def test_webhook_delivers_signed_json_with_idempotency_key() -> None:
    async def scenario() -> tuple[list[Receipt], Receiver]:
        async with http() as session, receivers.serve(Receiver(receivers.webhook(SIGNING_SECRET))) as hook:
            config = WebhookChannel(type="webhook", url=f"{hook.url}/hooks/siaga", secret=SIGNING_SECRET)
            sender = WebhookSender("ops-hook", config, session, clock=lambda: 1767600000.9)
            sent = [
                await sender.send(triggered()),
                await sender.send(follow_up(Kind.RESOLVED, timedelta(hours=1))),
            ]
            return sent, hook

    sent, hook = run(scenario)
    assert [receipt.outcome for receipt in sent] == [Outcome.SENT, Outcome.SENT]
    assert [receipt.status_code for receipt in sent] == [200, 200]
    assert hook.rejected == []
    first, second = hook.requests
    assert first.method == "POST"
    assert first.path == "/hooks/siaga"
    assert first.json() == triggered().to_json()
    assert second.json()["kind"] == "resolved"
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["User-Agent"] == "siaga"
    assert first.headers["Idempotency-Key"] == "incident:42:0:0.0:-"
    assert second.headers["Idempotency-Key"] == "incident:42:resolved"
    assert first.headers["X-Siaga-Timestamp"] == "1767600000"
    assert verify(SIGNING_SECRET, first.headers, first.body)
    assert not verify("another secret", first.headers, first.body)
    assert not verify(SIGNING_SECRET, first.headers, first.body + b" ")


def test_webhook_without_a_secret_is_not_signed() -> None:
    async def scenario() -> tuple[Receipt, Receiver]:
        async with http() as session, receivers.serve(Receiver(receivers.webhook())) as hook:
            sender = build_sender("hook", WebhookChannel(type="webhook", url=hook.url), session)
            return await sender.send(announcement()), hook

    receipt, hook = run(scenario)
    assert receipt.outcome is Outcome.SENT
    (request,) = hook.requests
    assert "X-Siaga-Signature" not in request.headers
    assert request.json()["incident"] is None
    assert request.json()["kind"] == "announcement"


@pytest.mark.parametrize(
    ("answer", "outcome", "retry_after", "detail"),
    [
        (Answer(200, "ok"), Outcome.SENT, None, ""),
        (Answer(204), Outcome.SENT, None, ""),
        (Answer(400, "missing field 'title'"), Outcome.PERMANENT, None, "HTTP 400: missing field 'title'"),
        (Answer(401, "who are you"), Outcome.PERMANENT, None, "HTTP 401: who are you"),
        (Answer(302, headers={"Location": "/elsewhere"}), Outcome.PERMANENT, None, "HTTP 302"),
        (Answer(503, "<html>down</html>", content_type="text/html"), Outcome.TEMPORARY, None, "HTTP 503"),
        (Answer(429, "slow down", {"Retry-After": "7"}), Outcome.TEMPORARY, 7.0, "HTTP 429: slow down"),
        (Answer(408), Outcome.TEMPORARY, None, "HTTP 408"),
        (Answer(503, "busy", {"retry-after": "2.5"}), Outcome.TEMPORARY, 2.5, "HTTP 503: busy"),
    ],
)
def test_http_answers_are_classified(
    answer: Answer, outcome: Outcome, retry_after: float | None, detail: str
) -> None:
    async def scenario() -> Receipt:
        async with http() as session, receivers.serve(Receiver(receivers.webhook())) as hook:
            hook.then(answer)
            sender = build_sender("hook", WebhookChannel(type="webhook", url=hook.url), session)
            return await sender.send(triggered())

    receipt = run(scenario)
    assert receipt.outcome is outcome
    assert receipt.status_code == answer.status
    assert receipt.retry_after == retry_after
    assert receipt.detail.startswith(detail)


def _http_configs(base: str) -> dict[str, Any]:
    return {
        "webhook": WebhookChannel(type="webhook", url=f"{base}/hook?token=url-secret-token"),
        "slack": SlackChannel(type="slack", webhook_url=f"{base}/services/T000/B000/url-secret-token"),
        "telegram": TelegramChannel(type="telegram", bot_token=BOT_TOKEN, chat_id="-1001", api_url=base),
        "pagerduty": PagerDutyChannel(type="pagerduty", routing_key=ROUTING_KEY, api_url=base),
    }


def test_refused_connections_and_silent_servers_are_temporary_without_the_url() -> None:
    async def scenario() -> tuple[list[Receipt], list[Receipt]]:
        async with http() as session:
            with receivers.refused_port() as port:
                senders = build_senders(_http_configs(f"http://127.0.0.1:{port}"), session, timeout=FAST)
                refused = [await sender.send(triggered()) for sender in senders.values()]
            async with receivers.silent_server() as (url, _):
                senders = build_senders(_http_configs(url), session, timeout=FAST)
                silent = list(
                    await asyncio.gather(*(sender.send(triggered()) for sender in senders.values()))
                )
            return refused, silent

    refused, silent = run(scenario)
    assert {(r.outcome, r.status_code, r.detail) for r in refused} == {
        (Outcome.TEMPORARY, None, "connection refused")
    }
    assert {(r.outcome, r.status_code, r.detail) for r in silent} == {
        (Outcome.TEMPORARY, None, f"timeout after {FAST:g} s")
    }
    assert_no_secret(refused + silent, "url-secret-token", BOT_TOKEN, ROUTING_KEY, "127.0.0.1")


def test_an_unusable_url_is_permanent() -> None:
    async def scenario() -> Receipt:
        async with http() as session:
            config = WebhookChannel(type="webhook", url="ftp://example.invalid/hook?token=url-secret-token")
            return await build_sender("hook", config, session).send(triggered())

    receipt = run(scenario)
    assert receipt.outcome is Outcome.PERMANENT
    assert_no_secret([receipt], "url-secret-token")


# -- Slack -----------------------------------------------------------------------------------------------


def _attachment(request: receivers.Recorded) -> dict[str, Any]:
    attachment: dict[str, Any] = request.json()["attachments"][0]
    return attachment


def test_slack_delivers_valid_block_kit_coloured_by_severity() -> None:
    async def scenario() -> tuple[list[Receipt], Receiver]:
        async with http() as session, receivers.serve(Receiver(receivers.slack)) as slack:
            config = SlackChannel(type="slack", webhook_url=f"{slack.url}/services/T0/B0/xyz")
            sender = build_sender("alerts", config, session)
            messages = [
                triggered(),
                triggered(severity="SEV-2", severity_rank=1, title="x" * 400),
                triggered(severity="SEV-3", severity_rank=2, summary="y" * 5000, url=None),
                follow_up(Kind.ACKNOWLEDGED, timedelta(minutes=3)),
                follow_up(Kind.RESOLVED, timedelta(hours=1, minutes=5)),
            ]
            return [await sender.send(message) for message in messages], slack

    sent, slack = run(scenario)
    assert slack.rejected == []
    assert {receipt.outcome for receipt in sent} == {Outcome.SENT}
    colours = [_attachment(request)["color"] for request in slack.requests]
    assert colours == ["#d92d20", "#f79009", "#1570ef", "#7a5af8", "#12b76a"]
    first = slack.requests[0].json()
    assert first["text"] == "[SEV-1] Database down — triggered"
    assert "channel" not in first
    blocks = _attachment(slack.requests[0])["blocks"]
    assert [block["type"] for block in blocks] == ["header", "section", "context", "section"]
    assert blocks[0]["text"]["text"] == "[SEV-1] Database down — triggered"
    assert "<https://siaga.example/incidents/42|Open incident #42 in Siaga>" in blocks[3]["text"]["text"]
    assert "link" not in json.dumps(_attachment(slack.requests[2]))  # no url: no link section
    assert len(_attachment(slack.requests[1])["blocks"][0]["text"]["text"]) == 150
    resolved_body = _attachment(slack.requests[4])["blocks"][1]["text"]["text"]
    assert "Resolved after 1 h 5 min" in resolved_body


def test_slack_mentions_the_recipient_uses_the_channel_override_and_escapes_mrkdwn() -> None:
    async def scenario() -> Receiver:
        async with http() as session, receivers.serve(Receiver(receivers.slack)) as slack:
            config = SlackChannel(type="slack", webhook_url=slack.url, channel="#alerts")
            sender = build_sender("alerts", config, session)
            andi = Recipient("andi", slack="U024BE7LH")
            await sender.send(triggered(recipient=andi, title="<!channel> disk full & <@U999>"))
            return slack

    slack = run(scenario)
    assert slack.rejected == []
    data = slack.requests[0].json()
    assert data["channel"] == "#alerts"
    assert data["text"].startswith("<@U024BE7LH> [SEV-1] &lt;!channel&gt; disk full &amp; &lt;@U999&gt;")
    assert "<!channel>" not in json.dumps(data["attachments"][0]["blocks"][1:])
    assert data["attachments"][0]["blocks"][0]["text"]["text"].startswith("[SEV-1] <!channel> disk full")


@pytest.mark.parametrize(
    ("answer", "outcome", "retry_after"),
    [
        (Answer(400, "invalid_payload"), Outcome.PERMANENT, None),
        (Answer(403, "action_prohibited"), Outcome.PERMANENT, None),
        (Answer(404, "channel_not_found"), Outcome.PERMANENT, None),
        (Answer(410, "channel_is_archived"), Outcome.PERMANENT, None),
        (Answer(429, "rate_limited", {"Retry-After": "30"}), Outcome.TEMPORARY, 30.0),
        (Answer(500, "rollup_error"), Outcome.TEMPORARY, None),
    ],
)
def test_slack_errors_are_classified(answer: Answer, outcome: Outcome, retry_after: float | None) -> None:
    async def scenario() -> tuple[Receipt, str]:
        async with http() as session, receivers.serve(Receiver(receivers.slack)) as slack:
            slack.then(answer)
            url = f"{slack.url}/services/T0/B0/url-secret-token"
            sender = build_sender("alerts", SlackChannel(type="slack", webhook_url=url), session)
            return await sender.send(triggered()), url

    receipt, url = run(scenario)
    assert (receipt.outcome, receipt.status_code, receipt.retry_after) == (
        outcome,
        answer.status,
        retry_after,
    )
    assert receipt.detail == f"HTTP {answer.status}: {answer.body!s}"
    assert_no_secret([receipt], url, "url-secret-token")


def test_slack_rejects_what_slack_would_reject() -> None:
    """The receiver is strict: a header over 150 characters is refused like Slack refuses it."""
    too_long = {
        "text": "x",
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
    }
    assert receivers.slack_problems(too_long) == ["blocks[0]: text length 151 not in 1..150"]
    assert receivers.slack_problems({"blocks": [{"type": "banner"}]}) == ["blocks[0]: unknown type 'banner'"]
    assert receivers.slack_problems({}) == ["no_text"]


# -- Telegram --------------------------------------------------------------------------------------------


def _telegram(base: str, **changes: Any) -> TelegramChannel:
    return TelegramChannel(type="telegram", bot_token=BOT_TOKEN, chat_id="-1001234", api_url=base, **changes)


def test_telegram_delivers_to_the_channel_chat_and_to_a_recipient_chat() -> None:
    async def scenario() -> tuple[list[Receipt], Receiver]:
        async with http() as session, receivers.serve(Receiver(receivers.telegram(BOT_TOKEN))) as bot:
            sender = build_sender("telegram", _telegram(bot.url), session)
            andi = Recipient("andi", email="andi@luxima.id", telegram="1001")
            messages = [
                triggered(),
                triggered(kind=Kind.ESCALATED, step=1, recipient=andi),
                follow_up(Kind.RESOLVED, timedelta(minutes=40), recipient=andi),
            ]
            return [await sender.send(message) for message in messages], bot

    sent, bot = run(scenario)
    assert bot.rejected == []
    assert [(receipt.outcome, receipt.status_code) for receipt in sent] == [(Outcome.SENT, 200)] * 3
    bodies = [request.json() for request in bot.requests]
    assert [body["chat_id"] for body in bodies] == ["-1001234", "1001", "1001"]
    assert {request.path for request in bot.requests} == {f"/bot{BOT_TOKEN}/sendMessage"}
    assert all(body["parse_mode"] == "HTML" and body["disable_web_page_preview"] is True for body in bodies)
    assert bodies[0]["text"].startswith("<b>[SEV-1] Database down — triggered</b>\n\n")
    assert '<a href="https://siaga.example/incidents/42">Open incident #42 in Siaga</a>' in bodies[0]["text"]
    assert "escalated (step 2)" in bodies[1]["text"]
    assert "Resolved after 40 min" in bodies[2]["text"]


def test_telegram_text_is_escaped_valid_html_within_4096_characters() -> None:
    hostile = triggered(
        title="<script>alert(1)</script> & co",
        summary="<b>not bold</b> & " * 600,
        labels={"query": "rate > 5 && ok < 3"},
        url="https://siaga.example/incidents/42?a=1&b=<2>",
    )

    async def scenario() -> tuple[Receipt, Receiver]:
        async with http() as session, receivers.serve(Receiver(receivers.telegram(BOT_TOKEN))) as bot:
            return await build_sender("telegram", _telegram(bot.url), session).send(hostile), bot

    receipt, bot = run(scenario)
    assert receipt.outcome is Outcome.SENT, receipt
    text = bot.requests[0].json()["text"]
    assert len(text) <= 4096
    assert receivers.telegram_html_problems(text) == []
    assert text.startswith("<b>[SEV-1] &lt;script&gt;alert(1)&lt;/script&gt; &amp; co — triggered</b>")
    assert "…" in text
    assert text.endswith(
        '<a href="https://siaga.example/incidents/42?a=1&amp;b=&lt;2&gt;">Open incident #42 in Siaga</a>'
    )


@pytest.mark.parametrize(
    "html",
    [
        "plain " * 2000,
        "<b>" + "bold &amp; " * 900 + "</b>",
        "<b>a <i>" + "é😀" * 3000 + "</i></b> tail",
        "&lt;" * 2000,
        '<a href="https://x.example/?a=1&amp;b=2">' + "link " * 1000 + "</a>",
    ],
)
def test_truncated_html_stays_valid(html: str) -> None:
    cut = telegram.truncate_html(html, 1000)
    assert len(cut.encode("utf-16-le")) // 2 <= 1000
    assert receivers.telegram_html_problems(cut) == []
    assert cut.rstrip("</abi>").endswith("…")


@pytest.mark.parametrize(
    ("answer", "outcome", "retry_after", "detail"),
    [
        (
            json_answer(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}),
            Outcome.PERMANENT,
            None,
            "HTTP 400: Bad Request: chat not found",
        ),
        (
            json_answer(403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked"}),
            Outcome.PERMANENT,
            None,
            "HTTP 403: Forbidden: bot was blocked",
        ),
        (
            json_answer(
                429,
                {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 5",
                    "parameters": {"retry_after": 5},
                },
            ),
            Outcome.TEMPORARY,
            5.0,
            "HTTP 429: Too Many Requests: retry after 5",
        ),
        (
            json_answer(500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}),
            Outcome.TEMPORARY,
            None,
            "HTTP 500: Internal Server Error",
        ),
        (
            Answer(502, "<html>bad gateway</html>", content_type="text/html"),
            Outcome.TEMPORARY,
            None,
            "HTTP 502 Bad Gateway",
        ),
        (
            json_answer(
                404, {"ok": False, "error_code": 404, "description": f"Not Found: /bot{BOT_TOKEN}/x"}
            ),
            Outcome.PERMANENT,
            None,
            "HTTP 404: Not Found: /bot***/x",
        ),
    ],
)
def test_telegram_errors_are_classified_and_never_show_the_token(
    answer: Answer, outcome: Outcome, retry_after: float | None, detail: str
) -> None:
    async def scenario() -> Receipt:
        async with http() as session, receivers.serve(Receiver(receivers.telegram(BOT_TOKEN))) as bot:
            bot.then(answer)
            return await build_sender("telegram", _telegram(bot.url), session).send(triggered())

    receipt = run(scenario)
    assert (receipt.outcome, receipt.retry_after, receipt.detail) == (outcome, retry_after, detail)
    assert_no_secret([receipt], BOT_TOKEN, BOT_TOKEN.split(":")[1])


def test_telegram_with_a_wrong_token_is_permanent() -> None:
    async def scenario() -> Receipt:
        async with http() as session, receivers.serve(Receiver(receivers.telegram("1:other"))) as bot:
            return await build_sender("telegram", _telegram(bot.url), session).send(triggered())

    receipt = run(scenario)
    assert (receipt.outcome, receipt.status_code, receipt.detail) == (
        Outcome.PERMANENT,
        401,
        "HTTP 401: Unauthorized",
    )


# -- PagerDuty -------------------------------------------------------------------------------------------


def _pagerduty(base: str, key: str = ROUTING_KEY) -> PagerDutyChannel:
    return PagerDutyChannel(type="pagerduty", routing_key=key, api_url=base)


def test_pagerduty_trigger_acknowledge_resolve_share_the_dedup_key() -> None:
    async def scenario() -> tuple[list[Receipt], Receiver]:
        async with http() as session, receivers.serve(Receiver(receivers.pagerduty)) as pd:
            sender = build_sender("pagerduty", _pagerduty(pd.url), session)
            messages = [
                triggered(),
                triggered(kind=Kind.ESCALATED, step=1, idempotency_key="incident:42:1.0:-"),
                follow_up(Kind.ACKNOWLEDGED, timedelta(minutes=3)),
                follow_up(Kind.RESOLVED, timedelta(minutes=30)),
            ]
            return [await sender.send(message) for message in messages], pd

    sent, pd = run(scenario)
    assert pd.rejected == []
    assert [(receipt.outcome, receipt.status_code) for receipt in sent] == [(Outcome.SENT, 202)] * 4
    events = [request.json() for request in pd.requests]
    assert [event["event_action"] for event in events] == ["trigger", "trigger", "acknowledge", "resolve"]
    assert {event["dedup_key"] for event in events} == {"siaga-42"}
    assert events[2] == {"routing_key": ROUTING_KEY, "event_action": "acknowledge", "dedup_key": "siaga-42"}
    assert events[3] == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": "siaga-42"}
    payload = events[0]["payload"]
    assert payload["summary"] == "[SEV-1] Database down"
    assert payload["severity"] == "critical"
    assert payload["component"] == "db"
    assert payload["custom_details"] == {
        "env": "production",
        "team": "db",
        "url": "https://siaga.example/incidents/42",
    }
    assert events[0]["links"] == [{"href": "https://siaga.example/incidents/42", "text": "Incident in Siaga"}]


@pytest.mark.parametrize(("rank", "severity"), [(0, "critical"), (1, "error"), (2, "warning"), (3, "info")])
def test_pagerduty_severity_follows_the_rank(rank: int, severity: str) -> None:
    event = pagerduty.event(triggered(severity_rank=rank), ROUTING_KEY, _pagerduty("http://x"))
    assert event["payload"]["severity"] == severity


def test_pagerduty_messages_without_an_incident_are_info_triggers_keyed_by_idempotency_key() -> None:
    async def scenario() -> tuple[Receipt, Receiver]:
        async with http() as session, receivers.serve(Receiver(receivers.pagerduty)) as pd:
            return await build_sender("pagerduty", _pagerduty(pd.url), session).send(announcement()), pd

    receipt, pd = run(scenario)
    assert receipt.outcome is Outcome.SENT
    event = pd.requests[0].json()
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == announcement().idempotency_key
    assert event["payload"]["severity"] == "info"
    assert event["payload"]["summary"].startswith("[Announcement] Planned maintenance 'db-upgrade'")


def test_pagerduty_long_summaries_are_cut_to_1024() -> None:
    async def scenario() -> Receiver:
        async with http() as session, receivers.serve(Receiver(receivers.pagerduty)) as pd:
            await build_sender("pagerduty", _pagerduty(pd.url), session).send(triggered(title="t" * 3000))
            return pd

    pd = run(scenario)
    assert pd.rejected == []
    assert len(pd.requests[0].json()["payload"]["summary"]) == 1024


@pytest.mark.parametrize(
    ("key", "answer", "outcome", "detail"),
    [
        (
            ROUTING_KEY[:-1],
            None,
            Outcome.PERMANENT,
            "HTTP 400: Event object is invalid: "
            "Length of 'routing_key' is incorrect (should be 32 characters)",
        ),
        (ROUTING_KEY, json_answer(429, {"status": "throttled"}), Outcome.TEMPORARY, "HTTP 429: throttled"),
        (
            ROUTING_KEY,
            Answer(503, "", content_type="text/html"),
            Outcome.TEMPORARY,
            "HTTP 503 Service Unavailable",
        ),
        (
            ROUTING_KEY,
            json_answer(400, {"status": "invalid event", "message": f"bad key {ROUTING_KEY}"}),
            Outcome.PERMANENT,
            "HTTP 400: bad key ***",
        ),
    ],
)
def test_pagerduty_rejections_and_throttling(
    key: str, answer: Answer | None, outcome: Outcome, detail: str
) -> None:
    async def scenario() -> Receipt:
        async with http() as session, receivers.serve(Receiver(receivers.pagerduty)) as pd:
            if answer is not None:
                pd.then(answer)
            return await build_sender("pagerduty", _pagerduty(pd.url, key), session).send(triggered())

    receipt = run(scenario)
    assert (receipt.outcome, receipt.detail) == (outcome, detail)
    assert_no_secret([receipt], key)


# -- e-mail ----------------------------------------------------------------------------------------------


def _email(url: str, **changes: Any) -> EmailChannel:
    return EmailChannel(type="email", to=["ops@luxima.id", "cto@luxima.id"], smtp_url=url, **changes)


def test_email_arrives_as_multipart_text_and_html_to_the_channel_list() -> None:
    async def scenario() -> tuple[Receipt, Mailbox]:
        mailbox = Mailbox()
        async with receivers.smtp_server(mailbox) as port:
            config = _email(f"smtp://127.0.0.1:{port}", sender="siaga@luxima.id")
            receipt = await build_sender("management", config, None).send(triggered())  # type: ignore[arg-type]
            return receipt, mailbox

    receipt, mailbox = run(scenario)
    assert (receipt.outcome, receipt.status_code) == (Outcome.SENT, 250)
    ((envelope, mail),) = mailbox.messages
    assert envelope.mail_from == "siaga@luxima.id"
    assert envelope.rcpt_tos == ["ops@luxima.id", "cto@luxima.id"]
    assert mail["To"] == "ops@luxima.id, cto@luxima.id"
    assert mail["Subject"] == "[SEV-1] Database down — triggered"
    assert mail["X-Siaga-Idempotency-Key"] == "incident:42:0:0.0:-"
    assert mail["Message-ID"].endswith("@siaga>")
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "SEV-1 on db: Database down" in text.get_content()
    assert "Open the incident: https://siaga.example/incidents/42" in text.get_content()
    assert '<a href="https://siaga.example/incidents/42">' in html.get_content()


def test_email_goes_to_the_recipient_and_logs_in_with_percent_decoded_credentials() -> None:
    async def scenario() -> tuple[Receipt, Mailbox]:
        mailbox = Mailbox(credentials=("alerts@luxima.id", SMTP_PASSWORD))
        async with receivers.smtp_server(mailbox) as port:
            url = f"smtp://alerts%40luxima.id:{SMTP_PASSWORD_IN_URL}@127.0.0.1:{port}"
            andi = Recipient("andi", email="andi@luxima.id")
            message = triggered(recipient=andi, title="Disk <full> & slow")
            return await EmailSender("mail", _email(url)).send(message), mailbox

    receipt, mailbox = run(scenario)
    assert receipt.outcome is Outcome.SENT, receipt
    assert mailbox.logins == ["alerts@luxima.id"]
    ((envelope, mail),) = mailbox.messages
    assert envelope.rcpt_tos == ["andi@luxima.id"]
    assert mail["To"] == "andi@luxima.id"
    assert mail["From"] == "alerts@luxima.id"  # the SMTP user, as no sender is set
    html = mail.get_body(("html",))
    assert html is not None
    assert "Disk &lt;full&gt; &amp; slow" in html.get_content()


def test_email_keeps_its_connection_for_the_next_mail_and_replaces_one_the_server_dropped() -> None:
    async def scenario() -> tuple[list[Receipt], Mailbox]:
        mailbox = Mailbox(credentials=("alerts@luxima.id", SMTP_PASSWORD))
        async with receivers.smtp_server(mailbox) as port:
            url = f"smtp://alerts%40luxima.id:{SMTP_PASSWORD_IN_URL}@127.0.0.1:{port}"
            sender = EmailSender("mail", _email(url))
            receipts = [await sender.send(triggered(title=f"mail {n}")) for n in range(3)]
            for session in mailbox.sessions:  # as a server's idle timeout would
                assert session.transport is not None
                session.transport.close()
            await asyncio.sleep(0.05)
            receipts.append(await sender.send(triggered(title="after the drop")))
            await sender.close()
        return receipts, mailbox

    receipts, mailbox = run(scenario)
    assert [receipt.outcome for receipt in receipts] == [Outcome.SENT] * 4
    assert len(mailbox.messages) == 4
    assert len(mailbox.sessions) == 2  # three mails on one connection, then a new one
    assert mailbox.logins == ["alerts@luxima.id"] * 2  # logged in once per connection


def test_email_failures_are_classified_without_the_password() -> None:
    async def scenario() -> dict[str, Receipt]:
        results: dict[str, Receipt] = {}
        mailbox = Mailbox(refuse_rcpt="550 5.1.1 no such user")
        async with receivers.smtp_server(mailbox) as port:
            results["550"] = await EmailSender("m", _email(f"smtp://127.0.0.1:{port}")).send(triggered())
            mailbox.refuse_rcpt = "451 4.3.0 try again later"
            results["451"] = await EmailSender("m", _email(f"smtp://127.0.0.1:{port}")).send(triggered())
            mailbox.refuse_rcpt = None
            require = _email(f"smtp://127.0.0.1:{port}?starttls=require")
            results["starttls"] = await EmailSender("m", require).send(triggered())
        async with receivers.smtp_server(Mailbox(credentials=("u", "right"))) as port:
            wrong = _email(f"smtp://u:{SMTP_PASSWORD_IN_URL}@127.0.0.1:{port}")
            results["535"] = await EmailSender("m", wrong).send(triggered())
        with receivers.refused_port() as port:
            refused = _email(f"smtp://u:{SMTP_PASSWORD_IN_URL}@127.0.0.1:{port}")
            results["refused"] = await EmailSender("m", refused, timeout=FAST).send(triggered())
        async with receivers.silent_server() as (_, port):
            silent = _email(f"smtp://u:{SMTP_PASSWORD_IN_URL}@127.0.0.1:{port}")
            results["silent"] = await EmailSender("m", silent, timeout=FAST).send(triggered())
        bad = _email(f"imap://u:{SMTP_PASSWORD_IN_URL}@host")
        results["bad url"] = await EmailSender("m", bad).send(triggered())
        return results

    results = run(scenario)
    outcomes = {name: (receipt.outcome, receipt.status_code) for name, receipt in results.items()}
    assert outcomes == {
        "550": (Outcome.PERMANENT, 550),
        "451": (Outcome.TEMPORARY, 451),
        "starttls": (Outcome.PERMANENT, None),
        "535": (Outcome.PERMANENT, 535),
        "refused": (Outcome.TEMPORARY, None),
        "silent": (Outcome.TEMPORARY, None),
        "bad url": (Outcome.PERMANENT, None),
    }
    assert "no such user" in results["550"].detail
    assert "STARTTLS" in results["starttls"].detail
    assert results["refused"].detail == "connection refused"
    assert results["silent"].detail == f"timeout after {FAST:g} s"
    assert results["bad url"].detail == "smtp_url must start with smtp:// or smtps://"
    assert_no_secret(list(results.values()), SMTP_PASSWORD, SMTP_PASSWORD_IN_URL)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example", ("mail.example", 25, None, None, False, None, True)),
        ("smtp://u%40x:p%2F1@mail.example", ("mail.example", 587, "u@x", "p/1", False, None, True)),
        ("smtp://mail.example:2525?starttls=require", ("mail.example", 2525, None, None, False, True, True)),
        ("smtp://mail.example?starttls=no&verify=no", ("mail.example", 25, None, None, False, False, False)),
        ("smtps://u:p@mail.example", ("mail.example", 465, "u", "p", True, None, True)),
    ],
)
def test_smtp_urls(url: str, expected: tuple[Any, ...]) -> None:
    server = parse_smtp_url(url)
    got = (server.host, server.port, server.username, server.password)
    assert (*got, server.implicit_tls, server.starttls, server.verify) == expected


@pytest.mark.parametrize(
    "url",
    [
        f"smtp://u:{SMTP_PASSWORD}@host:notaport",
        f"smtp://u:{SMTP_PASSWORD}@host?starttls=maybe",
        f"smtps://u:{SMTP_PASSWORD}@host?starttls=require",
        f"smtp://u:{SMTP_PASSWORD}@host?tls=1",
        f"smtp://u:{SMTP_PASSWORD}@/",
    ],
)
def test_bad_smtp_urls_are_refused_without_quoting_them(url: str) -> None:
    with pytest.raises(ValueError, match="smtp") as error:
        parse_smtp_url(url)
    assert SMTP_PASSWORD not in str(error.value)
    assert "host" not in str(error.value).replace("no host", "")


# -- Apprise ---------------------------------------------------------------------------------------------


# Apprise's e-mail plugin imports the stdlib's deprecated imghdr when Apprise first loads its plugins.
quiet_apprise = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


@quiet_apprise
def test_apprise_delivers_through_its_json_plugin() -> None:
    async def scenario() -> tuple[list[Receipt], Receiver]:
        async with http() as session, receivers.serve(Receiver(receivers.webhook())) as target:
            url = target.url.replace("http://", "json://") + "/apprise/url-secret-token"
            sender = build_sender("apprise", AppriseChannel(type="apprise", url=url), session)
            delivered = await sender.send(triggered())
            target.then(Answer(500, "broken"))
            failed = await sender.send(follow_up(Kind.RESOLVED, timedelta(minutes=9)))
            return [delivered, failed], target

    (delivered, failed), target = run(scenario)
    assert delivered.outcome is Outcome.SENT
    assert failed.outcome is Outcome.TEMPORARY
    assert failed.detail == "Apprise could not deliver the message"
    body = target.requests[0].json()
    assert body["title"] == "[SEV-1] Database down — triggered"
    assert "SEV-1 on db: Database down" in body["message"]
    assert target.requests[0].path == "/apprise/url-secret-token"
    assert_no_secret([delivered, failed], "url-secret-token", target.url)


@quiet_apprise
def test_apprise_url_it_does_not_know_is_permanent() -> None:
    async def scenario() -> Receipt:
        async with http() as session:
            config = AppriseChannel(type="apprise", url="nosuchservice://url-secret-token@somewhere")
            return await build_sender("apprise", config, session).send(triggered())

    receipt = run(scenario)
    assert receipt.outcome is Outcome.PERMANENT
    assert_no_secret([receipt], "url-secret-token")


# -- templates -------------------------------------------------------------------------------------------


def test_custom_templates_render_for_the_channel() -> None:
    template = MessageTemplate(
        title="{{ kind|upper }} {{ severity }} {{ title }} ({{ labels.env }})",
        body=(
            "{{ summary }}\n{% if recipient %}for {{ recipient.name }}\n{% endif %}"
            "{% for key, value in labels|dictsort %}{{ key }}={{ value }} {% endfor %}\n"
            "opened {{ opened_at.strftime('%H:%M') }}, {{ duration }} ago; step {{ step }} #{{ incident_id }}"
        ),
    )

    async def scenario() -> Receiver:
        async with http() as session, receivers.serve(Receiver(receivers.telegram(BOT_TOKEN))) as bot:
            config = _telegram(bot.url, template=template)
            message = triggered(at=T0 + timedelta(minutes=7), recipient=Recipient("Andi <ops>", telegram="5"))
            await build_sender("telegram", config, session).send(message)
            return bot

    bot = run(scenario)
    assert bot.rejected == []
    text = bot.requests[0].json()["text"]
    assert text.startswith(
        "<b>TRIGGERED SEV-1 Database down (production)</b>\n\nSEV-1 on db: Database down\n"
    )
    assert "for Andi &lt;ops&gt;\nenv=production team=db \nopened 08:00, 7 min ago; step 0 #42" in text


def test_html_rendering_escapes_values_but_not_the_template() -> None:
    template = MessageTemplate(title="<i>{{ title }}</i>", body="<b>{{ summary }}</b> {{ labels.q }}")
    message = triggered(title="a < b", summary="x & y", labels={"q": '"quoted"'})
    assert templates.render(message, template, html=True) == (
        "<i>a &lt; b</i>",
        "<b>x &amp; y</b> &#34;quoted&#34;",
    )
    assert templates.render(message, template, html=False) == ("<i>a < b</i>", '<b>x & y</b> "quoted"')


@pytest.mark.parametrize(
    ("title", "body", "failed"),
    [
        (None, "{{ labels.__class__.__mro__ }}", "the body template failed: SecurityError"),
        (None, "{{ recipient.name.upper() }}", "the body template failed: UndefinedError"),
        ("{{ 1 / 0 }}", None, "the title template failed: ZeroDivisionError"),
        (None, "{{ '=' * 10**9 }}", "the body template failed: SecurityError"),
        (None, "{% for i in range(10**9) %}{% endfor %}", "the body template failed: OverflowError"),
    ],
)
def test_a_template_failing_at_render_time_falls_back_to_the_default(
    title: str | None, body: str | None, failed: str
) -> None:
    message = triggered()
    default_title, default_body = templates.render(message, None, html=False)
    got_title, got_body = templates.render(message, MessageTemplate(title=title, body=body), html=False)
    assert got_title == default_title
    assert got_body.startswith(default_body)
    assert got_body.splitlines()[-1] == f"({failed}; the default text is shown)"


def test_a_broken_template_still_delivers() -> None:
    broken = MessageTemplate(body="{{ labels.__class__.__mro__[1].__subclasses__() }}")

    async def scenario() -> tuple[Receipt, Receiver]:
        async with http() as session, receivers.serve(Receiver(receivers.slack)) as slack:
            config = SlackChannel(type="slack", webhook_url=slack.url, template=broken)
            return await build_sender("alerts", config, session).send(triggered()), slack

    receipt, slack = run(scenario)
    assert receipt.outcome is Outcome.SENT
    section = _attachment(slack.requests[0])["blocks"][1]["text"]["text"]
    assert section.endswith("(the body template failed: SecurityError; the default text is shown)")


@pytest.mark.parametrize(
    ("message", "title"),
    [
        (triggered(), "[SEV-1] Database down — triggered"),
        (triggered(kind=Kind.ESCALATED, step=2), "[SEV-1] Database down — escalated (step 3)"),
        (triggered(kind=Kind.REOPENED), "[SEV-1] Database down — reopened"),
        (follow_up(Kind.ACKNOWLEDGED, timedelta(minutes=1)), "[SEV-1] Database down — acknowledged"),
        (follow_up(Kind.RESOLVED, timedelta(days=1, hours=2)), "[SEV-1] Database down — resolved"),
        (
            announcement(),
            "[Announcement] Planned maintenance 'db-upgrade': Saturday 2026-01-10 08:00 to 10:00 WIB",
        ),
        (replace(announcement(), kind=Kind.NOTICE, title="Silence 4 expired"), "[Siaga] Silence 4 expired"),
        (replace(announcement(), kind=Kind.TEST, title="Hello"), "[Test] Hello"),
    ],
)
def test_default_titles(message: Message, title: str) -> None:
    assert templates.render(message, None, html=False)[0] == title


def test_default_bodies_say_how_long_it_lasted() -> None:
    _, resolved = templates.render(follow_up(Kind.RESOLVED, timedelta(days=1, hours=2)), None, html=False)
    assert "Resolved after 1 d 2 h (opened 2026-01-05 08:00 UTC)." in resolved
    _, open_ = templates.render(triggered(at=T0 + timedelta(seconds=45)), None, html=False)
    assert "Open for 45 s, since 2026-01-05 08:00 UTC." in open_
    _, maintenance = templates.render(announcement(), None, html=False)
    assert "nobody is paged" in maintenance


# -- registry --------------------------------------------------------------------------------------------


def test_registry_builds_every_kind_with_limits_that_hold_no_secret() -> None:
    channels = {
        **_http_configs("http://127.0.0.1:9"),
        "email": _email(f"smtp://u:{SMTP_PASSWORD_IN_URL}@127.0.0.1:9"),
        "apprise": AppriseChannel(
            type="apprise", url="json://127.0.0.1:9/url-secret-token", rate_limit_per_minute=5
        ),
        "limited": SlackChannel(
            type="slack", webhook_url="http://127.0.0.1:9/url-secret-token", rate_limit_per_minute=20
        ),
    }

    async def scenario() -> dict[str, Sender]:
        async with http() as session:
            return build_senders(channels, session)

    senders = run(scenario)
    assert set(senders) == set(channels)
    assert {name: sender.name for name, sender in senders.items()} == {name: name for name in channels}
    andi = Recipient("andi", telegram="1001")
    limits = {name: sender.limits(triggered(recipient=andi)) for name, sender in senders.items()}
    keys = {
        name: [(limit.key.split(":")[0], limit.count, limit.per_seconds) for limit in found]
        for name, found in limits.items()
    }
    assert keys == {
        "webhook": [],
        "slack": [("slack", 1, 1.0)],
        "telegram": [("telegram", 1, 1.0), ("telegram", 30, 1.0)],
        "pagerduty": [("pagerduty", 120, 60.0)],
        "email": [],
        "apprise": [("channel", 5, 60.0)],
        "limited": [("slack", 1, 1.0), ("channel", 20, 60.0)],
    }
    assert limits["limited"][1].key == "channel:limited"
    assert limits["telegram"][0].key.endswith(":chat:1001")
    every_key = " ".join(limit.key for found in limits.values() for limit in found)
    for secret in ("url-secret-token", BOT_TOKEN, BOT_TOKEN.split(":")[1], ROUTING_KEY, "127.0.0.1"):
        assert secret not in every_key


def test_registry_refuses_an_unknown_kind() -> None:
    with pytest.raises(TypeError, match="no sender"):
        build_sender("odd", object(), None)  # type: ignore[arg-type]
