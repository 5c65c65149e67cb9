"""The outbox relay: publishes committed outbox rows to the bus, in order, at least once.

One cycle (``run_once``) is one database transaction: claim the oldest unsent rows, publish
them as one batch, mark them sent, commit. If the process dies after publishing and before
the commit, the rows are still unsent and are published again (consumers deduplicate on the
event id with their inbox); if the bus refuses them, the rows stay, with ``attempts``,
``last_error`` and a backed-off ``next_attempt_at`` — nothing is lost, only delayed.

Order: events of one key must reach the bus in the order they were written. So

- on PostgreSQL one relay per database publishes at a time (a transaction-scoped advisory
  lock; a second relay process is a hot standby that takes over as soon as the first one's
  transaction ends), and the claimed rows are locked ``FOR UPDATE SKIP LOCKED`` so nothing
  else touches them meanwhile;
- a batch is the *prefix* of the unsent rows that are due: a row waiting for its backoff
  holds back the rows written after it instead of letting them overtake it.

Sent rows are kept for ``retention`` (default one hour) and then purged by the loop, in small
batches. Keeping them a while costs little (the relay's query uses a partial index on unsent
rows) and lets an operator check what was published recently and re-send a row by clearing
its ``sent_at``; deleting at publish time would save one update but lose that trail.

Wake-ups: on PostgreSQL a dedicated asyncpg connection ``LISTEN``s on the outbox channel
(reconnecting if it drops); in one process ``Outbox.on_commit`` can call ``wake``; and the
loop polls every ``poll_seconds`` whatever happens, which is the only mechanism on SQLite
across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.kit.bus.base import Bus, Record
from emporium.kit.db import Database
from emporium.kit.events import Envelope
from emporium.kit.metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PUBLISH_FAILURES,
    OUTBOX_PUBLISHED,
)
from emporium.kit.outbox import Outbox, OutboxMessage, channel_for, outbox_table, utcnow
from emporium.kit.tracing import context_from, tracer

__all__ = ["OutboxRelay", "backoff_delay"]

log = logging.getLogger(__name__)

_ERROR_LIMIT = 2000


def backoff_delay(attempts: int, *, base: float, cap: float) -> float:
    """Seconds to wait after the ``attempts``-th consecutive failure: base·2^(n-1), capped."""
    if attempts <= 0:
        return 0.0
    return float(min(cap, base * (2 ** min(attempts - 1, 30))))


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
        outbox: Outbox | None = None,
        listen: bool = True,
    ) -> None:
        """``outbox`` (optional) wakes the relay right after a commit in this process;
        ``listen`` enables PostgreSQL LISTEN/NOTIFY wake-ups."""
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
        self.channel = channel_for(service_name)
        self.listen = listen and database.is_postgres
        #: The last publish error (None after a successful batch), for logs and tests.
        self.last_error: str | None = None
        #: True while the PostgreSQL LISTEN connection is up.
        self.listening = False
        #: ``application_name`` of the LISTEN connection (to find it in ``pg_stat_activity``).
        self.listen_application_name = f"emporium-relay-listen-{service_name}"[:63]
        #: Loop cycles completed (each: publish what is due, refresh the gauges).
        self.cycles = 0
        self._lock_key = zlib.crc32(self.channel.encode())
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_purge = 0.0
        self._consecutive_failures = 0
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
                self._listen(), name=f"outbox-listen-{self.service_name}"
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

    def wake(self) -> None:
        """Ask the loop to look at the outbox now (new rows were committed)."""
        self._wake.set()

    # -- one cycle ---------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Publish one batch of due rows; returns how many were published (0 on failure)."""
        now = utcnow()
        async with self.database.session() as session:
            if self.database.is_postgres and not await self._try_lock(session):
                return 0  # another relay is publishing this outbox
            rows = await self._claim(session, now)
            if not rows:
                return 0
            try:
                await self._publish(rows)
            except Exception as error:  # any failure: keep the rows, retry later
                await self._record_failure(session, rows, error)
                return 0
            await session.execute(
                update(outbox_table)
                .where(outbox_table.c.id.in_([row.id for row in rows]))
                .values(sent_at=utcnow(), last_error=None)
            )
        self.last_error = None
        self._consecutive_failures = 0
        OUTBOX_PUBLISHED.labels(self.service_name).inc(len(rows))
        return len(rows)

    async def drain(self) -> int:
        """Publish batches until nothing due is left (or a batch fails); returns the count."""
        total = 0
        while True:
            published = await self.run_once()
            total += published
            if published < self.batch_size or self._stopping:
                return total

    async def refresh_metrics(self) -> tuple[int, float]:
        """Update the backlog gauges with one aggregate query; returns (backlog, oldest age)."""
        async with self.database.session() as session:
            row = (
                await session.execute(
                    select(func.count(), func.min(OutboxMessage.created_at)).where(
                        OutboxMessage.sent_at.is_(None)
                    )
                )
            ).one()
        count = int(row[0])
        oldest: datetime | None = row[1]
        age = max(0.0, (utcnow() - oldest).total_seconds()) if oldest is not None else 0.0
        OUTBOX_BACKLOG.labels(self.service_name).set(count)
        OUTBOX_OLDEST_AGE.labels(self.service_name).set(age)
        return count, age

    async def purge(self) -> int:
        """Delete rows sent more than ``retention`` ago (at most 1000 per call)."""
        cutoff = utcnow() - self.retention
        async with self.database.session() as session:
            ids = select(outbox_table.c.id).where(outbox_table.c.sent_at < cutoff).limit(1000)
            result = await session.execute(delete(outbox_table).where(outbox_table.c.id.in_(ids)))
        return int(getattr(result, "rowcount", 0) or 0)

    # -- internals ---------------------------------------------------------------------------

    async def _try_lock(self, session: AsyncSession) -> bool:
        locked = await session.scalar(
            select(func.pg_try_advisory_xact_lock(self._lock_key)),
        )
        return bool(locked)

    async def _claim(self, session: AsyncSession, now: datetime) -> list[OutboxMessage]:
        statement = (
            select(OutboxMessage)
            .where(OutboxMessage.sent_at.is_(None))
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
            .limit(self.batch_size)
        )
        if self.database.is_postgres:
            statement = statement.with_for_update(skip_locked=True)
        candidates = list((await session.scalars(statement)).all())
        # Only the due prefix: a row still backing off must not be overtaken by later ones.
        batch: list[OutboxMessage] = []
        for row in candidates:
            if row.next_attempt_at > now:
                break
            batch.append(row)
        return batch

    async def _publish(self, rows: Sequence[OutboxMessage]) -> None:
        records: list[Record] = []
        spans: list[trace.Span] = []
        the_tracer = tracer("emporium.outbox")
        for row in rows:
            envelope = Envelope.from_bytes(row.envelope)
            spans.append(
                the_tracer.start_span(
                    f"{row.topic} publish",
                    context=context_from(envelope.trace),
                    kind=SpanKind.PRODUCER,
                    attributes={
                        "messaging.system": "kafka",
                        "messaging.destination.name": row.topic,
                        "messaging.message.id": str(row.id),
                        "emporium.event.type": row.type,
                        "emporium.outbox.attempts": row.attempts,
                    },
                )
            )
            records.append(
                Record(
                    topic=row.topic,
                    value=row.envelope,
                    key=row.key.encode(),
                    headers=tuple(envelope.headers()),
                )
            )
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
        self, session: AsyncSession, rows: Sequence[OutboxMessage], error: BaseException
    ) -> None:
        message = f"{type(error).__name__}: {error}"[:_ERROR_LIMIT]
        self.last_error = message
        self._consecutive_failures += 1
        OUTBOX_PUBLISH_FAILURES.labels(self.service_name).inc()
        log.warning(
            "outbox publish failed; %d events kept for retry",
            len(rows),
            extra={"service": self.service_name, "error": message},
        )
        now = utcnow()
        for row in rows:
            attempts = row.attempts + 1
            delay = backoff_delay(attempts, base=self.base_backoff, cap=self.max_backoff)
            await session.execute(
                update(outbox_table)
                .where(outbox_table.c.id == row.id)
                .values(
                    attempts=attempts,
                    last_error=message,
                    next_attempt_at=now + timedelta(seconds=delay),
                )
            )

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            delay = self.poll_seconds
            try:
                await self.drain()
                if self._consecutive_failures:
                    delay = min(
                        self.poll_seconds,
                        backoff_delay(
                            self._consecutive_failures, base=self.base_backoff, cap=self.max_backoff
                        ),
                    )
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

    async def _listen(self) -> None:
        """Hold a LISTEN connection; reconnect with backoff whenever it drops."""
        import asyncpg

        dsn = _asyncpg_dsn(self.database.url)
        failures = 0
        while not self._stopping:
            connection: Any = None
            closed = asyncio.Event()
            try:
                connection = await asyncpg.connect(
                    dsn,
                    timeout=10,
                    server_settings={"application_name": self.listen_application_name},
                )
                connection.add_termination_listener(_setter(closed))
                await connection.add_listener(self.channel, self._on_notify)
                self.listening = True
                failures = 0
                # Rows committed while we were not listening would otherwise wait for the poll.
                self.wake()
                while not closed.is_set() and not connection.is_closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(closed.wait(), timeout=max(self.poll_seconds, 5.0))
                    if not closed.is_set():
                        # A cheap round trip notices a half-open connection.
                        await asyncio.wait_for(connection.execute("SELECT 1"), timeout=10)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # reconnect whatever went wrong
                failures += 1
                log.warning(
                    "outbox LISTEN connection lost; reconnecting",
                    extra={"service": self.service_name, "error": repr(error)},
                )
            finally:
                self.listening = False
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=2)
            if not self._stopping:
                await asyncio.sleep(
                    backoff_delay(max(failures, 1), base=self.base_backoff, cap=self.max_backoff)
                )

    def _on_notify(self, _connection: Any, _pid: int, _channel: str, _payload: str) -> None:
        self._wake.set()


def _setter(flag: asyncio.Event) -> Callable[[Any], None]:
    return lambda _connection: flag.set()


def _asyncpg_dsn(url: str) -> str:
    """``postgresql+asyncpg://...`` as the plain DSN asyncpg accepts."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
