"""The event consumer: a consumer-group member applying events exactly once in effect.

For each delivery, in order:

1. decode the envelope — undecodable records go to the dead-letter topic at once;
2. find the handler for its type — a type nobody handles is acknowledged as ``ignored``
   (tolerant reader: producers may add event types before consumers care);
3. in ONE database transaction: claim the event in the inbox (already there: a
   ``duplicate``, nothing applied), run the handler, commit;
4. on a handler exception: roll back and retry with exponential backoff up to
   ``max_attempts``, then publish a dead letter (see ``emporium.kit.dlq``) and go on.

Offsets are marked only after the handler's transaction has committed (or the event was
dead-lettered) and committed after each batch, so a crash anywhere means redelivery, which
the inbox turns into a no-op: at-least-once delivery, exactly-once effect.

Infrastructure failures are not the event's fault and do not use up its attempts: if the
database connection is lost, or the dead letter cannot be published, the same delivery is
retried with backoff until it works (or the consumer stops, leaving it uncommitted). A poll
that fails (broker down) is logged and retried; nothing ends the loop except ``stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.kit import inbox
from emporium.kit.bus.base import Bus, Delivery, Subscription
from emporium.kit.db import Database
from emporium.kit.dlq import DeadLetterWatch, dead_letter_record
from emporium.kit.dlq import dead_letter_topic as default_dead_letter_topic
from emporium.kit.events import Envelope
from emporium.kit.metrics import CONSUMER_LAG, DEAD_LETTERED, EVENTS_HANDLED, HANDLER_RETRIES
from emporium.kit.relay import backoff_delay
from emporium.kit.tracing import context_from, tracer

__all__ = ["EventConsumer", "Handler", "Outcome"]

log = logging.getLogger(__name__)

#: A handler applies one event inside the consumer's transaction; it must not commit.
Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]

#: What became of a delivery: handled, duplicate, ignored or dead_lettered.
Outcome = str


class _Stopping(Exception):
    """Raised inside the loop when ``stop`` interrupts an infrastructure retry."""


def _is_transient(error: BaseException) -> bool:
    """Our database being unreachable, rather than the event failing: retried without limit."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(
        error,
        ConnectionError | sa_exc.InterfaceError | sa_exc.DisconnectionError | sa_exc.TimeoutError,
    )


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
        batch_size: int = 100,
        poll_timeout: float = 1.0,
        lag_every: float = 5.0,
        stall_seconds: float = 60.0,
    ) -> None:
        """``handlers`` maps versioned type names (``orders.OrderPlaced.v1``) to handlers."""
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
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
        self.poll_timeout = poll_timeout
        self.lag_every = lag_every
        self.stall_seconds = stall_seconds
        #: ``time.monotonic()`` of the last completed poll (or of ``start``).
        self.last_poll_at = time.monotonic()
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._last_lag = 0.0
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

    @property
    def name(self) -> str:
        """The worker's name (``Worker`` protocol)."""
        return f"consumer {self.group}"

    def healthy(self, stall_seconds: float | None = None) -> bool:
        """False when the loop has died or has not completed a poll for ``stall_seconds``."""
        return self.health(stall_seconds) is None

    def health(self, stall_seconds: float | None = None) -> str | None:
        """None when healthy, else why not (``Worker`` protocol; ``/healthz`` uses it)."""
        stall = self.stall_seconds if stall_seconds is None else stall_seconds
        if self._task is None:
            return "not started"
        if self._task.done():
            return "consumer loop ended"
        silent = time.monotonic() - self.last_poll_at
        if silent >= stall:
            return f"has not polled for {silent:.0f} s"
        return None

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
        self.last_poll_at = time.monotonic()
        outcomes: list[Outcome] = []
        try:
            for delivery in deliveries:
                outcomes.append(await self.handle(delivery))
                subscription.mark(delivery)
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

    async def handle(self, delivery: Delivery) -> Outcome:
        """Apply one delivery; returns its outcome. Raises only ``_Stopping``/cancellation."""
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

        span_name = f"{delivery.topic} process"
        with tracer("emporium.consumer").start_as_current_span(
            span_name,
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
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            attempt = 0
            infra_failures = 0
            while True:
                self._check_stopping()
                try:
                    outcome = await self._apply(handler, envelope)
                except Exception as error:  # retried, then dead-lettered
                    span.record_exception(error)
                    if _is_transient(error):
                        infra_failures += 1
                        log.warning(
                            "handler hit an infrastructure failure; retrying",
                            extra={"group": self.group, "event_id": str(envelope.id)},
                            exc_info=True,
                        )
                        await self._pause(infra_failures)
                        continue
                    attempt += 1
                    if attempt >= self.max_attempts:
                        log.error(
                            "handler failed %d times; dead-lettering",
                            attempt,
                            extra={"group": self.group, "event_id": str(envelope.id)},
                            exc_info=True,
                        )
                        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                        await self._dead_letter(delivery, error, attempt)
                        outcome = "dead_lettered"
                        break
                    HANDLER_RETRIES.labels(self.group, envelope.type).inc()
                    await self._pause(attempt, base=self.backoff_seconds)
                    continue
                break
            span.set_attribute("emporium.consumer.outcome", outcome)
        EVENTS_HANDLED.labels(self.group, envelope.type, outcome).inc()
        return outcome

    # -- internals ---------------------------------------------------------------------------

    async def _apply(self, handler: Handler, envelope: Envelope) -> Outcome:
        async with self.database.session() as session:
            if not await inbox.claim(session, self.group, envelope.id, envelope.type):
                return "duplicate"
            await handler(session, envelope)
        return "handled"

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
            except Exception:  # the event must not be skipped: keep trying
                failures += 1
                log.warning(
                    "could not publish a dead letter; retrying",
                    extra={"group": self.group, "topic": self.dead_letter_topic},
                    exc_info=True,
                )
                await self._pause(failures)
        DEAD_LETTERED.labels(self.group).inc()

    def _check_stopping(self) -> None:
        if self._stopping:
            raise _Stopping

    async def _pause(self, failures: int, *, base: float | None = None) -> None:
        """Back off; raise ``_Stopping`` at once if ``stop`` is called meanwhile."""
        delay = backoff_delay(
            failures, base=self.backoff_seconds if base is None else base, cap=self.max_backoff
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), timeout=delay)
        self._check_stopping()

    async def _open_subscription(self) -> Subscription:
        if self._subscription is None:
            await self.bus.ensure_topics([self.dead_letter_topic], partitions=1)
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
            except _Stopping:
                break
            except asyncio.CancelledError:
                raise
            except Exception:
                # Broker or database down: keep the loop alive and try again later.
                failures += 1
                log.exception("consumer cycle failed; retrying", extra={"group": self.group})
                if failures >= 3:
                    # Start over with a fresh member: a broken subscription may never recover.
                    await self._close_subscription()
                with contextlib.suppress(_Stopping):
                    await self._pause(failures)
