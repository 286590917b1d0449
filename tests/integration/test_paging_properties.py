"""Properties of the whole paging pipeline (ingest → escalation → outbox → dispatcher) on a virtual clock,
over random sequences of alerts, silences, acknowledgements and time: a muted incident is never paged, and
after an acknowledgement nothing but acknowledged / resolved / reopened messages goes out."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siaga.adapters.clock import ManualClock
from siaga.adapters.db.engine import Database
from siaga.bootstrap import Container, open_database
from siaga.domain import maintenance
from siaga.domain.notifications import Kind
from siaga.domain.routing import all_match, parse_matcher
from siaga.services import incidents, oncall, silences
from siaga.services.policy import Policy
from siaga.settings import Settings
from siaga.spec import Spec
from tests.conftest import FRAGMENT
from tests.integration.test_paging import Rig

MIN = timedelta(minutes=1)
SERVICES = ("database", "auth-api", "web")
# 2026-01-31 19:00 UTC: an hour before the first-Sunday window (02:00-04:00 WIB on 1 February) opens.
START = datetime(2026, 1, 31, 19, 0, tzinfo=UTC)

actions = st.lists(
    st.one_of(
        st.tuples(st.just("alert"), st.sampled_from(SERVICES)),
        st.tuples(st.just("silence"), st.sampled_from(SERVICES), st.integers(5, 90)),
        st.tuples(st.just("ack"), st.integers(1, 6)),
        st.tuples(st.just("unack"), st.integers(1, 6)),
        st.tuples(st.just("resolve"), st.integers(1, 6)),
        st.tuples(st.just("reopen"), st.integers(1, 6)),
        st.tuples(st.just("wait"), st.integers(1, 45)),
    ),
    min_size=1,
    max_size=14,
)


def _rig(spec: Spec, directory: Path) -> tuple[Rig, Database]:
    settings = Settings(
        data_dir=directory,
        database_url=f"sqlite:///{directory}/siaga.db",
        config_path=FRAGMENT,
        sweep_interval=1,
    )
    db = open_database(settings)
    container = Container(settings, db, ManualClock(START), spec, Policy.from_spec(spec))
    return Rig(container), db


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=actions)
def test_muted_or_acknowledged_incidents_are_not_paged(spec: Spec, steps: list[tuple[object, ...]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        rig, db = _rig(spec, Path(directory))
        try:
            acked: dict[int, list[tuple[datetime, datetime | None]]] = {}
            for step in steps:
                _apply(rig, step, acked)
            rig.tick(MIN)
            _check(rig, acked)
        finally:
            rig.close()
            db.dispose()


def _apply(
    rig: Rig, step: tuple[object, ...], acked: dict[int, list[tuple[datetime, datetime | None]]]
) -> None:
    db, now = rig.container.db, rig.clock.now()
    kind = step[0]
    try:
        if kind == "alert":
            rig.alert(alertname=f"{step[1]}Down", service=str(step[1]))
        elif kind == "silence":
            silences.create(
                uow=db,
                matchers=[f"service={step[1]}"],
                starts_at=now,
                ends_at=now + int(str(step[2])) * MIN,
                comment="property",
                actor="test",
                now=now,
            )
        elif kind == "ack":
            incidents.acknowledge(uow=db, incident_id=int(str(step[1])), actor="t", now=now)
            acked.setdefault(int(str(step[1])), []).append((now, None))
        elif kind in ("unack", "resolve", "reopen"):
            incident = int(str(step[1]))
            if kind == "unack":
                incidents.unacknowledge(uow=db, incident_id=incident, actor="t", now=now)
            elif kind == "resolve":
                incidents.resolve(uow=db, incident_id=incident, actor="t", now=now)
            else:
                incidents.reopen(
                    uow=db, policy=rig.container.policy, incident_id=incident, actor="t", now=now
                )
            spans = acked.get(incident)
            if spans and spans[-1][1] is None:
                spans[-1] = (spans[-1][0], now)
        elif kind == "wait":
            rig.clock.advance(int(str(step[1])) * MIN)
    except incidents.IncidentError:
        return  # no such incident, or the action does not apply to its state: nothing changed
    rig.tick()


def _check(rig: Rig, acked: dict[int, list[tuple[datetime, datetime | None]]]) -> None:
    with rig.container.db.read() as store:
        all_silences = store.silences()
    plans = rig.container.policy.paging.maintenance
    for recorder in rig.channels.values():
        for message in recorder.sent:
            if not message.kind.is_alarm or message.incident_id is None:
                continue
            at = message.at
            for row in all_silences:
                active = row["starts_at"] <= at < row["ends_at"]
                matchers = [parse_matcher(text) for text in row["matchers"]]
                assert not (active and all_match(matchers, message.labels, None, None)), (message, row)
            assert maintenance.active(plans, message.service, at) is None, message
            for start, end in acked.get(message.incident_id, []):
                inside = start <= at and (end is None or at < end)
                assert not inside or message.kind is Kind.REOPENED, (message.kind, at, start, end)


@dataclass
class Week:
    elapsed: float  # seconds of real time the simulated week took (bench/oncall_week.py reports it)
    paged: list[tuple[datetime, str]]  # when the 10-minute step fired, and whom it reached
    night: datetime  # the override's start (cto covers 10 hours)
    acknowledgements: int  # acknowledge events PagerDuty received
    covered: timedelta  # virtual time covered


def simulate_week(spec: Spec, directory: Path) -> Week:
    """A week: the weekly rotation hands over, an override covers a night, 200 incidents page the on-call
    person after 10 minutes; each is acknowledged five minutes later."""
    rig, db = _rig(spec, directory)
    begin = datetime(2026, 1, 8, 0, 0, tzinfo=UTC)  # Thursday: the hand-off comes on Monday
    try:
        rig.clock.set(begin)
        night = begin + timedelta(days=1, hours=14)
        oncall.add_override(
            uow=db,
            policy=rig.container.policy,
            schedule="devops",
            person="cto",
            starts_at=night,
            ends_at=night + timedelta(hours=10),
            actor="test",
            now=rig.clock.now(),
        )
        started = time.perf_counter()
        paged: list[tuple[datetime, str]] = []
        for n in range(200):
            incident = rig.alert(alertname=f"Week{n}", service=f"svc{n}")[0]
            rig.tick(10 * MIN)
            people = [m.recipient.name for m in rig.channels["management"].sent[-3:] if m.recipient]
            paged.append((rig.clock.now(), people[-1] if people else "-"))
            rig.clock.advance(5 * MIN)
            incidents.acknowledge(uow=db, incident_id=incident, actor="oncall", now=rig.clock.now())
            rig.clock.advance(35 * MIN)  # 50 minutes apart: 200 make a week; the next tick sends the ack
        rig.tick()
        elapsed = time.perf_counter() - started
        acks = [m for m in rig.channels["pagerduty"].sent if m.kind is Kind.ACKNOWLEDGED]
        return Week(elapsed, paged, night, len(acks), rig.clock.now() - begin)
    finally:
        rig.close()
        db.dispose()


def test_a_simulated_week_of_on_call(spec: Spec, tmp_path: Path) -> None:
    week = simulate_week(spec, tmp_path)
    who = {person for _, person in week.paged}
    assert {"andi", "budi", "cto"} <= who  # the rotation handed over, and the override took a night
    in_override = [person for at, person in week.paged if week.night <= at < week.night + timedelta(hours=10)]
    assert in_override
    assert set(in_override) == {"cto"}
    assert week.covered >= timedelta(days=6, hours=22)
    assert week.acknowledgements == 200
