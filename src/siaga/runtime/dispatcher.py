"""The outbox dispatcher: claims due messages, sends them through their channel, records the receipts.

Delivery is at-least-once with idempotency keys: a message is claimed with a lease before it is sent and
marked sent after; a crash in between lets the lease expire and the message go out again with the same
key, which receivers that honour it (webhook ``Idempotency-Key``, PagerDuty ``dedup_key``) fold into one.
Temporary failures are retried with exponential backoff and jitter; permanent ones stop at once. Rate limits
are kept per channel key (PagerDuty per routing key, Telegram per chat and per bot, …): a message over the
limit waits in the outbox rather than being dropped. A channel that fails again and again raises its own
alert (``SiagaChannelFailing``), which pages only the project's fallback channel.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from siaga.bootstrap import Container
from siaga.domain.alerts import AlertIn, AlertStatus
from siaga.domain.notifications import Message
from siaga.integrations.channels.base import Closable, Outcome, RateLimit, Receipt, Sender
from siaga.services import ingest
from siaga.services.ports import Row

log = logging.getLogger(__name__)

FAILING_ALERT = "SiagaChannelFailing"
SenderFactory = Callable[[Mapping[str, Any], aiohttp.ClientSession], Mapping[str, Sender]]


@dataclass(frozen=True, slots=True)
class Backoff:
    base: float = 2.0
    cap: float = 600.0
    max_attempts: int = 12  # ~1 h of retrying with the defaults

    def delay(self, attempts: int, retry_after: float | None, rng: random.Random) -> float:
        """Exponential with 'equal jitter': half fixed, half random, so retries of many messages spread."""
        ceiling = min(self.cap, self.base * 2 ** max(0, attempts - 1))
        delay = ceiling / 2 + rng.uniform(0, ceiling / 2)
        return float(max(delay, retry_after or 0.0))


class RateLimiter:
    """Sliding-window limits on the injected clock: ``reserve`` takes a slot or says how long to wait."""

    def __init__(self) -> None:
        self._sent: dict[str, deque[float]] = defaultdict(deque)

    def reserve(self, limits: Sequence[RateLimit], now: float) -> float:
        wait = 0.0
        for limit in limits:
            window = self._sent[limit.key]
            while window and window[0] <= now - limit.per_seconds:
                window.popleft()
            if len(window) >= limit.count:
                wait = max(wait, window[0] + limit.per_seconds - now)
        if wait > 0:
            return wait
        for limit in limits:
            self._sent[limit.key].append(now)
        return 0.0


@dataclass(frozen=True, slots=True)
class Attempt:
    row: Row
    receipt: Receipt
    latency_ms: int


def default_senders(channels: Mapping[str, Any], session: aiohttp.ClientSession) -> Mapping[str, Sender]:
    from siaga.integrations.channels.registry import build_senders

    return build_senders(channels, session)


async def _close_all(senders: Iterable[Sender]) -> None:
    for sender in senders:
        if isinstance(sender, Closable):
            await sender.close()


_OVERLAPPED_ROUNDS = 2  # rounds whose outcomes may be waiting to be recorded while the next one sends


class Dispatcher:
    def __init__(
        self,
        container: Container,
        *,
        senders: SenderFactory = default_senders,
        batch: int = 200,
        lease: timedelta = timedelta(seconds=30),
        backoff: Backoff | None = None,
        failing_after: int = 3,
        poll_seconds: float = 1.0,
        seed: int | None = None,
    ) -> None:
        self._container = container
        self._make_senders = senders
        self._batch = batch
        self._lease = lease
        self._backoff = backoff or Backoff()
        self._failing_after = failing_after
        self._poll = poll_seconds
        self._rng = random.Random(seed)  # noqa: S311 - jitter, not security
        self._limiter = RateLimiter()
        self._failures: dict[str, int] = defaultdict(int)
        self._failing: set[str] = set()
        self._session: aiohttp.ClientSession | None = None
        self._senders: Mapping[str, Sender] = {}
        self._senders_for: object = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Outbox rows sent (or deferred) whose outcome is still being recorded: never claimed again meanwhile.
        self._inflight: set[int] = set()
        self._recording: list[asyncio.Task[None]] = []
        self._closing: set[asyncio.Future[None]] = set()

    # -- life cycle -----------------------------------------------------------------------------------
    def wake(self) -> None:
        """Thread-safe: new messages may be due (called after commits that queued some)."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop``. Rounds overlap: a round's outcomes are recorded in the background while
        the next round claims and sends, so a message queued meanwhile is not held up behind a write
        waiting for the database (on SQLite, behind intake's transactions)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._recording = []  # a new run, maybe on a new loop: nothing of an earlier one is waited for
        try:
            while not stop.is_set():
                try:
                    sent = await self._round(overlap=True)
                except Exception:
                    log.exception("outbox dispatch failed; retrying")
                    sent = 0
                if sent >= self._batch:
                    continue  # more may be waiting
                waker = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waker, stopper}, timeout=self._poll, return_when=asyncio.FIRST_COMPLETED)
                waker.cancel()
                stopper.cancel()
                self._wake.clear()
        finally:
            await self._drain_recording()
            await self.close()

    async def close(self) -> None:
        await _close_all(self._senders.values())
        self._senders = {}
        if self._session is not None:
            await self._session.close()
            self._session = None
            self._senders_for = None  # senders hold the session: build them anew with the next one

    def _current_senders(self) -> Mapping[str, Sender]:
        spec = self._container.spec
        if self._session is None:
            self._session = aiohttp.ClientSession()
        if self._senders_for is not spec:  # the spec was reloaded: channels may have changed
            replaced = list(self._senders.values())
            self._senders = self._make_senders(spec.channels, self._session)
            self._senders_for = spec
            if replaced:  # their kept connections (e-mail) go; a send still running keeps its own
                closing = asyncio.ensure_future(_close_all(replaced))
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
        return self._senders

    # -- one round --------------------------------------------------------------------------------------
    async def run_once(self) -> int:
        """Claim due messages, send them, record the outcomes; return how many were attempted."""
        return await self._round(overlap=False)

    async def _round(self, *, overlap: bool) -> int:
        wired = self._container
        now = wired.clock.now()
        # The ids being recorded as the read starts: a row whose outcome commits while the read runs may
        # still come back pending, and must not be sent again.
        inflight = set(self._inflight)
        claimed = await asyncio.to_thread(self._claim, now, len(inflight))
        rows = [row for row in claimed if int(row["id"]) not in inflight][: self._batch]
        if not rows:
            return 0
        self._inflight.update(int(row["id"]) for row in rows)
        try:
            attempts, deferred = await self._send_all(rows, now)
        except BaseException:
            self._inflight.difference_update(int(row["id"]) for row in rows)
            raise
        recording = self._record_outcomes(rows, attempts, deferred)
        if not overlap:
            await recording
            return len(rows)
        # Bound the rounds waiting to be recorded. (A finished task is dropped here, not by a done
        # callback: awaiting a task that is already done does not yield, so a loop waiting for the
        # callback to run would spin.)
        self._recording = [task for task in self._recording if not task.done()]
        if len(self._recording) >= _OVERLAPPED_ROUNDS:
            await asyncio.wait(self._recording[:1])
            self._recording = [task for task in self._recording if not task.done()]
        self._recording.append(asyncio.create_task(self._after(list(self._recording), recording)))
        return len(rows)

    async def _send_all(
        self, rows: Sequence[Row], now: datetime
    ) -> tuple[list[Attempt], list[tuple[Row, float]]]:
        senders = self._current_senders()
        tasks = []
        deferred: list[tuple[Row, float]] = []
        unknown: list[Row] = []
        for row in rows:
            sender = senders.get(row["channel"])
            if sender is None:
                unknown.append(row)
                continue
            message = Message.from_json(row["message"])
            wait = self._limiter.reserve(sender.limits(message), now.timestamp())
            if wait > 0:
                deferred.append((row, wait))
                continue
            tasks.append(self._send(sender, message, row))
        attempts = list(await asyncio.gather(*tasks))
        attempts += [
            Attempt(row, Receipt(Outcome.PERMANENT, None, "no such channel in the spec"), 0)
            for row in unknown
        ]
        return attempts, deferred

    async def _record_outcomes(
        self, rows: Sequence[Row], attempts: Sequence[Attempt], deferred: Sequence[tuple[Row, float]]
    ) -> None:
        try:
            await asyncio.to_thread(self._record, attempts, deferred, self._container.clock.now())
        finally:
            self._inflight.difference_update(int(row["id"]) for row in rows)
        changed = self._watch_channels(attempts)
        if changed:
            await asyncio.to_thread(self._raise_or_clear_all, changed, self._container.clock.now())

    @staticmethod
    async def _after(earlier: Sequence[asyncio.Task[None]], recording: Awaitable[None]) -> None:
        """Record after the rounds before this one (receipts reach the timeline in the order sent)."""
        await asyncio.gather(*earlier, return_exceptions=True)
        try:
            await recording
        except Exception:
            log.exception("recording outbox outcomes failed; the messages will be sent again")

    async def _drain_recording(self) -> None:
        """Wait for the recordings still running (finished ones are dropped: they may belong to the
        loop of an earlier run, which is closed by now)."""
        pending = [task for task in self._recording if not task.done()]
        self._recording = []
        if pending:
            await asyncio.wait(pending)

    @property
    def batch(self) -> int:
        """Most messages one round claims; a round that took this many may have left more due."""
        return self._batch

    def _claim(self, now: datetime, inflight: int) -> list[Row]:
        if self._container.settings.is_sqlite:
            # One process and this one loop send from a SQLite outbox: a read is enough, and it keeps the
            # write lock free for intake. A crash before the outcome is recorded leaves the row pending.
            # The read also returns rows still being recorded (skipped by the caller): read that many more.
            with self._container.db.read() as store:
                return store.claim_outbox(now, None, self._batch + inflight)
        # Leased rows, those being recorded among them, are not due again until their lease ends.
        with self._container.db.statement() as store:
            return store.claim_outbox(now, now + self._lease, self._batch)

    async def _send(self, sender: Sender, message: Message, row: Row) -> Attempt:
        started = time.perf_counter()
        try:
            receipt = await sender.send(message)
        except Exception as error:
            log.exception("channel %s raised while sending", row["channel"])
            receipt = Receipt(Outcome.TEMPORARY, None, f"internal error: {type(error).__name__}")
        return Attempt(row, receipt, int((time.perf_counter() - started) * 1000))

    def _record(
        self, attempts: Sequence[Attempt], deferred: Sequence[tuple[Row, float]], now: datetime
    ) -> None:
        updates: dict[tuple[str, ...], list[Row]] = {}
        events: dict[int, list[Row]] = {}
        for row, wait in deferred:
            # Over a rate limit: give the claim back and try when a slot frees (no attempt used).
            values = {
                "b_id": row["id"],
                "claimed_until": None,
                "attempts": int(row["attempts"]) - 1,
                "next_attempt_at": now + timedelta(seconds=wait),
            }
            updates.setdefault(tuple(values), []).append(values)
        for attempt in attempts:
            values, event = self._outcome(attempt, now)
            updates.setdefault(tuple(values), []).append(values)
            if event is not None and attempt.row["incident_id"] is not None:
                events.setdefault(int(attempt.row["incident_id"]), []).append(event)
        with self._container.db.transaction() as store:
            for rows in updates.values():
                store.update_outbox_many(rows)
            store.append_events_many(events)

    def _outcome(self, attempt: Attempt, now: datetime) -> tuple[dict[str, Any], Row | None]:
        """The outbox row's new values after this attempt, and the receipt for the timeline (if any)."""
        row, receipt = attempt.row, attempt.receipt
        tries = int(row["attempts"])
        values: dict[str, Any] = {
            "b_id": row["id"],
            "attempts": tries,
            "claimed_until": None,
            "response_code": receipt.status_code,
            "latency_ms": attempt.latency_ms,
            "last_error": None if receipt.outcome is Outcome.SENT else receipt.detail,
        }
        what = f"{row['kind']} message to {row['channel']}"
        code = f"{receipt.status_code}, " if receipt.status_code else ""
        if receipt.outcome is Outcome.SENT:
            values.update(status="sent", sent_at=now)
            note = f"delivered {what} ({code}{attempt.latency_ms} ms, attempt {tries})"
        elif receipt.outcome is Outcome.TEMPORARY and tries < self._backoff.max_attempts:
            delay = self._backoff.delay(tries, receipt.retry_after, self._rng)
            values["next_attempt_at"] = now + timedelta(seconds=delay)
            if tries > 1:
                return values, None  # the first failure is on the timeline; later retries only in the outbox
            note = f"{what} failed ({code}{receipt.detail}); retrying in {delay:.0f} s"
        else:
            final = "failed" if receipt.outcome is Outcome.PERMANENT else "dead"
            values["status"] = final
            why = "permanent failure" if final == "failed" else f"gave up after {tries} attempts"
            note = f"{what} not delivered: {why} ({code}{receipt.detail})"
        data = {
            "outbox_id": row["id"],
            "channel": row["channel"],
            "outcome": receipt.outcome.value,
            "status_code": receipt.status_code,
            "attempts": tries,
            "latency_ms": attempt.latency_ms,
            "key": row["key"],
        }
        return values, {"at": now, "actor": "siaga", "kind": "notification", "message": note, "data": data}

    # -- channels that keep failing -----------------------------------------------------------------
    def _watch_channels(self, attempts: Sequence[Attempt]) -> list[tuple[str, bool]]:
        """Count failures in a row per channel; return the channels that started or stopped failing."""
        changed: list[tuple[str, bool]] = []
        for attempt in attempts:
            channel = attempt.row["channel"]
            if attempt.receipt.outcome is Outcome.SENT:
                self._failures[channel] = 0
                if channel in self._failing:
                    self._failing.discard(channel)
                    changed.append((channel, False))
            else:
                self._failures[channel] += 1
                if self._failures[channel] >= self._failing_after and channel not in self._failing:
                    self._failing.add(channel)
                    changed.append((channel, True))
        return changed

    def _raise_or_clear_all(self, changed: Sequence[tuple[str, bool]], now: datetime) -> None:
        for channel, failing in changed:
            self._raise_or_clear(channel, failing, now)

    def _raise_or_clear(self, channel: str, failing: bool, now: datetime) -> None:
        wired = self._container
        alert = AlertIn(
            labels={
                "alertname": FAILING_ALERT,
                "channel": channel,
                "siaga_component": "channel",
                "severity": wired.policy.ladder.levels[min(1, len(wired.policy.ladder.levels) - 1)].name,
            },
            annotations={"summary": f"Notification channel '{channel}' keeps failing"},
            status=AlertStatus.FIRING if failing else AlertStatus.RESOLVED,
            starts_at=now,
            ends_at=None if failing else now,
            fingerprint=None,
        )
        ingest.ingest(
            uow=wired.db, policy=wired.policy, alerts=[alert], source="siaga", actor="siaga", now=now
        )
        log.warning("channel %s %s", channel, "keeps failing" if failing else "recovered")
