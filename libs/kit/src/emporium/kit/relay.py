"""The outbox relay: publishes committed outbox rows to the bus, in order, at least once.

One cycle (``run_once``) is one database transaction: claim the oldest unsent rows, publish
them as one batch, mark them sent, commit. If the process dies after publishing and before
the commit, the rows are still unsent and are published again (consumers deduplicate on the
event id with their inbox); if the bus refuses them, the rows stay, with ``attempts``,
``last_error`` and a backed-off ``next_attempt_at`` — nothing is lost, only delayed.

On PostgreSQL taking the lock, reading the clock, claiming and marking sent are one
statement (``UPDATE ... RETURNING``), so a cycle is BEGIN, that statement, the publish and
COMMIT: nobody sees the rows as sent before the commit, which comes after the broker's
acknowledgement, and a row the cycle does not publish after all (parked, failed, held behind
its key) is put back to pending, with its error, in the same transaction. ``sent_at`` is
therefore the time the row was claimed for the publish that succeeded (a few milliseconds
before its acknowledgement).

Order: events of one key must reach the bus in the order they were written. So

- rows are published in ``seq`` order, a number the database assigns at insert (never the
  writing pod's clock: two pods 100 ms apart would reorder a key's events);
- on PostgreSQL one relay per database publishes at a time (a transaction-scoped advisory
  lock; a second relay process is a hot standby that takes over as soon as the first one's
  transaction ends), and the claimed rows are locked ``FOR UPDATE SKIP LOCKED`` so nothing
  else touches them meanwhile;
- per key, a row is not published while an earlier row of the same key is *held*: parked,
  or waiting for its retry (``hold_back``). Other keys are not held back.
- ``seq`` is assigned at insert, not at commit, so two transactions may commit out of seq
  order. The relay claims rows by status (not "seq above the last one published"), so a row
  that commits late is still published, only after rows of other keys. Within one key the
  writers are serialised by the aggregate's row lock (every service locks the aggregate
  ``FOR UPDATE`` before adding its event), so seq order is commit order per key.

Rows that cannot be published are *parked* (``status = 'parked'``, the error in
``last_error``): at once when the error can never go away (a record over
``max_record_bytes`` or refused by the broker as too large, an invalid or unknown topic while
the bus answers, an envelope that no longer parses: not a JSON object with the row's id,
type and key, a ``source``, a ``data`` object and a trace of strings), after
``max_attempts`` failed attempts otherwise. A failure while the bus does not answer
(``ping``) is an outage, not the row's fault: it never parks a row, and it charges at most
half of ``max_attempts``. A parked row holds back only the later rows of its key;
``emporium-outbox retry`` puts it back. Due-ness (``next_attempt_at``) is measured against
the database's clock, never the process's.

Sent rows (``status = 'sent'``) are kept for ``retention`` (default one hour) and then purged
by the loop, in batches of 1000 until none is left over the age (at most
``_PURGE_BATCHES`` batches a call: a service sending more than 1000 events a minute would
otherwise retain ever more). Keeping them a while costs little (the relay's queries use
partial indexes on unsent rows) and lets an operator check what was published recently and
re-send a row (``emporium-outbox retry ID``); deleting at publish time would save one update
but lose that trail. Parked rows are never purged.

Wake-ups: on PostgreSQL a dedicated asyncpg connection ``LISTEN``s on the outbox channel
(reconnecting if it drops); in one process ``Outbox.on_commit`` can call ``wake``; and the
loop polls every ``poll_seconds`` whatever happens, which is the only mechanism on SQLite
across processes. The backlog gauges are refreshed after a drain at most every
``metrics_every`` seconds (and after any drain that parked a row), not after every wake-up:
under load the loop wakes for nearly every commit, and each refresh is a transaction that
the next event would wait behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import zlib
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar
from uuid import UUID

import orjson
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import (
    Select,
    and_,
    any_,
    bindparam,
    case,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.types import Uuid

from emporium.kit.bus.base import Bus, Record
from emporium.kit.db import Database
from emporium.kit.failures import wrapped_errors
from emporium.kit.listen import NotifyListener
from emporium.kit.metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PARKED,
    OUTBOX_PARKED_TOTAL,
    OUTBOX_PUBLISH_FAILURES,
    OUTBOX_PUBLISHED,
)
from emporium.kit.outbox import (
    PARKED,
    PENDING,
    SENT,
    Outbox,
    OutboxMessage,
    channel_for,
    database_clock,
    outbox_table,
    utcnow,
)
from emporium.kit.tracing import context_from, spans_recorded, tracer

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "FailureKind",
    "OutboxDegraded",
    "OutboxRelay",
    "attempts_after_failure",
    "backoff_delay",
    "classify_failure",
    "hold_back",
    "is_due",
    "should_park",
    "unpublishable_reason",
]

log = logging.getLogger(__name__)

_ERROR_LIMIT = 2000

#: Purge batches (of 1000 rows) one ``purge`` call deletes at most.
_PURGE_BATCHES = 20

#: aiokafka's default ``max_request_size`` (and about the broker's ``message.max.bytes``).
DEFAULT_MAX_RECORD_BYTES = 1_048_576

#: Kafka's legal topic names.
_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")

#: What a batch's record costs beyond key, value and headers (Kafka's record overhead, with
#: room to spare), so a record the producer would refuse is parked before it is tried.
_RECORD_OVERHEAD = 128


class OutboxDegraded(Exception):
    """Raised by the relay's readiness check while rows are parked."""


