"""The paging API on both engines: silences, on-call and overrides, the iCal feed, route dry runs and an
incident's notifications. The clock is the shared ManualClock at T0 (Monday 2026-01-05 08:00 UTC, 15:00 in
Jakarta), when budi holds the weekly devops shift that began at 02:00 UTC (09:00 Jakarta)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from siaga.adapters.clock import ManualClock
from tests.conftest import T0, bearer

HANDOFF = "2026-01-12T02:00:00Z"  # the next Monday 09:00 in Jakarta


def iso(delta: timedelta = timedelta(0)) -> str:
    return (T0 + delta).isoformat().replace("+00:00", "Z")


@pytest.fixture
def viewer(tokens_by_role: dict[str, str]) -> dict[str, str]:
    return bearer(tokens_by_role["viewer"])


@pytest.fixture
def responder(tokens_by_role: dict[str, str]) -> dict[str, str]:
    return bearer(tokens_by_role["responder"])


def silence(**fields: Any) -> dict[str, Any]:
    return {"matchers": ["service=database"], "comment": "failover drill", "duration": "2h", **fields}


# -- silences -------------------------------------------------------------------------------------------


def test_silence_create_list_expire(
    client: TestClient, viewer: dict[str, str], responder: dict[str, str], clock: ManualClock
) -> None:
    created = client.post("/api/v1/silences", json=silence(), headers=responder)
    assert created.status_code == 201, created.text
    body = created.json()
    assert {k: body[k] for k in ("id", "matchers", "starts_at", "ends_at", "created_by", "state")} == {
        "id": 1,
        "matchers": ["service=database"],
        "starts_at": iso(),
        "ends_at": iso(timedelta(hours=2)),
        "created_by": "token:t-responder",
        "state": "active",
    }
    later = silence(
        matchers=["alertname=~Disk.*", "severity!=SEV-3"],
        starts_at="2026-01-05T09:00:00",  # naive: UTC
        ends_at=iso(timedelta(hours=3)),
    )
    later.pop("duration")
    pending = client.post("/api/v1/silences", json=later, headers=responder)
    assert pending.status_code == 201, pending.text
    assert pending.json()["state"] == "pending"
    assert pending.json()["starts_at"] == iso(timedelta(hours=1))

    listed = client.get("/api/v1/silences", headers=viewer)
    assert listed.status_code == 200
    assert [(s["id"], s["state"]) for s in listed.json()["items"]] == [(1, "active"), (2, "pending")]

    clock.advance(timedelta(minutes=5))
    expired = client.delete("/api/v1/silences/1", headers=responder)
    assert expired.status_code == 200, expired.text
    assert expired.json()["state"] == "expired"
    assert expired.json()["ends_at"] == iso(timedelta(minutes=5))
    assert expired.json()["expired_by"] == "token:t-responder"
    assert [s["id"] for s in client.get("/api/v1/silences", headers=viewer).json()["items"]] == [2]
    everything = client.get("/api/v1/silences", params={"all": "true"}, headers=viewer).json()["items"]
    assert [(s["id"], s["state"]) for s in everything] == [(1, "expired"), (2, "pending")]


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"matchers": ["service=~("]}, "invalid regular expression"),
        ({"matchers": ["no operator"]}, "is not a matcher"),
        ({"matchers": []}, "at least 1"),
        ({"duration": None, "ends_at": iso(-timedelta(hours=1))}, "must be after starts_at"),
        (
            {"duration": None, "starts_at": iso(-timedelta(hours=3)), "ends_at": iso(-timedelta(hours=1))},
            "ends_at is in the past",
        ),
        ({"ends_at": iso(timedelta(hours=1))}, "exactly one of"),
        ({"duration": None}, "exactly one of"),
        ({"duration": "soon"}, "invalid duration"),
        ({"duration": "99999999999999999d"}, "too long"),
        ({"comment": "   "}, "comment must not be empty"),
        ({"starts_at": "0001-01-01T00:00:00Z"}, "between 1970"),
        ({"colour": "red"}, "Extra inputs"),
    ],
)
def test_bad_silence_is_422(
    client: TestClient, responder: dict[str, str], fields: dict[str, Any], says: str
) -> None:
    response = client.post("/api/v1/silences", json=silence(**fields), headers=responder)
    assert response.status_code == 422, response.text
    assert says in response.text
    assert client.get("/api/v1/silences?all=true", headers=responder).json()["items"] == []


def test_silence_roles_and_unknown_ids(
    client: TestClient, viewer: dict[str, str], responder: dict[str, str]
) -> None:
    assert client.post("/api/v1/silences", json=silence()).status_code == 401
    assert client.get("/api/v1/silences").status_code == 401
    denied = client.post("/api/v1/silences", json=silence(), headers=viewer)
    assert denied.status_code == 403
    assert denied.json()["detail"] == "needs the responder role"
    missing = client.delete("/api/v1/silences/999", headers=responder)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "silence 999 not found"
    unknown_incident = client.post("/api/v1/silences", json=silence(until_resolved=42), headers=responder)
    assert unknown_incident.status_code == 404
    assert unknown_incident.json()["detail"] == "incident 42 not found"
    created = client.post("/api/v1/silences", json=silence(), headers=responder)
    assert client.delete(f"/api/v1/silences/{created.json()['id']}", headers=viewer).status_code == 403


# -- on call --------------------------------------------------------------------------------------------


def test_oncall_now_shifts_and_override(
    client: TestClient, viewer: dict[str, str], responder: dict[str, str]
) -> None:
    now = client.get("/api/v1/oncall/devops", headers=viewer)
    assert now.status_code == 200, now.text
    assert now.json() == {
        "schedule": "devops",
        "at": iso(),
        "on_call": {
            "person": "budi",
            "starts_at": "2026-01-05T02:00:00Z",
            "ends_at": HANDOFF,
            "override": False,
        },
        "next": {
            "person": "andi",
            "starts_at": HANDOFF,
            "ends_at": "2026-01-19T02:00:00Z",
            "override": False,
        },
    }

    shifts = client.get("/api/v1/oncall/devops/shifts", headers=viewer).json()
    assert (shifts["from"], shifts["to"]) == (iso(), iso(timedelta(days=14)))
    assert [(s["person"], s["starts_at"], s["ends_at"]) for s in shifts["items"]] == [
        ("budi", iso(), HANDOFF),
        ("andi", HANDOFF, "2026-01-19T02:00:00Z"),
        ("budi", "2026-01-19T02:00:00Z", iso(timedelta(days=14))),
    ]

    cover = {"person": "andi", "starts_at": iso(-timedelta(hours=1)), "ends_at": iso(timedelta(hours=4))}
    assert client.post("/api/v1/oncall/devops/overrides", json=cover, headers=viewer).status_code == 403
    created = client.post("/api/v1/oncall/devops/overrides", json=cover, headers=responder)
    assert created.status_code == 201, created.text
    override_id = created.json()["id"]
    assert created.json()["created_by"] == "token:t-responder"

    covered = client.get("/api/v1/oncall/devops", headers=viewer).json()
    assert covered["on_call"] == {
        "person": "andi",
        **{k: cover[k] for k in ("starts_at", "ends_at")},
        "override": True,
    }
    assert (covered["next"]["person"], covered["next"]["starts_at"]) == ("budi", iso(timedelta(hours=4)))
    window = client.get(
        "/api/v1/oncall/devops/shifts",
        params={"from": iso(), "to": "2026-01-05T20:00:00"},
        headers=viewer,
    ).json()["items"]
    assert [(s["person"], s["override"], s["ends_at"]) for s in window] == [
        ("andi", True, iso(timedelta(hours=4))),
        ("budi", False, "2026-01-05T20:00:00Z"),
    ]

    removed = client.delete(f"/api/v1/oncall/overrides/{override_id}", headers=responder)
    assert removed.status_code == 200, removed.text
    assert client.get("/api/v1/oncall/devops", headers=viewer).json()["on_call"]["person"] == "budi"
    again = client.delete(f"/api/v1/oncall/overrides/{override_id}", headers=responder)
    assert again.status_code == 404


def test_oncall_mistakes(client: TestClient, viewer: dict[str, str], responder: dict[str, str]) -> None:
    unknown = client.get("/api/v1/oncall/nights", headers=viewer)
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "schedule 'nights' not found"
    backwards = client.get(
        "/api/v1/oncall/devops/shifts", params={"from": iso(), "to": iso(-timedelta(days=1))}, headers=viewer
    )
    assert backwards.status_code == 422
    too_long = client.get(
        "/api/v1/oncall/devops/shifts", params={"to": iso(timedelta(days=400))}, headers=viewer
    )
    assert too_long.status_code == 422
    stranger = {"person": "zed", "starts_at": iso(), "ends_at": iso(timedelta(hours=1))}
    refused = client.post("/api/v1/oncall/devops/overrides", json=stranger, headers=responder)
    assert refused.status_code == 422
    assert "unknown person 'zed'" in refused.json()["detail"]
    past = {"person": "andi", "starts_at": iso(-timedelta(hours=3)), "ends_at": iso(-timedelta(hours=1))}
    assert client.post("/api/v1/oncall/devops/overrides", json=past, headers=responder).status_code == 422


def test_ical_feed_takes_the_token_as_a_query_parameter(
    client: TestClient, tokens_by_role: dict[str, str], viewer: dict[str, str]
) -> None:
    feed = client.get("/api/v1/oncall/devops.ics", params={"token": tokens_by_role["viewer"]})
    assert feed.status_code == 200, feed.text
    assert feed.headers["content-type"] == "text/calendar; charset=utf-8"
    text = feed.text
    assert text.startswith("BEGIN:VCALENDAR")
    assert "X-WR-CALNAME:On call: devops (luxima-core)" in text
    assert "UID:devops-20260105T020000Z@siaga" in text
    assert "SUMMARY:On call: budi (devops)" in text
    assert client.get("/api/v1/oncall/devops.ics", headers=viewer).text == text  # the header works too

    assert client.get("/api/v1/oncall/devops.ics").status_code == 401
    assert client.get("/api/v1/oncall/devops.ics", params={"token": "siaga_nope"}).status_code == 401
    unknown = client.get("/api/v1/oncall/nights.ics", params={"token": tokens_by_role["viewer"]})
    assert unknown.status_code == 404


# -- route test and notifications -----------------------------------------------------------------------


def deliveries(fire: dict[str, Any]) -> set[tuple[str, str, str | None]]:
    return {(d["target"], d["channel"], d["person"]) for d in fire["notify"]}


def test_route_test_gives_the_escalation_timeline(client: TestClient, viewer: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/route-test",
        json={"labels": {"alertname": "DatabaseDown", "severity": "critical"}},
        headers=viewer,
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["severity"], result["escalation"], result["paged"], result["muted"]) == (
        "SEV-1",
        "critical",
        True,
        [],
    )
    assert [(r["index"], r["escalation"]) for r in result["routes"]] == [(1, "critical")]
    timeline = result["timeline"]
    assert [(f["step"], f["after"], f["at"]) for f in timeline] == [
        (1, 0, iso()),
        (2, 600, iso(timedelta(minutes=10))),
        (3, 1800, iso(timedelta(minutes=30))),
    ]
    assert deliveries(timeline[0]) == {("alerts", "alerts", None), ("pagerduty", "pagerduty", None)}
    # oncall:devops is resolved to whoever holds the shift: budi, reached by e-mail (the management channel).
    assert deliveries(timeline[1]) == {("oncall:devops", "management", "budi")}
    assert deliveries(timeline[2]) == {("cto", "management", "cto"), ("management", "management", None)}

    security = client.post(
        "/api/v1/route-test",
        json={"labels": {"alertname": "Intrusion", "severity": "SEV-1", "category": "security"}, "at": iso()},
        headers=viewer,
    ).json()
    assert [(r["index"], r["notify"], r["continue"]) for r in security["routes"]] == [
        (0, ["security-alerts"], True),
        (1, [], False),
    ]
    assert ("security-alerts", "security-alerts", None) in deliveries(security["timeline"][0])


def test_route_test_reports_mutes(
    client: TestClient, viewer: dict[str, str], responder: dict[str, str]
) -> None:
    labels = {"alertname": "DatabaseDown", "service": "database", "severity": "critical"}
    # The first Sunday of February 2026, 02:30 in Jakarta: inside the monthly patching window.
    patching = client.post(
        "/api/v1/route-test", json={"labels": labels, "at": "2026-01-31T19:30:00Z"}, headers=viewer
    ).json()
    assert patching["muted"] == ["in maintenance window 'monthly-patching'"]
    assert patching["paged"] is False
    assert client.post("/api/v1/silences", json=silence(), headers=responder).status_code == 201
    silenced = client.post("/api/v1/route-test", json={"labels": labels}, headers=viewer).json()
    assert silenced["muted"] == ["silenced by silence 1 (failover drill)"]
    bad = client.post("/api/v1/route-test", json={"labels": {"bad-name": "x"}}, headers=viewer)
    assert bad.status_code == 422


def test_notifications_of_an_incident(
    client: TestClient, viewer: dict[str, str], responder: dict[str, str]
) -> None:
    alert = {"labels": {"alertname": "DatabaseDown", "service": "database", "severity": "critical"}}
    opened = client.post("/api/v1/alerts", json=[alert], headers=responder).json()["opened"]
    assert opened == [1]
    response = client.get("/api/v1/incidents/1/notifications", headers=viewer)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [(i["channel"], i["kind"], i["status"], i["attempts"]) for i in items] == [
        ("alerts", "triggered", "pending", 0),
        ("pagerduty", "triggered", "pending", 0),
    ]
    assert [i["id"] for i in items] == sorted(i["id"] for i in items)
    assert items[0]["message"] == {"kind": "triggered", "title": "DatabaseDown on database"}
    assert items[0]["created_at"] == iso()
    assert "R0UT1NGKEY" not in response.text  # the routing key is config, never in the stored message

    missing = client.get("/api/v1/incidents/99/notifications", headers=viewer)
    assert missing.status_code == 404
    assert client.get("/api/v1/incidents/1/notifications").status_code == 401
