"""The store's batched statements (on PostgreSQL: queued writes, pipelined reads) keep transactions whole.

PostgreSQL connections run in the driver's autocommit mode with BEGIN sent by Siaga, and writes wait in a
queue for the next round trip; these tests hold both engines to the same behaviour: what a transaction
wrote is what it reads, a failed transaction leaves nothing, and the combined reads return what the
separate ones do.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from siaga.adapters.clock import ManualClock
from siaga.adapters.db import engine as db_engine
from siaga.adapters.db.engine import Database
from siaga.adapters.db.tables import alerts
from siaga.domain.alerts import AlertIn, AlertStatus, group_key
from siaga.services import ingest
from siaga.services.policy import Policy
from siaga.services.ports import ConflictError, PagingReads
from tests.conftest import T0


class Boom(Exception):
    pass


def alert_row(fingerprint: str, **values: Any) -> dict[str, Any]:
    return {
        "fingerprint": fingerprint,
        "status": "firing",
        "alertname": "DiskFull",
        "severity": "SEV-2",
        "labels": {"alertname": "DiskFull", "service": "db", "note": "quote ' and {brace}"},
        "annotations": {},
        "starts_at": T0,
        "ends_at": None,
        "source": "test",
        "updated_at": T0,
        "incident_id": None,
        **values,
    }


def open_incident(db: Database, policy: Policy, name: str, now: Any) -> int:
    labels = {"alertname": name, "service": "db", "severity": "critical"}
    alert = AlertIn(labels=labels, status=AlertStatus.FIRING, starts_at=now)
    result = ingest.ingest(uow=db, policy=policy, alerts=[alert], source="t", actor="t", now=now)
    return result.opened[0]


def test_a_transaction_reads_what_it_wrote_before_commit(db: Database) -> None:
    with db.transaction() as store:
        store.insert_alerts([alert_row("fp-1"), alert_row("fp-2")])
        store.update_alerts([{"b_fingerprint": "fp-2", "status": "resolved", "ends_at": T0}])
        seen = store.alerts_by_fingerprint(["fp-1", "fp-2"])
        found, _, _ = store.intake_state(["fp-1", "fp-2"], [], T0)
    assert {fp: row["status"] for fp, row in seen.items()} == {"fp-1": "firing", "fp-2": "resolved"}
    assert {fp: row["status"] for fp, row in found.items()} == {"fp-1": "firing", "fp-2": "resolved"}
    assert found["fp-1"]["labels"] == {
        "alertname": "DiskFull",
        "service": "db",
        "note": "quote ' and {brace}",
    }


def test_a_failed_transaction_leaves_nothing_even_after_its_writes_were_sent(db: Database) -> None:
    def fail_after_writing() -> None:
        with db.transaction() as store:
            store.insert_alerts([alert_row("fp-sent")])
            assert "fp-sent" in store.alerts_by_fingerprint(["fp-sent"])  # the insert reached the server
            store.insert_alerts([alert_row("fp-queued")])  # still queued when the transaction fails
            raise Boom

    with pytest.raises(Boom):
        fail_after_writing()
    with db.read() as store:
        assert store.alerts_by_fingerprint(["fp-sent", "fp-queued"]) == {}
    with db.transaction() as store:  # the pooled connection carries nothing over
        store.insert_alerts([alert_row("fp-next")])
    with db.read() as store:
        assert set(store.alerts_by_fingerprint(["fp-sent", "fp-queued", "fp-next"])) == {"fp-next"}


def test_a_clash_in_a_queued_write_is_a_conflict_and_nothing_of_the_transaction_stays(db: Database) -> None:
    with db.transaction() as store:
        store.insert_alerts([alert_row("fp-1")])

    def clash() -> None:
        with db.transaction() as store:
            store.insert_alerts([alert_row("fp-2")])
            store.insert_alerts([alert_row("fp-1")])  # the key is taken: fails where the queue is sent
            store.alerts_by_fingerprint(["fp-2"])

    with pytest.raises(ConflictError):
        clash()
    with db.read() as store:
        assert set(store.alerts_by_fingerprint(["fp-1", "fp-2"])) == {"fp-1"}


def test_updating_many_rows_sets_each_and_the_last_value_for_a_key_wins(db: Database) -> None:
    with db.transaction() as store:
        store.insert_alerts([alert_row(f"fp-{i}") for i in range(3)])
    later = T0 + timedelta(minutes=5)
    with db.transaction() as store:
        store.update_alerts(
            [
                {"b_fingerprint": "fp-0", "status": "resolved", "labels": {"a": "1"}, "ends_at": later},
                {"b_fingerprint": "fp-1", "status": "resolved", "labels": {}, "ends_at": None},
                {"b_fingerprint": "fp-0", "status": "firing", "labels": {"a": "2"}, "ends_at": None},
            ]
        )
    with db.read() as store:
        rows = store.alerts_by_fingerprint(["fp-0", "fp-1", "fp-2"])
    assert (rows["fp-0"]["status"], rows["fp-0"]["labels"], rows["fp-0"]["ends_at"]) == (
        "firing",
        {"a": "2"},
        None,
    )
    assert (rows["fp-1"]["status"], rows["fp-1"]["labels"]) == ("resolved", {})
    assert rows["fp-2"]["status"] == "firing"


def test_intake_state_returns_what_the_separate_reads_return(
    db: Database, policy: Policy, clock: ManualClock
) -> None:
    open_id = open_incident(db, policy, "StillOpen", clock.now())
    resolved_id = open_incident(db, policy, "ResolvedLately", clock.now())
    with db.transaction() as store:
        store.update_incidents(
            [{"b_id": resolved_id, "status": "resolved", "resolved_at": clock.now(), "resolved_by": "t"}]
        )
    keys = [
        group_key({"alertname": name, "service": "db"}, None)
        for name in ("StillOpen", "ResolvedLately", "Never")
    ]
    with db.transaction() as store:
        prints = [row["fingerprint"] for row in store.alerts_of(open_id)] + ["nothing"]
        separate = (store.alerts_by_fingerprint(prints), *store.incidents_by_group(keys, clock.now()))
        together = store.intake_state(prints, keys, clock.now())
    assert together == separate
    found, open_by_key, recent = together
    assert [int(row["id"]) for row in open_by_key.values()] == [open_id]
    assert [int(row["id"]) for row in recent.values()] == [resolved_id]
    incident = next(iter(open_by_key.values()))
    assert incident["opened_at"] == clock.now()
    assert incident["opened_at"].utcoffset() == timedelta(0)
    assert isinstance(next(iter(found.values()))["labels"], dict)


def test_paging_reads_return_what_the_separate_reads_return(
    db: Database, policy: Policy, clock: ManualClock
) -> None:
    now = clock.now()
    open_incident(db, policy, "Inhibitor", now)
    with db.transaction() as store:
        store.insert_silence(
            {
                "matchers": ["service=db"],
                "starts_at": now - timedelta(hours=1),
                "ends_at": now + timedelta(hours=1),
                "created_by": "t",
                "comment": "work",
                "created_at": now,
            }
        )
        store.insert_override(
            {
                "schedule": "primary",
                "person": "someone",
                "starts_at": now - timedelta(minutes=5),
                "ends_at": now + timedelta(minutes=5),
                "created_by": "t",
                "created_at": now,
            }
        )
    window = (now - timedelta(seconds=1), now + timedelta(seconds=1))
    with db.transaction() as store:
        separate = (
            store.silences(active_at=now),
            store.open_incident_labels(["db"]),
            store.overrides(None, *window),
        )
        together = store.paging_reads(PagingReads(now, inhibit=True, services=("db",), overrides=window))
        neither = store.paging_reads(PagingReads(now, inhibit=False, services=None, overrides=None))
        every_service = store.paging_reads(PagingReads(now, inhibit=True, services=None, overrides=None))
    assert [list(part or []) for part in together] == [list(part) for part in separate]
    assert [len(part or []) for part in together] == [1, 1, 1]
    assert neither == (together[0], None, None)
    assert every_service[1] == store_labels(db)


def store_labels(db: Database) -> list[Any]:
    with db.read() as store:
        return list(store.open_incident_labels(None))


def test_on_postgresql_a_write_transaction_is_one_transaction_and_a_read_runs_statement_by_statement(
    pg_database: str,
) -> None:
    db = Database(db_engine.create(pg_database))
    same = sa.text("SELECT now() = statement_timestamp()")
    try:
        with db.transaction() as store:
            store.conn.execute(sa.text("SELECT pg_sleep(0.01)"))
            inside_transaction = store.conn.execute(same).scalar_one()
        with db.read() as store:
            store.conn.execute(sa.text("SELECT pg_sleep(0.01)"))
            on_its_own = store.conn.execute(same).scalar_one()
    finally:
        db.dispose()
    assert inside_transaction is False  # now() is the time BEGIN started the transaction
    assert on_its_own is True


def outbox_row(key: str, due: Any) -> dict[str, Any]:
    message = {"kind": "triggered", "text": "disk full"}
    return {
        "key": key,
        "incident_id": None,
        "channel": "ops",
        "kind": "triggered",
        "message": message,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": due,
        "created_at": T0,
    }


def test_queued_outbox_rows_skip_keys_already_queued(db: Database) -> None:
    with db.transaction() as store:
        assert store.insert_outbox([outbox_row("ops:1", T0)]) == 1
    with db.transaction() as store:
        store.queue_outbox([outbox_row("ops:1", T0), outbox_row("ops:2", T0), outbox_row("ops:2", T0)])
    with db.read() as store:
        rows = store.claim_outbox(T0, None, 10)
    assert sorted(row["key"] for row in rows) == ["ops:1", "ops:2"]


def test_claims_with_a_lease_take_each_due_message_once_in_due_order(db: Database) -> None:
    with db.transaction() as store:
        store.insert_outbox([outbox_row(f"ops:{i}", T0 - timedelta(seconds=i)) for i in range(5)])
    lease = T0 + timedelta(seconds=30)
    with db.statement() as store:
        first = store.claim_outbox(T0, lease, 3)
    with db.statement() as store:
        second = store.claim_outbox(T0, lease, 3)
    with db.statement() as store:
        third = store.claim_outbox(T0, lease, 3)
    assert [row["key"] for row in first] == ["ops:4", "ops:3", "ops:2"]  # the longest due first
    assert [row["key"] for row in second] == ["ops:1", "ops:0"]
    assert third == []
    assert {row["attempts"] for row in first + second} == {1}
    with db.statement() as store:  # the lease ran out: due again, a second attempt
        again = store.claim_outbox(lease, lease + timedelta(seconds=30), 10)
    assert sorted(row["key"] for row in again) == [f"ops:{i}" for i in range(5)]
    assert {row["attempts"] for row in again} == {2}


def test_appending_timeline_entries_to_several_incidents_numbers_each_after_its_last(
    db: Database, policy: Policy, clock: ManualClock
) -> None:
    first = open_incident(db, policy, "First", clock.now())
    second = open_incident(db, policy, "Second", clock.now())
    with db.read() as store:
        before = {i: len(store.timeline(i)) for i in (first, second)}

    def entry(text: str) -> dict[str, Any]:
        return {"at": clock.now(), "actor": "t", "kind": "note", "message": text, "data": {"n": text}}

    with db.transaction() as store:
        store.append_events_many({first: [entry("a"), entry("b")], second: [entry("c")]})
        store.append_events_many({second: [entry("d"), entry("e")]})
    with db.read() as store:
        timelines = {i: store.timeline(i) for i in (first, second)}
        last_seq = {i: (store.incident(i) or {})["last_seq"] for i in (first, second)}
    added = {i: [(e["seq"], e["message"]) for e in timelines[i][before[i] :]] for i in (first, second)}
    assert added == {
        first: [(before[first] + 1, "a"), (before[first] + 2, "b")],
        second: [(before[second] + 1, "c"), (before[second] + 2, "d"), (before[second] + 3, "e")],
    }
    assert last_seq == {first: before[first] + 2, second: before[second] + 3}
    assert timelines[first][-1]["data"] == {"n": "b"}


def test_rows_written_and_read_on_the_driver_are_those_sqlalchemy_writes_and_reads(db: Database) -> None:
    # The fast paths (sqlite_fast, pg_batch) and SQLAlchemy Core must agree on every stored value.
    tricky = (
        "fp-fast ' \" \\ %s %(x)s ; --"  # quotes, backslash, placeholders: merged as literals on PostgreSQL
    )
    row = alert_row(
        tricky, ends_at=T0 + timedelta(microseconds=5), incident_id=None, annotations={"k": tricky}
    )
    other = alert_row("fp-core", labels={"x": "é ' \" \\\\ %s"}, annotations={"n": None})
    with db.transaction() as store:
        store.insert_alerts([row])  # the fast path
        store.conn.execute(alerts.insert().values(**other))  # SQLAlchemy Core
    with db.transaction() as store:
        fast, _, _ = store.intake_state([tricky, "fp-core"], [], T0)  # the fast path
        core = {r["fingerprint"]: dict(r) for r in store.conn.execute(sa.select(alerts)).mappings()}
    assert {fp: dict(r) for fp, r in fast.items()} == core
    assert core[tricky] == row
    assert core["fp-core"] == other
    assert core[tricky]["ends_at"].tzinfo is not None