# -- policies (pure) -------------------------------------------------------------------------

FailureKind = Literal["permanent", "missing_topic", "transient"]

#: Errors that can never succeed by retrying the same record (found anywhere in the cause
#: chain, by class name, so the relay stays independent of the bus implementation).
_PERMANENT = frozenset(
    {"MessageSizeTooLargeError", "RecordTooLargeError", "InvalidTopicError", "UnpublishableRow"}
)
#: Errors that mean "this topic is not there (for us)" -- or, during an outage, nothing at
#: all (aiokafka raises them too when it cannot fetch metadata): final only if the bus answers.
_MISSING_TOPIC = frozenset({"UnknownTopicOrPartitionError", "TopicAuthorizationFailedError"})

T = TypeVar("T")


def backoff_delay(attempts: int, *, base: float, cap: float) -> float:
    """Seconds to wait after the ``attempts``-th consecutive failure: base·2^(n-1), capped."""
    if attempts <= 0:
        return 0.0
    return float(min(cap, base * (2 ** min(attempts - 1, 30))))


def is_due(next_attempt_at: datetime, now: datetime) -> bool:
    """Whether a pending row may be tried at ``now`` (the database's clock)."""
    return next_attempt_at <= now


def hold_back(
    rows: Sequence[T], *, key: Callable[[T], Hashable], held: Callable[[T], bool]
) -> list[T]:
    """The rows (in ``seq`` order) that may be published: per key, none after a held one.

    A held row (parked, failed, not due) stops its key: the rows of that key after it wait,
    while the rows of every other key go on.
    """
    stopped: set[Hashable] = set()
    free: list[T] = []
    for row in rows:
        row_key = key(row)
        if row_key in stopped:
            continue
        if held(row):
            stopped.add(row_key)
            continue
        free.append(row)
    return free


def unpublishable_reason(
    *, topic: str, size: int, parses: bool, max_record_bytes: int
) -> str | None:
    """Why a row can never be published as it is (it is parked at once), or None."""
    if not parses:
        return "UnpublishableRow: the envelope no longer parses"
    if not _TOPIC_NAME.fullmatch(topic):
        return f"UnpublishableRow: {topic!r} is not a valid topic name"
    if size > max_record_bytes:
        return (
            f"UnpublishableRow: the record is {size} bytes, over the limit of "
            f"{max_record_bytes} (outbox_max_record_bytes)"
        )
    return None


def classify_failure(error: BaseException) -> FailureKind:
    """``permanent``, ``missing_topic`` or ``transient``, from the error and what it wraps
    (walked as the consumer's failures are: ``failures.wrapped_errors``)."""
    kind: FailureKind = "transient"
    for node in wrapped_errors(error):
        names = {cls.__name__ for cls in type(node).__mro__}
        if names & _PERMANENT:
            return "permanent"
        if names & _MISSING_TOPIC:
            kind = "missing_topic"
    return kind


