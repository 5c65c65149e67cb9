"""The event consumer: a consumer-group member applying events exactly once in effect.

For each delivery, in order:

1. decode the envelope — undecodable records go to the dead-letter topic at once;
2. find the handler for its type — a type nobody handles is acknowledged as ``ignored``
   (tolerant reader: producers may add event types before consumers care), and so is a
   dead letter replayed for another group (``dlq-replay-for``);
3. in ONE database transaction for the whole fetched batch: claim all its events in the
   inbox with one statement (``inbox.claim_many``; one already there is a ``duplicate``,
   nothing applied), run each handler in delivery order, commit. The handlers' ORM writes
   are flushed together by the commit (one statement per table, not a round trip per
   event; a handler's query still sees the writes before it, by autoflush). A handler
   marked ``solo`` and an undecodable record split the batch and go alone;
4. on a failure inside a batch, roll back. A handler that failed by itself (it raised, or
   its own statement was refused): apply the events before it again in one transaction,
   then the failing event alone (step 5), then go on batching after it. A write refused
   at a flush of several events' writes (a later handler's autoflush, the commit) names
   no culprit: the events up to it are applied again flushing after each handler, which
   puts the failure on the event that made it (then as above), or commits them all. So a
   poison event costs its batch one to three rollbacks, never its neighbours' effects;
5. an event alone: claim, handle, commit in a transaction of its own; on a handler
   exception: roll back, then by the failure's cause
   (``emporium.kit.failures.classify_failure``): the database away (``UNAVAILABLE``) or a
   transaction conflict (``CONFLICT``) is retried with capped backoff without using up the
   event's attempts; what can never succeed (``PERMANENT``: a payload that does not
   validate) is dead-lettered at once; anything else (``RETRY``, a handler timeout too) is
   retried up to ``max_attempts`` times, then dead-lettered (see ``emporium.kit.dlq``).

Offsets are marked only after the handler's transaction has committed (or the event was
dead-lettered) and committed after each batch, so a crash anywhere means redelivery, which
the inbox turns into a no-op: at-least-once delivery, exactly-once effect.

Liveness is kept apart from progress. While the consumer waits for its database (or for
Kafka, to publish a dead letter) it pauses its partitions and keeps polling, so it stays in
its consumer group and ``/healthz`` stays 200 however long the outage; ``readiness()`` (and
so ``/readyz``) says what it waits for and since when. Only a loop that no longer comes
round (a hung poll) or has ended fails liveness. A poll that fails (broker down) is logged
and retried; nothing ends the loop except ``stop``. Every ``purge_every`` seconds the
consumer forgets its inbox rows older than ``inbox_retention``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.kit import inbox
from emporium.kit.bus.base import Bus, BusUnavailable, Delivery, Subscription
from emporium.kit.db import Database
from emporium.kit.dlq import (
    DLQ_REPLAY_FOR,
    DeadLetterWatch,
    dead_letter_record,
    ensure_dead_letter_topic,
)
from emporium.kit.dlq import dead_letter_topic as default_dead_letter_topic
from emporium.kit.events import Envelope
from emporium.kit.failures import (
    Failure,
    HandlerTimeout,
    Step,
    classify_failure,
    next_step,
    retry_delay,
)
from emporium.kit.metrics import (
    CONSUMER_LAG,
    CONSUMER_WAITING,
    DEAD_LETTERED,
    EVENTS_HANDLED,
    HANDLER_FAILURES,
    HANDLER_RETRIES,
    INBOX_PURGED,
)
from emporium.kit.outbox import utcnow
from emporium.kit.tracing import context_from, tracer

__all__ = ["EventConsumer", "Handler", "Outage", "Outages", "Outcome", "solo"]

log = logging.getLogger(__name__)

#: A handler applies one event inside the consumer's transaction; it must not commit.
Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]

#: What became of a delivery: handled, duplicate, ignored or dead_lettered.
Outcome = str

_SOLO = "__emporium_solo__"


def solo(handler: Handler) -> Handler:
    """Mark ``handler`` as one that must have a transaction of its own (never batched).

    For a handler that cannot share its transaction with other events' handlers: one that
    catches a database error and goes on (on PostgreSQL the error aborts the whole shared
    transaction), or one that must see nothing but its own writes.
    """
    setattr(handler, _SOLO, True)
    return handler


@dataclass(slots=True)
class _Item:
    """A fetched delivery, decoded: its envelope and handler (None: ignored or undecodable)."""

    delivery: Delivery
    envelope: Envelope | None = None
    handler: Handler | None = None
    ignored: bool = False

    @property
    def batchable(self) -> bool:
        """Whether it can be part of a run (undecodable and ``solo`` ones go alone)."""
        if self.ignored:
            return True
        return self.handler is not None and not getattr(self.handler, _SOLO, False)

    @property
    def type_name(self) -> str:
        if self.envelope is not None:
            return self.envelope.type
        return self.delivery.header("type") or "?"


class _RunFailed(Exception):
    """A run's transaction failed at event ``index``, or at its commit (``at_commit``).

    ``confirmed``: surely that event's failure. Not when the run's writes were flushed
    together and a flush failed: the refused write may have been any earlier event's.
    """

    def __init__(
        self, index: int, error: BaseException, *, confirmed: bool, at_commit: bool = False
    ) -> None:
        super().__init__(index, error)
        self.index = index
        self.error = error
        self.confirmed = confirmed
        self.at_commit = at_commit


class _Stopping(Exception):
    """Raised inside the loop when ``stop`` interrupts a wait."""


#: The dependencies a consumer can wait for (``readiness()``, ``emporium_consumer_waiting``).
DATABASE = "database"
BUS = "bus"
#: A cycle failing for another reason (reported the same way, ended by the next good cycle).
_CYCLE = "consumer cycle"


@dataclass(frozen=True, slots=True)
class Outage:
    """A dependency the consumer has been waiting for since ``since``."""

    dependency: str
    since: datetime
    error: str

    def describe(self) -> str:
        when = self.since.strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{self.dependency} unavailable since {when} ({self.error})"


class Outages:
    """The dependencies a consumer group waits for now, and since when (one per consumer)."""

    def __init__(self, group: str) -> None:
        self.group = group
        self._current: dict[str, Outage] = {}

    def begin(self, dependency: str, error: BaseException) -> None:
        """``dependency`` failed (again): an outage since its first failure."""
        reason = f"{type(error).__name__}: {error}"[:200]
        known = self._current.get(dependency)
        if known is None:
            log.warning("consumer waits for its %s", dependency, extra={"group": self.group})
            CONSUMER_WAITING.labels(self.group, dependency).set(1)
        since = known.since if known is not None else utcnow()
        self._current[dependency] = Outage(dependency, since, reason)

    def end(self, dependency: str) -> None:
        """``dependency`` answered: its outage, if any, is over."""
        outage = self._current.pop(dependency, None)
        if outage is not None:
            waited = (utcnow() - outage.since).total_seconds()
            log.info(
                "consumer's %s is back after %.1f s",
                dependency,
                waited,
                extra={"group": self.group},
            )
            CONSUMER_WAITING.labels(self.group, dependency).set(0)

    def clear(self) -> None:
        for dependency in list(self._current):
            self.end(dependency)

    def current(self) -> dict[str, Outage]:
        return dict(self._current)

    def describe(self) -> str | None:
        """None without an outage, else each one (``database unavailable since ...``)."""
        if not self._current:
            return None
        return "; ".join(outage.describe() for outage in self._current.values())


class EventConsumer:
    """A member of consumer group ``group`` reading ``topics``; ``start``/``stop`` run it."""

    def __init__(
        self,
        database: Database,
        bus: Bus,
        *,
        group: str,
        topics: Sequence[str],
        handlers: Mapping[str, Handler],
        service_name: str,
        max_attempts: int = 5,
        backoff_seconds: float = 0.2,
        max_backoff: float = 30.0,
        dead_letter_topic: str | None = None,
        batch_size: int = 500,
        poll_timeout: float = 1.0,
        lag_every: float = 5.0,
        stall_seconds: float = 60.0,
        handler_timeout: float | None = 30.0,
        inbox_retention: timedelta | None = timedelta(days=7),
        purge_every: float = 3600.0,
        batch_transactions: bool = True,
    ) -> None:
        """``handlers`` maps versioned type names (``orders.OrderPlaced.v1``) to handlers.

        ``handler_timeout`` bounds one attempt (None: unbounded); ``inbox_retention`` is how
        long inbox rows are kept (None: never purged), purged every ``purge_every`` s;
        ``batch_transactions`` False gives every event a transaction of its own.
        """
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if handler_timeout is not None and handler_timeout <= 0:
            raise ValueError("handler_timeout must be positive")
        self.database = database
        self.bus = bus
        self.group = group
        self.topics = tuple(topics)
        self.handlers = dict(handlers)
        self.service_name = service_name
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff = max_backoff
        self.dead_letter_topic = dead_letter_topic or default_dead_letter_topic(group)
        self.batch_size = batch_size
        self.batch_transactions = batch_transactions
        self.poll_timeout = poll_timeout
        self.lag_every = lag_every
        self.stall_seconds = stall_seconds
        self.handler_timeout = handler_timeout
        self.inbox_retention = inbox_retention
        self.purge_every = purge_every
        #: ``time.monotonic()`` of the last time the loop came round: a completed poll, or
        #: a step of a wait for a dependency (``/healthz`` watches it).
        self.last_poll_at = time.monotonic()
        #: Seconds of handling a batch after which a paused poll keeps the membership.
        self.keep_alive = min(30.0, stall_seconds / 2)
        self._last_fetch_at = time.monotonic()
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._last_lag = 0.0
        self._next_purge = 0.0
        self._outages = Outages(group)
        self._dead_letters = DeadLetterWatch(bus, group, topic=self.dead_letter_topic)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the group and run the loop as a task (joining is retried inside the loop)."""
        if self._task is not None:
            return
        self._stopping = False
        self._stop_event.clear()
        self.last_poll_at = time.monotonic()
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.group}")

    async def stop(self) -> None:
        """Stop after the current delivery; commits what was handled, then leaves the group."""
        self._stopping = True
        self._stop_event.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=30)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._close_subscription()
        self._outages.clear()

    @property
    def name(self) -> str:
        """The worker's name (``Worker`` protocol)."""
        return f"consumer {self.group}"

    def healthy(self, stall_seconds: float | None = None) -> bool:
        """False when the loop has died or has not come round for ``stall_seconds``."""
        return self.health(stall_seconds) is None

    def health(self, stall_seconds: float | None = None) -> str | None:
        """None when alive, else why not (``Worker`` protocol; ``/healthz`` uses it).

        Waiting for the database or Kafka is alive: the wait keeps polling.
        """
        stall = self.stall_seconds if stall_seconds is None else stall_seconds
        if self._task is None:
            return "not started"
        if self._task.done():
            return "consumer loop ended"
        silent = time.monotonic() - self.last_poll_at
        if silent >= stall:
            return f"has not polled for {silent:.0f} s"
        return None

    def readiness(self) -> str | None:
        """None when it can make progress, else what it waits for (``/readyz`` reports it)."""
        return self._outages.describe()

    @property
    def outages(self) -> dict[str, Outage]:
        """The dependencies waited for now, by name (``database``, ``bus``)."""
        return self._outages.current()

    # -- one cycle ---------------------------------------------------------------------------

    async def run_once(self, *, timeout: float | None = None) -> list[Outcome]:
        """Poll once, handle the batch, commit; returns each delivery's outcome (for tests).

        Opens the subscription on first use; without ``start`` the caller drives the loop.
        """
        subscription = await self._open_subscription()
        deliveries = await subscription.poll(
            max_records=self.batch_size,
            timeout=self.poll_timeout if timeout is None else timeout,
        )
        self.last_poll_at = self._last_fetch_at = time.monotonic()
        self._outages.end(BUS)
        outcomes: list[Outcome] = []
        try:
            await self._handle_fetched(deliveries, subscription, outcomes)
        except BaseException:
            # The member has already fetched past the deliveries left unhandled: leave the
            # group (committing what was handled) so they are delivered again, not skipped.
            await self._close_subscription()
            raise
        if outcomes:
            await subscription.commit()
        if time.monotonic() - self._last_lag >= self.lag_every:
            self._last_lag = time.monotonic()
            try:
                await self.refresh_lag()
                await self._dead_letters.refresh()
            except Exception:
                # A gauge is not worth failing the cycle for; the next cycle tries again.
                log.debug("consumer lag unavailable", extra={"group": self.group}, exc_info=True)
        await self._purge_if_due()
        return outcomes

    async def close(self) -> None:
        """Leave the group (for callers driving ``run_once`` themselves)."""
        await self._close_subscription()

    async def refresh_lag(self) -> dict[str, int]:
        """Set the lag gauge per topic (summed over the partitions assigned here)."""
        if self._subscription is None:
            return {}
        per_topic = dict.fromkeys(self.topics, 0)
        for (topic, _partition), lag in (await self._subscription.lag()).items():
            per_topic[topic] = per_topic.get(topic, 0) + max(0, lag)
        for topic, lag in per_topic.items():
            CONSUMER_LAG.labels(self.group, topic).set(lag)
        return per_topic

    async def purge_inbox(self, *, batch: int = 5000) -> int:
        """Forget this group's inbox rows older than ``inbox_retention``; how many went.

        In transactions of at most ``batch`` rows, the loop coming round between them (a
        first purge of a large inbox must not look like a stalled consumer).
        """
        if self.inbox_retention is None:
            return 0
        older_than = utcnow() - self.inbox_retention
        total = 0
        while True:
            async with self.database.session() as session:
                removed = await inbox.purge_inbox(
                    session, older_than=older_than, group=self.group, limit=batch
                )
            total += removed
            INBOX_PURGED.labels(self.group).inc(removed)
            self.last_poll_at = time.monotonic()
            if removed < batch:
                break
            self._check_stopping()
        if total:
            log.info("purged %d inbox row(s)", total, extra={"group": self.group})
        return total

    async def handle(self, delivery: Delivery, *, failed: BaseException | None = None) -> Outcome:
        """Apply one delivery; returns its outcome. Raises only ``_Stopping``/cancellation.

        ``failed``: its first attempt already failed with this error (inside a batch), so
        it counts as one attempt and the next one follows after the backoff.
        """
        replay_for = delivery.header(DLQ_REPLAY_FOR)
        if replay_for is not None and replay_for != self.group:
            # A dead letter of another group, replayed for that group alone.
            EVENTS_HANDLED.labels(self.group, delivery.header("type") or "?", "ignored").inc()
            return "ignored"
        try:
            envelope = Envelope.from_bytes(delivery.value)
        except Exception as error:  # anything undecodable is a dead letter
            await self._dead_letter(delivery, f"undecodable: {type(error).__name__}: {error}", 0)
            EVENTS_HANDLED.labels(self.group, delivery.header("type") or "?", "dead_lettered").inc()
            return "dead_lettered"
        handler = self.handlers.get(envelope.type)
        if handler is None:
            EVENTS_HANDLED.labels(self.group, envelope.type, "ignored").inc()
            return "ignored"

        with self._span(_Item(delivery, envelope, handler), batched=False) as span:
            try:
                outcome = await self._apply_with_retries(delivery, envelope, handler, span, failed)
            finally:
                self._resume()
            span.set_attribute("emporium.consumer.outcome", outcome)
        EVENTS_HANDLED.labels(self.group, envelope.type, outcome).inc()
        return outcome

    # -- a fetched batch ---------------------------------------------------------------------

    async def _handle_fetched(
        self, deliveries: Sequence[Delivery], subscription: Subscription, outcomes: list[Outcome]
    ) -> None:
        """Handle ``deliveries`` in order, marking each once done (appended to ``outcomes``).

        Runs of consecutive deliveries go through one transaction (``_apply_run``); an
        undecodable record, a ``solo`` handler, and an event whose handler failed inside a
        run go through ``handle`` alone (its retries, backoff and dead letter, as before).
        """
        items = [self._prepare(delivery) for delivery in deliveries]
        index = 0
        while index < len(items):
            end = index
            while end < len(items) and items[end].batchable:
                end += 1
            alone = end == index or not self.batch_transactions
            failed: BaseException | None = None
            if not alone:
                done, failed = await self._apply_run(items[index:end])
                for item, outcome in zip(items[index:end], done, strict=False):
                    outcomes.append(outcome)
                    subscription.mark(item.delivery)
                index += len(done)
            if alone or failed is not None:
                # It cannot join a run, or its handler failed in one: alone, with retries.
                outcomes.append(await self.handle(items[index].delivery, failed=failed))
                subscription.mark(items[index].delivery)
                index += 1
            await self._keep_alive(subscription)

    def _prepare(self, delivery: Delivery) -> _Item:
        """What ``delivery`` needs, decided without the database."""
        replay_for = delivery.header(DLQ_REPLAY_FOR)
        if replay_for is not None and replay_for != self.group:
            return _Item(delivery, ignored=True)
        try:
            envelope = Envelope.from_bytes(delivery.value)
        except Exception:  # dead-lettered by ``handle``
            return _Item(delivery)
        handler = self.handlers.get(envelope.type)
        if handler is None:
            return _Item(delivery, envelope, ignored=True)
        return _Item(delivery, envelope, handler)

    async def _apply_run(
        self, run: Sequence[_Item], *, exact: bool = False
    ) -> tuple[list[Outcome], BaseException | None]:
        """Apply ``run`` in one transaction: the outcomes of the prefix that committed, and
        the error of the event after it (None when all of ``run`` committed); at least one
        of the two, so the caller always moves on.

        At first the handlers' writes wait for the commit, which flushes them all at once
        (the ORM sends a table's new rows in one statement, not one round trip per event).
        If a handler at position ``i`` fails by itself (it raised, or its own statement was
        refused) everything is rolled back and the first ``i`` are applied again in one
        transaction (recursively: a failure there shortens the prefix further); the caller
        then handles item ``i`` alone and goes on after it. A write refused at a flush of
        several events' writes (a later handler's autoflush, the commit) names no culprit:
        the events up to it are applied again ``exact``ly, flushing after each handler, which
        puts the failure on the event that made it, or commits them all if it was only
        their writes flushed together (then the caller goes on batching).
        """
        self._check_stopping()
        try:
            outcomes = await self._apply_batch(run, flush_each=exact)
        except _RunFailed as failed:
            log.info(
                "a batch of %d event(s) failed at %s (%s); applying it in parts",
                len(run),
                "its commit" if failed.at_commit else f"event {failed.index}",
                type(failed.error).__name__,
                extra={"group": self.group},
            )
            if not failed.confirmed:
                end = len(run) if failed.at_commit else failed.index + 1
                return await self._apply_run(run[:end], exact=True)
            if not failed.index:
                return [], failed.error
            done, error = await self._apply_run(run[: failed.index])
            return done, error if error is not None else failed.error
        # Counted once per (type, outcome) of the run, not once per event.
        counts = Counter(
            (item.type_name, outcome) for item, outcome in zip(run, outcomes, strict=True)
        )
        for (type_name, outcome), count in counts.items():
            EVENTS_HANDLED.labels(self.group, type_name, outcome).inc(count)
        self._outages.end(DATABASE)
        return outcomes, None

    async def _apply_batch(self, run: Sequence[_Item], *, flush_each: bool) -> list[Outcome]:
        """One transaction: claim every event of ``run`` at once, then run each handler
        (``flush_each``: flushing its writes before the next one)."""
        first: dict[UUID, int] = {}
        for position, item in enumerate(run):
            if item.handler is not None and item.envelope is not None:
                first.setdefault(item.envelope.id, position)
        if not first:  # nothing to apply: no transaction
            return ["ignored"] * len(run)
        claims = [(envelope_id, run[p].type_name) for envelope_id, p in first.items()]
        outcomes: list[Outcome] = []
        position = 0
        own = True  # whether a failure at ``position`` is surely that event's
        try:
            async with self.database.session() as session:
                claimed = await inbox.claim_many(session, self.group, claims)
                for position, item in enumerate(run):
                    envelope, handler = item.envelope, item.handler
                    if handler is None or envelope is None:
                        outcomes.append("ignored")
                        continue
                    if envelope.id not in claimed or first[envelope.id] != position:
                        with self._span(item, batched=True) as span:
                            span.set_attribute("emporium.consumer.outcome", "duplicate")
                        outcomes.append("duplicate")
                        continue
                    with self._span(item, batched=True) as span:
                        try:
                            await self._attempt_in_batch(session, handler, envelope, flush_each)
                        except Exception:
                            # A failed flush leaves the session inactive; unless each event
                            # was flushed alone, the write it refused may be an earlier one's.
                            own = flush_each or position == 0 or session.is_active
                            raise
                        span.set_attribute("emporium.consumer.outcome", "handled")
                    outcomes.append("handled")
                    if self._subscription is not None:  # a long batch: still alive
                        await self._keep_alive(self._subscription)
                position = len(run)  # the commit: a failure there is the batch's, not one event's
        except Exception as error:
            if position < len(run):
                raise _RunFailed(position, error, confirmed=own) from error
            # The commit of a run flushed per event (or of one event) refused no single
            # event's write (the database went away, say): event 0 carries it, alone.
            confirmed = flush_each or len(run) == 1
            raise _RunFailed(0, error, confirmed=confirmed, at_commit=True) from error
        return outcomes

    async def _attempt_in_batch(
        self, session: AsyncSession, handler: Handler, envelope: Envelope, flush: bool
    ) -> None:
        """One handler inside a batch, bounded by ``handler_timeout`` like ``_attempt``.

        With ``flush`` (a run applied again after a failure) its writes are flushed before
        the next event's handler runs: a write the database refuses fails here, as this
        event's, and not at a later event's autoflush or at the commit.
        """
        scope = asyncio.timeout(self.handler_timeout)
        try:
            async with scope:
                await handler(session, envelope)
                if flush:
                    await session.flush()
        except TimeoutError as error:
            if scope.expired():
                raise HandlerTimeout(
                    f"handler ran longer than {self.handler_timeout:g} s"
                ) from error
            raise

    def _span(self, item: _Item, *, batched: bool) -> contextlib.AbstractContextManager[Span]:
        """The span of processing one event, alone (``handle``) or in a batch's transaction.

        Alone, the retry loop records each failed attempt on the span itself (an error the
        retries got past is no failure of the span); in a batch, the error that leaves the
        span is this event's failure, recorded and marked on it.
        """
        delivery, envelope = item.delivery, item.envelope
        assert envelope is not None
        return tracer("emporium.consumer").start_as_current_span(
            f"{delivery.topic} process",
            context=context_from(envelope.trace),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": delivery.topic,
                "messaging.consumer.group.name": self.group,
                "messaging.message.id": str(envelope.id),
                "messaging.kafka.destination.partition": delivery.partition,
                "messaging.kafka.message.offset": delivery.offset,
                "emporium.event.type": envelope.type,
                "emporium.consumer.batched": batched,
            },
            record_exception=batched,
            set_status_on_exception=batched,
        )

    # -- internals ---------------------------------------------------------------------------

    async def _apply_with_retries(
        self,
        delivery: Delivery,
        envelope: Envelope,
        handler: Handler,
        span: Span,
        failed: BaseException | None = None,
    ) -> Outcome:
        attempts = 0
        waits = 0
        context = {"group": self.group, "event_id": str(envelope.id), "type": envelope.type}
        while True:
            self._check_stopping()
            try:
                if failed is not None:  # the attempt made inside a batch
                    error, failed = failed, None
                    raise error
                outcome = await self._attempt(handler, envelope)
            except Exception as error:
                span.record_exception(error)
                failure = await self._classify(error)
                HANDLER_FAILURES.labels(self.group, envelope.type, failure.value).inc()
                if failure.uses_attempts:
                    attempts += 1
                step = next_step(failure, attempts=attempts, max_attempts=self.max_attempts)
                if step is Step.DEAD_LETTER:
                    log.error(
                        "handler failed (%s) after %d attempt(s); dead-lettering",
                        failure.value,
                        attempts,
                        extra=context,
                        exc_info=True,
                    )
                    span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                    await self._dead_letter(delivery, error, attempts)
                    return "dead_lettered"
                if step is Step.RETRY:
                    HANDLER_RETRIES.labels(self.group, envelope.type).inc()
                    await self._wait(self._delay(attempts))
                    continue
                waits += 1
                if step is Step.WAIT_FOR_DATABASE:
                    self._outages.begin(DATABASE, error)
                log.warning(
                    "handler hit %s (%s); waiting and retrying, attempts kept",
                    failure.value,
                    type(error).__name__,
                    extra=context,
                    exc_info=waits == 1,
                )
                await self._wait(self._delay(waits), pause=step is Step.WAIT_FOR_DATABASE)
                continue
            self._outages.end(DATABASE)
            return outcome

    async def _attempt(self, handler: Handler, envelope: Envelope) -> Outcome:
        """One attempt, bounded by ``handler_timeout`` (``HandlerTimeout`` when it runs out)."""
        scope = asyncio.timeout(self.handler_timeout)
        try:
            async with scope:
                return await self._apply(handler, envelope)
        except TimeoutError as error:
            if scope.expired():
                raise HandlerTimeout(
                    f"handler ran longer than {self.handler_timeout:g} s"
                ) from error
            raise

    async def _apply(self, handler: Handler, envelope: Envelope) -> Outcome:
        async with self.database.session() as session:
            if not await inbox.claim(session, self.group, envelope.id, envelope.type):
                return "duplicate"
            await handler(session, envelope)
        return "handled"

    async def _classify(self, error: BaseException) -> Failure:
        """The failure's class; a timeout while the database does not answer is its fault."""
        failure = classify_failure(error)
        if isinstance(error, HandlerTimeout) and not await self._database_answers():
            return Failure.UNAVAILABLE
        return failure

    async def _database_answers(self) -> bool:
        try:
            async with asyncio.timeout(min(5.0, self.handler_timeout or 5.0)):
                await self.database.ping()
        except Exception:
            return False
        return True

    async def _dead_letter(
        self, delivery: Delivery, error: BaseException | str, attempts: int
    ) -> None:
        record = dead_letter_record(
            delivery,
            group=self.group,
            error=error,
            topic=self.dead_letter_topic,
            attempts=attempts,
        )
        failures = 0
        while True:
            self._check_stopping()
            try:
                await self.bus.publish([record])
                break
            except Exception as failure:  # the event must not be skipped: keep trying
                failures += 1
                self._outages.begin(BUS, failure)
                log.warning(
                    "could not publish a dead letter; retrying",
                    extra={"group": self.group, "topic": self.dead_letter_topic},
                    exc_info=failures == 1,
                )
                await self._wait(self._delay(failures), pause=True)
        self._outages.end(BUS)
        DEAD_LETTERED.labels(self.group).inc()

    def _delay(self, failures: int) -> float:
        return retry_delay(failures, base=self.backoff_seconds, cap=self.max_backoff)

    def _check_stopping(self) -> None:
        if self._stopping:
            raise _Stopping

    async def _wait(self, delay: float, *, pause: bool = False) -> None:
        """Wait ``delay`` s, coming round at least every ``poll_timeout`` s (liveness).

        With ``pause`` the partitions are paused and the wait polls: the member stays in
        its group (and ``handle`` resumes it). Raises ``_Stopping`` once ``stop`` is called.
        """
        subscription = self._subscription
        if pause and subscription is not None:
            subscription.pause()
        deadline = time.monotonic() + delay
        while True:
            self._check_stopping()
            now = time.monotonic()
            if now >= deadline:
                return
            step_end = min(deadline, now + self.poll_timeout)
            if subscription is not None and subscription.paused:
                try:
                    stray = await subscription.poll(max_records=1, timeout=step_end - now)
                except Exception:  # Kafka away as well: just wait
                    log.debug("poll while waiting failed", exc_info=True)
                else:
                    if stray:
                        raise RuntimeError("a paused subscription delivered records")
                    self._last_fetch_at = time.monotonic()
            await self._sleep(step_end - time.monotonic())
            self.last_poll_at = time.monotonic()

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_event.wait(), timeout=seconds)
        self._check_stopping()

    async def _keep_alive(self, subscription: Subscription) -> None:
        """Between the deliveries of a long batch: the loop is making progress (liveness),
        and a poll with the partitions paused now and then keeps the member in its group
        (Kafka drops a member that does not poll for ``max.poll.interval.ms``)."""
        self.last_poll_at = time.monotonic()
        if subscription.paused or self.last_poll_at - self._last_fetch_at < self.keep_alive:
            return
        subscription.pause()
        try:
            if await subscription.poll(max_records=1, timeout=0):
                raise RuntimeError("a paused subscription delivered records")
        finally:
            subscription.resume()
        self._last_fetch_at = time.monotonic()

    def _resume(self) -> None:
        subscription = self._subscription
        if subscription is not None and subscription.paused:
            subscription.resume()

    async def _purge_if_due(self) -> None:
        if self.inbox_retention is None or time.monotonic() < self._next_purge:
            return
        try:
            await self.purge_inbox()
        except _Stopping:
            raise
        except Exception:
            log.warning("inbox purge failed; trying again later", exc_info=True)
            self._next_purge = time.monotonic() + min(self.purge_every, 60.0)
        else:
            self._next_purge = time.monotonic() + self.purge_every

    async def _open_subscription(self) -> Subscription:
        if self._subscription is None:
            await ensure_dead_letter_topic(self.bus, self.dead_letter_topic)
            subscription = self.bus.subscribe(self.topics, self.group)
            await subscription.start()
            self._subscription = subscription
        return self._subscription

    async def _close_subscription(self) -> None:
        try:
            await self._dead_letters.close()
        except Exception:
            log.debug("dead-letter watch did not close cleanly", exc_info=True)
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            try:
                await subscription.stop()
            except Exception:  # leaving is best effort; uncommitted is redelivered
                log.warning("consumer could not leave its group cleanly", exc_info=True)

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                await self.run_once()
                failures = 0
                self._outages.end(_CYCLE)
            except _Stopping:
                break
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # Broker or database down: keep the loop alive and try again later.
                failures += 1
                self._outages.begin(BUS if isinstance(error, BusUnavailable) else _CYCLE, error)
                log.warning(
                    "consumer cycle failed; retrying",
                    extra={"group": self.group},
                    exc_info=True,
                )
                if failures >= 3:
                    # Start over with a fresh member: a broken subscription may never recover.
                    await self._close_subscription()
                self.last_poll_at = time.monotonic()
                with contextlib.suppress(_Stopping):
                    await self._wait(self._delay(failures))
