"""kill -9 the server while 1,000 alerts are being posted; after restart, every alert that got a 2xx is in
the alert log and no incident is duplicated.

A real `siaga run` process takes single-alert Alertmanager webhooks from 16 concurrent clients. The client
counts 2xx responses and sends SIGKILL as soon as it has seen ``KILL_AFTER`` of them, so the kill lands
while a full window of requests is in flight (some mid-transaction). The server is then restarted on the
same data and the test checks, through the API only, that:

* every alert that got a 2xx is in the alert log (as many times as it got a 2xx), and nothing that was
  never sent is;
* every log entry points at an existing incident of the alert's own group;
* there is at most one open incident per group, one for each group with a 2xx alert and none for a
  group that was never posted;
* the restarted server is healthy, takes the rest of the alerts, and reuses the incidents opened before
  the crash instead of opening duplicates.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from siaga.domain.alerts import group_key
from tests.e2e.conftest import SiagaServer

N_REQUESTS = 1000
REPEAT_EVERY = 10  # every 10th request re-posts a fingerprint already sent (Alertmanager re-notifies)
N_SERVICES, N_ALERTNAMES = 10, 5  # 50 groups (service + alertname)
CONCURRENCY = 16
KILL_AFTER = 300  # 2xx responses seen by the client before it sends SIGKILL
SEVERITIES = ("critical", "warning", "info")
REST_BATCH = 4  # alerts per webhook when the restarted server takes the rest


@dataclass(frozen=True, slots=True)
class Post:
    """One webhook request: its body and, per alert in it, the fingerprint and group key."""

    fingerprints: tuple[str, ...]
    groups: tuple[str, ...]
    body: dict[str, Any]

    @property
    def fingerprint(self) -> str:
        (only,) = self.fingerprints
        return only


def combine(posts: list[Post]) -> Post:
    """Several single-alert posts as one webhook carrying all their alerts."""
    body = {**posts[0].body, "alerts": [alert for post in posts for alert in post.body["alerts"]]}
    fingerprints = tuple(fp for post in posts for fp in post.fingerprints)
    return Post(fingerprints, tuple(g for post in posts for g in post.groups), body)


@dataclass(slots=True)
class Outcome:
    ok: Counter[str] = field(default_factory=Counter)  # fingerprint -> 2xx responses
    sent: Counter[str] = field(default_factory=Counter)  # fingerprint -> requests started
    ok_groups: set[str] = field(default_factory=set)
    sent_groups: set[str] = field(default_factory=set)
    refused: list[tuple[str, int, str]] = field(default_factory=list)  # non-2xx: fingerprint, status, body
    cut: list[str] = field(default_factory=list)  # fingerprints whose request died with the server
    killed: bool = False

    @property
    def ok_total(self) -> int:
        return sum(self.ok.values())


def webhook(labels: dict[str, str], fingerprint: str, starts_at: str) -> dict[str, Any]:
    """One alert in an Alertmanager 0.25 webhook body (notify/webhook.Message, version 4)."""
    return {
        "receiver": "siaga",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": f"{labels['alertname']} on {labels['service']}"},
                "startsAt": starts_at,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0",
                "fingerprint": fingerprint,
            }
        ],
        "groupLabels": {"alertname": labels["alertname"]},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{labels["alertname"]}"}}',
        "truncatedAlerts": 0,
    }


def plan(seed: int) -> list[Post]:
    """1,000 single-alert posts over 50 groups; groups come into play gradually (so the kill finds some
    groups never posted and some whose first alert is in flight), new groups are hit by several clients at
    once (racing to open the incident), and every tenth post repeats a recent fingerprint."""
    rng = random.Random(seed)
    groups = [(f"svc-{s:02d}", f"CrashTest{a}") for s in range(N_SERVICES) for a in range(N_ALERTNAMES)]
    rng.shuffle(groups)
    starts_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    posts: list[Post] = []
    distinct: list[Post] = []
    for i in range(N_REQUESTS):
        if i % REPEAT_EVERY == REPEAT_EVERY - 1:
            posts.append(rng.choice(distinct[-2 * CONCURRENCY :]))
            continue
        n = len(distinct)
        available = min(len(groups), 1 + n // 18)
        index = available - 1 if rng.random() < 0.5 else rng.randrange(available)
        service, alertname = groups[index]
        labels = {
            "alertname": alertname,
            "service": service,
            "severity": rng.choice(SEVERITIES),
            "instance": f"node-{n:04d}:9100",
        }
        fp = f"crash{seed:x}{n:05d}"
        post = Post((fp,), (group_key(labels, None),), webhook(labels, fp, starts_at))
        distinct.append(post)
        posts.append(post)
    return posts


async def post_all(
    base_url: str,
    token: str,
    posts: list[Post],
    *,
    kill_after: int | None = None,
    kill: Callable[[], None] | None = None,
) -> Outcome:
    """Post with CONCURRENCY requests in flight; call ``kill`` once ``kill_after`` 2xx have come back."""
    outcome = Outcome()
    queue = iter(posts)
    url = f"{base_url}/api/v1/integrations/alertmanager"
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    headers = {"Authorization": f"Bearer {token}"}

    async def client(session: aiohttp.ClientSession) -> None:
        for post in queue:  # one iterator shared by all clients: each post is sent once
            if outcome.killed:
                return
            outcome.sent.update(post.fingerprints)
            outcome.sent_groups.update(post.groups)
            try:
                async with session.post(url, json=post.body) as response:
                    status, text = response.status, await response.text()
            except (aiohttp.ClientError, TimeoutError):
                if not outcome.killed:
                    raise
                outcome.cut += post.fingerprints
                return
            if 200 <= status < 300:
                outcome.ok.update(post.fingerprints)
                outcome.ok_groups.update(post.groups)
                due = kill_after is not None and outcome.ok_total >= kill_after
                if kill is not None and due and not outcome.killed:
                    outcome.killed = True
                    kill()
            else:
                outcome.refused.append((",".join(post.fingerprints), status, text[:500]))

    async with aiohttp.ClientSession(headers=headers, timeout=timeout, connector=connector) as session:
        await asyncio.gather(*(client(session) for _ in range(CONCURRENCY)))
    return outcome


async def get_json(session: aiohttp.ClientSession, url: str, **params: Any) -> Any:
    async with session.get(url, params=params) as response:
        text = await response.text()
        assert response.status == 200, f"GET {url} {params}: {response.status} {text[:500]}"
        return await response.json()


async def read_state(base_url: str, token: str, spot_check: list[str]) -> tuple[list[dict], list[dict]]:
    """The whole alert log and every incident, through the API; plus a by-fingerprint look-up of a few."""
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=60)) as session:
        log: list[dict] = []
        params: dict[str, Any] = {"limit": 1000}
        while True:
            page = await get_json(session, f"{base_url}/api/v1/alerts", **params)
            log += page["items"]
            if page["next_before_id"] is None:
                break
            params["before_id"] = page["next_before_id"]
        incidents: list[dict] = []
        while True:
            page = await get_json(session, f"{base_url}/api/v1/incidents", limit=500, offset=len(incidents))
            incidents += page["items"]
            if len(page["items"]) < 500:
                break
        for fp in spot_check:
            found = await get_json(session, f"{base_url}/api/v1/alerts", fingerprint=fp, limit=10)
            assert [e["fingerprint"] for e in found["items"]][:1] == [fp], f"{fp} not found by fingerprint"
    # Siaga's own alerts are not part of the storm: the fragment's channels point at a closed port, so they
    # fail and raise SiagaChannelFailing.
    own = {entry["incident_id"] for entry in log if entry["source"] == "siaga"}
    log = [entry for entry in log if entry["source"] != "siaga"]
    return log, [incident for incident in incidents if incident["id"] not in own]


def check_consistent(log: list[dict], incidents: list[dict], sent: Counter[str], ok: Counter[str]) -> None:
    """Invariants that must hold after any crash, whatever was in flight."""
    logged = Counter(entry["fingerprint"] for entry in log)
    lost = sorted(fp for fp in ok if logged[fp] < ok[fp])
    assert not lost, f"{len(lost)} alerts got a 2xx but are missing from the alert log: {lost[:20]}"
    phantom = sorted(fp for fp in logged if logged[fp] > sent[fp])
    assert not phantom, f"alert log holds more events than were sent for: {phantom[:20]}"

    by_id = {incident["id"]: incident for incident in incidents}
    assert len(by_id) == len(incidents), "the incident list repeats an incident"
    open_by_group: defaultdict[str, list[int]] = defaultdict(list)
    for incident in incidents:
        if incident["status"] != "resolved":
            open_by_group[incident["group_key"]].append(incident["id"])
    duplicated = {key: ids for key, ids in open_by_group.items() if len(ids) > 1}
    assert not duplicated, f"duplicate open incidents per group: {duplicated}"

    for entry in log:
        owner = by_id.get(entry["incident_id"])
        assert owner is not None, f"log entry {entry['id']} points at missing incident {entry['incident_id']}"
        assert owner["group_key"] == group_key(entry["labels"], None), f"log entry {entry['id']} misfiled"


@pytest.mark.timeout(120)
def test_kill_9_during_alert_storm_loses_no_acknowledged_alert_and_duplicates_no_incident(
    siaga_server: SiagaServer,
) -> None:
    server = siaga_server
    token = server.create_token("alertmanager", "responder")
    posts = plan(seed=0x51A6A)
    all_groups = {post.groups[0] for post in posts}
    distinct = {post.fingerprint: post for post in posts}
    assert len(all_groups) == N_SERVICES * N_ALERTNAMES
    assert len(distinct) < N_REQUESTS  # some fingerprints are posted twice

    server.start()
    pid = server.pid
    storm = asyncio.run(
        post_all(
            server.base_url, token, posts, kill_after=KILL_AFTER, kill=lambda: os.kill(pid, signal.SIGKILL)
        )
    )
    server.kill()
    assert storm.killed, f"the storm ended before {KILL_AFTER} 2xx: {storm.refused[:5]}"
    # Before the kill the server must answer every post with 2xx (a 503 'busy' would be allowed by the API
    # contract, but nothing here contends hard enough to exhaust the retries; a 500 is a bug).
    assert not storm.refused, f"non-2xx answers before the kill: {storm.refused[:5]}\n{server.log_text()}"
    assert KILL_AFTER <= storm.ok_total < sum(storm.sent.values()), "nothing was in flight at the kill"
    assert storm.ok_groups < all_groups, "every group was already posted: the plan no longer spreads them"

    server.start()
    ok_order = [fp for fp in distinct if storm.ok[fp]]
    log, incidents = asyncio.run(read_state(server.base_url, token, spot_check=ok_order[-CONCURRENCY:]))
    check_consistent(log, incidents, storm.sent, storm.ok)
    groups_with_incident = {incident["group_key"] for incident in incidents}
    assert storm.ok_groups <= groups_with_incident, (
        f"groups with a 2xx alert but no incident: {sorted(storm.ok_groups - groups_with_incident)}"
    )
    assert groups_with_incident <= storm.sent_groups, "an incident exists for a group never posted"
    assert len(storm.ok_groups) <= len(incidents) <= len(storm.sent_groups)
    before_restart = {incident["group_key"]: incident["id"] for incident in incidents}

    # The restarted server takes everything that did not get a 2xx (including what the kill cut off),
    # plus fresh repeats of acknowledged alerts, and still opens no duplicate. Four alerts to a webhook,
    # as Alertmanager groups them, keeps this phase short; the groups still race from 16 clients.
    rest = [post for fp, post in distinct.items() if not storm.ok[fp]]
    rest += [distinct[fp] for fp in ok_order[:: len(ok_order) // 25 or 1]]
    random.Random(7).shuffle(rest)
    batches = [combine(rest[i : i + REST_BATCH]) for i in range(0, len(rest), REST_BATCH)]
    after = asyncio.run(post_all(server.base_url, token, batches))
    assert not after.refused, f"non-2xx after restart: {after.refused[:5]}\n{server.log_text()}"
    assert sum(after.ok.values()) == len(rest)

    log, incidents = asyncio.run(read_state(server.base_url, token, spot_check=[rest[0].fingerprint]))
    check_consistent(log, incidents, storm.sent + after.sent, storm.ok + after.ok)
    assert set(distinct) <= {entry["fingerprint"] for entry in log}
    final = {incident["group_key"]: incident["id"] for incident in incidents}
    assert len(incidents) == len(final) == len(all_groups), "one incident per group, none duplicated"
    assert set(final) == all_groups
    assert all(incident["status"] == "triggered" for incident in incidents)
    reopened = {
        key: (before_restart[key], final[key]) for key in before_restart if final[key] != before_restart[key]
    }
    assert not reopened, f"incidents opened before the crash were replaced after it: {reopened}"