def attempts_after_failure(attempts: int, *, bus_answers: bool, max_attempts: int) -> int:
    """A row's attempt count after a failed try.

    While the bus does not answer (an outage), the count stops at half of ``max_attempts``:
    the row keeps the other half for failures that are its own once the bus is back.
    """
    if bus_answers:
        return attempts + 1
    return max(attempts, min(attempts + 1, max_attempts // 2))


def should_park(kind: FailureKind, *, attempts: int, max_attempts: int, bus_answers: bool) -> bool:
    """Whether a row that just failed (``attempts`` counted) is parked instead of retried."""
    if kind == "permanent":
        return True
    if not bus_answers:
        return False
    return kind == "missing_topic" or attempts >= max_attempts


def _envelope_trace(
    raw: bytes, *, event_id: str, event_type: str, key: str
) -> dict[str, str] | None:
    """The trace context of ``raw`` if it is the envelope of the row (``event_id``,
    ``event_type``, ``key``), else None (it no longer parses).

    What ``Envelope.from_bytes`` requires, checked on the JSON alone: an object with the
    row's id, type and key, a ``source`` string, a ``data`` object and a trace of strings.
    """
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not (
        isinstance(document, dict)
        and document.get("id") == event_id
        and document.get("type") == event_type
        and document.get("key") == key
        and isinstance(document.get("source"), str)
        and isinstance(document.get("data"), dict)
        and isinstance(document.get("time", ""), str)
    ):
        return None
    trace = document.get("trace", {})
    if not isinstance(trace, dict) or not all(isinstance(value, str) for value in trace.values()):
        return None
    return trace


def _record_size(record: Record) -> int:
    headers = sum(len(name) + len(value) for name, value in record.headers)
    return len(record.value) + len(record.key or b"") + headers + _RECORD_OVERHEAD


@dataclass(frozen=True, slots=True)
class _Row:
    """The columns of a claimed outbox row the relay uses (read without the ORM: cheaper)."""

    id: UUID
    seq: int
    topic: str
    key: str
    type: str
    envelope: bytes
    attempts: int
    #: The row's error before this cycle (restored if the row is put back unsent).
    last_error: str | None = None


#: What ``_claim`` reads, in ``_Row``'s order.
_CLAIMED_COLUMNS = (
    outbox_table.c.id,
    outbox_table.c.seq,
    outbox_table.c.topic,
    outbox_table.c.key,
    outbox_table.c.type,
    outbox_table.c.envelope,
    outbox_table.c.attempts,
)


@dataclass(frozen=True, slots=True)
class _Planned:
    """A claimed row and its record (None when it cannot be published: see ``reason``)."""

    row: _Row
    record: Record | None
    reason: str | None
    trace: dict[str, str] | None = None


class OutboxRelay:
    """Publishes a service's outbox to the bus; ``start``/``stop`` run it as a task."""

    def __init__(
        self,
        database: Database,
        bus: Bus,
        *,
        service_name: str,
        batch_size: int = 100,
        poll_seconds: float = 1.0,
        base_backoff: float = 0.5,
        max_backoff: float = 30.0,
        publish_timeout: float = 60.0,
        retention: timedelta = timedelta(hours=1),
        purge_every: float = 60.0,
        max_attempts: int = 10,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        outbox: Outbox | None = None,
        listen: bool = True,
        metrics_every: float = 1.0,
    ) -> None:
        """``outbox`` (optional) wakes the relay right after a commit in this process;
        ``listen`` enables PostgreSQL LISTEN/NOTIFY wake-ups; ``max_attempts`` and
        ``max_record_bytes`` decide when a row is parked."""
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.database = database
        self.bus = bus
        self.service_name = service_name
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.publish_timeout = publish_timeout
        self.retention = retention
        self.purge_every = purge_every
        self.max_attempts = max_attempts
        self.max_record_bytes = max_record_bytes
        self.metrics_every = metrics_every
        self.channel = channel_for(service_name)
        self.listen = listen and database.is_postgres
        #: The last publish error (None after a successful batch), for logs and tests.
        self.last_error: str | None = None
        #: ``application_name`` of the LISTEN connection (to find it in ``pg_stat_activity``).
        self.listen_application_name = f"emporium-relay-listen-{service_name}"[:63]
        #: Loop cycles completed (each: publish what is due, refresh the gauges).
        self.cycles = 0
        #: Parked rows at the last ``refresh_metrics`` (what ``degraded`` reports).
        self.parked = 0
        self._parked_here = 0
        self._lock_key = zlib.crc32(self.channel.encode())
        self._claim_statement: Select[Any] | None = None
        self._claim_and_mark_statement: Any = None
        self._last_metrics = -float("inf")
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_purge = 0.0
        self._consecutive_failures = 0
        self._listener = NotifyListener(
            url=database.url,
            channel=self.channel,
            application_name=self.listen_application_name,
            wake=self.wake,
            poll_seconds=poll_seconds,
            base_backoff=base_backoff,
            max_backoff=max_backoff,
            service_name=service_name,
        )
        if outbox is not None:
            outbox.on_commit(self.wake)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the relay loop (and the LISTEN connection on PostgreSQL) as tasks."""
        if self._task is not None:
            return
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.service_name}")
        if self.listen:
            self._listener_task = asyncio.create_task(
                self._listener.run(), name=f"outbox-listen-{self.service_name}"
            )

    async def stop(self) -> None:
        """Stop the tasks, letting a batch in flight finish (committed or left unsent)."""
        self._stopping = True
        self._wake.set()
        task, listener = self._task, self._listener_task
        self._task = self._listener_task = None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=self.publish_timeout + 5)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    @property
    def listening(self) -> bool:
        """True while the PostgreSQL LISTEN connection is up."""
        return self._listener.listening

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def name(self) -> str:
        """The worker's name (``Worker`` protocol)."""
        return f"relay {self.service_name}"

    def health(self) -> str | None:
        """None while the loop runs; why not otherwise (``Worker`` protocol).

        A failing bus or database is not a liveness problem (the loop retries and the backlog
        gauges show it); only a loop that ended is.
        """
        if self._task is None:
            return "not started"
        if self._task.done():
            return "relay loop ended"
        return None

    def degraded(self) -> str | None:
        """Why the outbox is degraded (parked rows), or None. Not a liveness problem: the
        other keys flow, and a restart would not un-park anything."""
        if self.parked:
            return f"{self.parked} parked outbox row(s): see `emporium-outbox list`"
        return None

    async def check_parked(self) -> None:
        """Readiness check (registered as non-critical): fails while rows are parked."""
        reason = self.degraded()
        if reason is not None:
            raise OutboxDegraded(reason)

    def wake(self) -> None:
        """Ask the loop to look at the outbox now (new rows were committed)."""
        self._wake.set()

    # -- one cycle ---------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Publish one batch of due rows; returns how many were published.

        The batch goes out as one publish. If that fails while the bus answers, the rows are
        tried one by one, so that the faulty row is found (and retried or parked) and the
        others are published in this same cycle.
        """
        return (await self._cycle())[1]

    async def drain(self) -> int:
        """Publish batches until nothing due is left (or a batch fails); returns the count."""
        total = 0
        while True:
            claimed, published, parked = await self._cycle()
            total += published
            if claimed < self.batch_size or not (published or parked) or self._stopping:
                return total

    async def _cycle(self) -> tuple[int, int, int]:
        """One batch: (rows claimed, published, parked)."""
        postgres = self.database.is_postgres
        async with self.database.session() as session:
            if postgres:
                # Locked, claimed and marked sent in one statement (see the module doc).
                rows, now = await self._claim_and_mark(session)
            else:
                locked, now = await self._lock_and_clock(session)
                if not locked:
                    return 0, 0, 0  # another relay is publishing this outbox
                rows = await self._claim(session, now)
            if not rows:
                return 0, 0, 0
            parked_before = self._parked_here
            planned = [self._plan(row) for row in rows]
            settled: set[UUID] = set()  # rows whose status this cycle has set otherwise
            for item in planned:
                if item.reason is not None:
                    await self._park(session, item.row, item.reason, attempts=item.row.attempts)
                    settled.add(item.row.id)
            ready = hold_back(planned, key=lambda item: item.row.key, held=_unpublishable)
            sent = await self._publish_ready(session, ready, now, settled)
            if postgres:
                published = {row.id for row in sent}
                unsent = [p.row for p in planned if p.row.id not in published | settled]
                await self._put_back(session, unsent)
            elif sent:
                await self._mark_sent(session, [row.id for row in sent])
        if sent:
            OUTBOX_PUBLISHED.labels(self.service_name).inc(len(sent))
        return len(rows), len(sent), self._parked_here - parked_before

    async def _claim_and_mark(self, session: AsyncSession) -> tuple[list[_Row], datetime]:
        """PostgreSQL: the due rows (seq order), marked sent in this transaction, and the
        database's time; none when another relay holds the lock."""
        if self._claim_and_mark_statement is None:
            self._claim_and_mark_statement = _claim_and_mark_statement(self.batch_size)
        result = await session.execute(self._claim_and_mark_statement, {"lock_key": self._lock_key})
        returned = result.all()
        if not returned:
            return [], utcnow()
        now: datetime = returned[0][-1]
        rows = sorted((_Row(*row[:-1]) for row in returned), key=lambda row: row.seq)
        return rows, now

    async def _put_back(self, session: AsyncSession, rows: Sequence[_Row]) -> None:
        """Rows claimed (and marked sent) that this cycle did not publish: pending again, as
        they were (held behind their key's failed or parked row: not charged)."""
        for row in rows:
            await session.execute(
                update(outbox_table)
                .where(outbox_table.c.id == row.id)
                .values(status=PENDING, sent_at=None, last_error=row.last_error)
            )

    async def _mark_sent(self, session: AsyncSession, ids: list[UUID]) -> None:
        if self.database.is_postgres:
            # One array parameter: the same prepared statement whatever the batch's size.
            condition = outbox_table.c.id == any_(bindparam("ids", type_=_UUID_ARRAY))
            await session.execute(
                update(outbox_table)
                .where(condition)
                .values(status=SENT, sent_at=database_clock(), last_error=None),
                {"ids": ids},
            )
            return
        await session.execute(
            update(outbox_table)
            .where(outbox_table.c.id.in_(ids))
            .values(status=SENT, sent_at=database_clock(), last_error=None)
        )

    async def refresh_metrics(self) -> tuple[int, float]:
        """Update the gauges with one aggregate query; returns (backlog, oldest age).

        The backlog is the pending rows (parked ones are counted apart, in
        ``emporium_outbox_parked``); the age is measured on the database's clock.
        """
        pending = OutboxMessage.status == PENDING
        async with self.database.session() as session:
            row = (
                await session.execute(
                    select(
                        func.coalesce(func.sum(case((pending, 1), else_=0)), 0),
                        func.coalesce(
                            func.sum(case((OutboxMessage.status == PARKED, 1), else_=0)), 0
                        ),
                        func.min(case((pending, OutboxMessage.created_at))),
                        database_clock(),
                    )
                    # Not "status != sent": that reads every retained sent row; these two
                    # match the partial indexes (pending; parked-or-failed).
                    .where(
                        or_(
                            OutboxMessage.status == _constant(PENDING),
                            OutboxMessage.status == _constant(PARKED),
                        )
                    )
                )
            ).one()
        count, parked = int(row[0]), int(row[1])
        oldest: datetime | None = row[2]
        now: datetime = row[3] if row[3] is not None else utcnow()
        age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        self.parked = parked
        OUTBOX_BACKLOG.labels(self.service_name).set(count)
        OUTBOX_OLDEST_AGE.labels(self.service_name).set(age)
        OUTBOX_PARKED.labels(self.service_name).set(parked)
        return count, age

    async def purge(self) -> int:
        """Delete rows sent more than ``retention`` ago (1000 per transaction, at most
        ``_PURGE_BATCHES`` transactions a call); parked and pending rows are never purged."""
        total = 0
        for _ in range(_PURGE_BATCHES):
            async with self.database.session() as session:
                cutoff = await self._database_now(session) - self.retention
                ids = (
                    select(outbox_table.c.id)
                    .where(outbox_table.c.status == SENT, outbox_table.c.sent_at <= cutoff)
                    .limit(1000)
                )
                result = await session.execute(
                    delete(outbox_table).where(outbox_table.c.id.in_(ids))
                )
            deleted = int(getattr(result, "rowcount", 0) or 0)
            total += deleted
            if deleted < 1000 or self._stopping:
                return total
        return total

    # -- internals ---------------------------------------------------------------------------

    async def _lock_and_clock(self, session: AsyncSession) -> tuple[bool, datetime]:
        """One round trip: the relay's lock (always True on SQLite) and the database's time."""
        if not self.database.is_postgres:
            return True, await self._database_now(session)
        locked, now = (
            await session.execute(
                select(func.pg_try_advisory_xact_lock(self._lock_key), database_clock())
            )
        ).one()
        return bool(locked), now

    async def _database_now(self, session: AsyncSession) -> datetime:
        now: datetime | None = await session.scalar(select(database_clock()))
        if now is None:  # pragma: no cover - a database always answers a clock
            raise RuntimeError("the database gave no time")
        return now

    async def _claim(self, session: AsyncSession, now: datetime) -> list[_Row]:
        """The due pending rows, in seq order, that no earlier held row of their key blocks."""
        if self._claim_statement is None:
            self._claim_statement = _claim_statement(self.batch_size, self.database.is_postgres)
        result = await session.execute(self._claim_statement, {"now": now})
        return [_Row(*row) for row in result]

    def _plan(self, row: _Row) -> _Planned:
        """The row's record, or why it can never be published.

        The headers are ``Envelope.headers()`` (type, id, trace context), made from the
        row's columns and the envelope's trace: building an ``Envelope`` for them was a
        sixth of the relay's time (``_envelope_trace`` checks what it would have)."""
        event_id = str(row.id)
        trace = _envelope_trace(row.envelope, event_id=event_id, event_type=row.type, key=row.key)
        record: Record | None = None
        if trace is not None:
            headers = [("type", row.type.encode()), ("id", event_id.encode())]
            headers.extend((name, value.encode()) for name, value in trace.items())
            record = Record(
                topic=row.topic, value=row.envelope, key=row.key.encode(), headers=tuple(headers)
            )
        reason = unpublishable_reason(
            topic=row.topic,
            size=_record_size(record) if record is not None else 0,
            parses=record is not None,
            max_record_bytes=self.max_record_bytes,
        )
        if reason is not None or record is None:
            return _Planned(row, None, reason)
        return _Planned(row, record, None, trace)

    async def _publish_ready(
        self,
        session: AsyncSession,
        ready: Sequence[_Planned],
        now: datetime,
        settled: set[UUID],
    ) -> list[_Row]:
        """Publish ``ready`` (one batch, then one by one if needed); returns the sent rows.

        The ids of the rows whose failure it records are added to ``settled``."""
        if not ready:
            return []
        try:
            await self._publish(ready)
        except Exception as error:
            bus_answers = await self._bus_answers()
            if len(ready) == 1 or not bus_answers:
                await self._record_failure(session, ready, error, now, bus_answers=bus_answers)
                settled.update(item.row.id for item in ready)
                return []
        else:
            self._succeeded()
            return [item.row for item in ready]
        # The bus answers, so a row of the batch is at fault: find it, publish the others.
        sent: list[_Row] = []
        stopped: set[str] = set()
        for index, item in enumerate(ready):
            if item.row.key in stopped:
                continue  # held back behind its key's failed row; not charged
            try:
                await self._publish([item])
            except Exception as error:
                stopped.add(item.row.key)
                bus_answers = classify_failure(error) == "permanent" or await self._bus_answers()
                if not bus_answers:  # the bus went away meanwhile: the rest waits for it
                    rest = [other for other in ready[index:] if other.row.key not in stopped]
                    await self._record_failure(
                        session, [item, *rest], error, now, bus_answers=False
                    )
                    settled.update(other.row.id for other in (item, *rest))
                    break
                await self._record_failure(session, [item], error, now, bus_answers=True)
                settled.add(item.row.id)
                continue
            sent.append(item.row)
        if sent:
            self._succeeded()
        return sent

    def _succeeded(self) -> None:
        self.last_error = None
        self._consecutive_failures = 0

    async def _bus_answers(self) -> bool:
        """Whether the bus answers a ping now (an outage, or a fault of the rows?)."""
        try:
            await asyncio.wait_for(self.bus.ping(), timeout=self.publish_timeout)
        except Exception:
            return False
        return True

    async def _publish(self, items: Sequence[_Planned]) -> None:
        if not spans_recorded():
            # A PRODUCER span per record that no exporter reads (its context is not sent on:
            # the headers carry the writer's) cost ~10 % of the relay.
            records = [item.record for item in items if item.record is not None]
            await asyncio.wait_for(self.bus.publish(records), timeout=self.publish_timeout)
            return
        records = []
        spans: list[trace.Span] = []
        the_tracer = tracer("emporium.outbox")
        for item in items:
            row, record = item.row, item.record
            assert record is not None  # planned as publishable
            spans.append(
                the_tracer.start_span(
                    f"{row.topic} publish",
                    context=context_from(item.trace or {}),
                    kind=SpanKind.PRODUCER,
                    attributes={
                        "messaging.system": "kafka",
                        "messaging.destination.name": row.topic,
                        "messaging.message.id": str(row.id),
                        "emporium.event.type": row.type,
                        "emporium.outbox.attempts": row.attempts,
                        "emporium.outbox.seq": row.seq,
                    },
                )
            )
            records.append(record)
        try:
            await asyncio.wait_for(self.bus.publish(records), timeout=self.publish_timeout)
        except BaseException as error:
            for span in spans:
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                span.end()
            raise
        for span in spans:
            span.end()

    async def _record_failure(
        self,
        session: AsyncSession,
        items: Sequence[_Planned],
        error: BaseException,
        now: datetime,
        *,
        bus_answers: bool,
    ) -> None:
        message = f"{type(error).__name__}: {error}"[:_ERROR_LIMIT]
        kind = classify_failure(error)
        self.last_error = message
        self._consecutive_failures += 1
        OUTBOX_PUBLISH_FAILURES.labels(self.service_name).inc()
        log.warning(
            "outbox publish failed; %d events kept",
            len(items),
            extra={"service": self.service_name, "error": message, "bus_answers": bus_answers},
        )
        for item in items:
            row = item.row
            attempts = attempts_after_failure(
                row.attempts, bus_answers=bus_answers, max_attempts=self.max_attempts
            )
            if should_park(
                kind, attempts=attempts, max_attempts=self.max_attempts, bus_answers=bus_answers
            ):
                await self._park(session, row, message, attempts=attempts)
                continue
            delay = backoff_delay(max(attempts, 1), base=self.base_backoff, cap=self.max_backoff)
            await session.execute(
                update(outbox_table)
                .where(outbox_table.c.id == row.id)
                .values(
                    status=PENDING,  # claimed as sent on PostgreSQL: pending again
                    sent_at=None,
                    attempts=attempts,
                    last_error=message,
                    next_attempt_at=now + timedelta(seconds=delay),
                )
            )

    async def _park(self, session: AsyncSession, row: _Row, reason: str, *, attempts: int) -> None:
        """Set ``row`` aside: it holds back the later rows of its key, no other."""
        await session.execute(
            update(outbox_table)
            .where(outbox_table.c.id == row.id)
            .values(
                status=PARKED, sent_at=None, attempts=attempts, last_error=reason[:_ERROR_LIMIT]
            )
        )
        OUTBOX_PARKED_TOTAL.labels(self.service_name).inc()
        self._parked_here += 1
        log.error(
            "outbox row parked: %s",
            reason,
            extra={
                "service": self.service_name,
                "event_id": str(row.id),
                "seq": row.seq,
                "topic": row.topic,
                "key": row.key,
                "event_type": row.type,
            },
        )

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            delay = self.poll_seconds
            try:
                parked_before = self._parked_here
                await self.drain()
                if self._consecutive_failures:
                    delay = min(
                        self.poll_seconds,
                        backoff_delay(
                            self._consecutive_failures, base=self.base_backoff, cap=self.max_backoff
                        ),
                    )
                if (
                    self._parked_here != parked_before
                    or time.monotonic() - self._last_metrics >= self.metrics_every
                ):
                    self._last_metrics = time.monotonic()
                    await self.refresh_metrics()
                if time.monotonic() - self._last_purge >= self.purge_every:
                    self._last_purge = time.monotonic()
                    await self.purge()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database is unreachable or similar: log and try again, never die.
                self._consecutive_failures += 1
                delay = backoff_delay(
                    self._consecutive_failures, base=self.base_backoff, cap=self.max_backoff
                )
                log.exception("outbox relay cycle failed", extra={"service": self.service_name})
            self.cycles += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)


_UUID_ARRAY = postgresql.ARRAY(Uuid())


def _claim_statement(batch_size: int, postgres: bool) -> Select[Any]:
    """The claim query (built once per relay; ``:now`` is the database's time).

    Held: parked, or failed and waiting for its retry. A row that never failed is not held
    even if it is not due yet: its ``next_attempt_at`` is its insert time, and the later
    rows of its key were inserted (under the aggregate's lock) later still, so they are not
    due either. That keeps the probe on ``ix_outbox_message_held``, which is empty while
    everything flows. The constants are inlined so PostgreSQL can match the partial
    indexes' predicates.
    """
    now = bindparam("now", type_=outbox_table.c.next_attempt_at.type)
    blocked = _held_before(now)
    statement = (
        select(*_CLAIMED_COLUMNS)
        .where(
            OutboxMessage.status == _constant(PENDING),
            OutboxMessage.next_attempt_at <= now,
            ~blocked,
        )
        .order_by(OutboxMessage.seq)
        .limit(batch_size)
    )
    if postgres:
        statement = statement.with_for_update(skip_locked=True, of=OutboxMessage)
    return statement


def _claim_and_mark_statement(batch_size: int) -> Any:
    """PostgreSQL: lock, clock, claim and mark sent in one ``UPDATE ... RETURNING``.

    ``lock`` is evaluated once (a CTE with a volatile function is materialised): when
    another relay holds the advisory lock nothing is claimed. ``claimed`` is the claim query
    of ``_claim_statement`` on the lock's clock, ``FOR UPDATE SKIP LOCKED``; it also carries
    each row's error before this cycle, since ``RETURNING`` gives the new values. The rows
    come back in no particular order (the caller sorts them by ``seq``), each with the clock.
    """
    lock = select(
        func.pg_try_advisory_xact_lock(bindparam("lock_key")).label("locked"),
        database_clock().label("now"),
    ).cte("relay_lock")
    blocked = _held_before(lock.c.now)
    claimed = (
        select(OutboxMessage.id, OutboxMessage.last_error)
        .select_from(OutboxMessage)
        .join(lock, lock.c.locked)
        .where(
            OutboxMessage.status == _constant(PENDING),
            OutboxMessage.next_attempt_at <= lock.c.now,
            ~blocked,
        )
        .order_by(OutboxMessage.seq)
        .limit(batch_size)
        .with_for_update(skip_locked=True, of=OutboxMessage)
        .cte("relay_claimed")
    )
    return (
        update(outbox_table)
        .where(outbox_table.c.id == claimed.c.id)
        .values(status=_constant(SENT), sent_at=database_clock(), last_error=None)
        .returning(
            *_CLAIMED_COLUMNS,
            claimed.c.last_error,
            select(lock.c.now).scalar_subquery(),
        )
    )


def _held_before(now: Any) -> Any:
    """Whether an earlier row of the row's key is held at ``now`` (see ``_claim_statement``)."""
    earlier = aliased(OutboxMessage)
    return exists().where(
        earlier.key == OutboxMessage.key,
        earlier.seq < OutboxMessage.seq,
        or_(
            earlier.status == _constant(PARKED),
            and_(
                earlier.status == _constant(PENDING),
                earlier.attempts > _constant(0),
                earlier.next_attempt_at > now,
            ),
        ),
    )


def _constant(value: object) -> Any:
    """``value`` rendered into the SQL text (not a parameter), for partial-index matching."""
    return literal(value, literal_execute=True)


def _unpublishable(item: _Planned) -> bool:
    return item.reason is not None
