"""The Kafka bus (aiokafka), with the client settings the ``Bus`` contract needs.

aiokafka's defaults do not keep the contract, so they are overridden on purpose:

- producer: ``acks=1`` and no idempotence by default, i.e. a record acknowledged by the leader
  alone can be lost, and a retried batch can be duplicated or reordered. We set
  ``acks="all"`` + ``enable_idempotence=True``.
- consumer: ``enable_auto_commit=True`` by default commits what was *fetched*, handled or not
  (at-most-once on a crash). We commit only what the handler marked.

Every network wait is bounded by ``request_timeout`` so a broker that is down turns into
``BusUnavailable`` within seconds instead of a hang.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    CommitFailedError,
    ConsumerStoppedError,
    IllegalStateError,
    KafkaError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
    for_code,
)

from emporium.kit.bus.base import Bus, BusUnavailable, Delivery, Record, Subscription

__all__ = ["KafkaBus", "KafkaSubscription"]

log = logging.getLogger(__name__)

#: How often the producer and the admin client refresh metadata they were not told is stale
#: (aiokafka's default). A client that follows no topic yet (an admin client always, a
#: producer until its first publish) asks for every topic of the cluster each time: with
#: thousands of topics, decoding that answer every 10 s cost a service ~10 % of a core.
#: Neither needs it sooner: a publish to a topic not yet known, and a refused request,
#: refresh it at once.
QUIET_METADATA_MAX_AGE_MS = 300_000

#: A producer batch (per partition) may grow to this many bytes (aiokafka's default, 16 KiB,
#: splits a relay batch of 500 events into a dozen produce batches, each with its own
#: header, CRC and acknowledgement bookkeeping). Below the broker's message.max.bytes.
_MAX_BATCH_BYTES = 512 * 1024


class _TopicNotKnownYet(BusUnavailable):
    """The broker asked does not know the topic (yet): creation answers before every
    broker's metadata has it."""


def _retrieve_exception(future: asyncio.Future[Any]) -> None:
    """Done-callback: read a batch future's outcome so an abandoned one is not logged as lost."""
    if not future.cancelled():
        future.exception()


async def _queue_batches(producer: Any, records: Sequence[Record]) -> list[asyncio.Future[Any]]:
    """Queue ``records`` as aiokafka batches, one per partition (another when one is full),
    and return their futures.

    What ``send`` does per record, done once per batch: ``send`` would append each record
    to the partition's open batch with a future of its own and a few awaits; a relay batch
    of 500 events spent a third of its time there. The partition is the one ``send`` picks
    (the producer's partitioner on the key), and each partition's records keep their order,
    so a key's events land where, and in the order, they did. A record over the producer's
    ``max_request_size`` raises ``MessageSizeTooLargeError`` before anything is queued.
    """
    known: set[str] = set()
    chosen: dict[tuple[str, bytes], int] = {}
    batches: dict[tuple[str, int], list[Any]] = {}
    for record in records:
        topic, key, headers = record.topic, record.key, list(record.headers)
        if topic not in known:
            await producer.partitions_for(topic)  # waits for the topic's metadata, as send does
            known.add(topic)
        producer._serialize(key, record.value, headers)  # the size check of ``send``
        partition = chosen.get((topic, key)) if key is not None else None
        if partition is None:
            partition = producer._partition(topic, None, key, record.value, key, record.value)
            if key is not None:
                chosen[(topic, key)] = partition
        builders = batches.setdefault((topic, partition), [])
        appended = builders and builders[-1].append(
            timestamp=None, key=key, value=record.value, headers=headers
        )
        if not appended:  # none yet, or the open one is full: a fresh one takes any record
            builder = producer.create_batch()
            builder.append(timestamp=None, key=key, value=record.value, headers=headers)
            builders.append(builder)
    futures: list[asyncio.Future[Any]] = []
    for (topic, partition), builders in batches.items():
        for builder in builders:
            future = await producer.send_batch(builder, topic, partition=partition)
            future.add_done_callback(_retrieve_exception)
            futures.append(future)
    return futures


class KafkaBus(Bus):
    """A ``Bus`` on a Kafka cluster.

    ``start()`` connects the producer; if the cluster cannot be reached it only logs it:
    ``publish``/``ping`` then raise ``BusUnavailable`` and the bus reconnects by itself when
    the cluster is back (a service can boot while Kafka restarts).
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str | None = None,
        linger_ms: int = 0,
        fetch_max_wait_ms: int = 100,
        request_timeout: float = 10.0,
        metadata_max_age_ms: int = 10_000,
        replication_factor: int = 1,
    ) -> None:
        if request_timeout <= 0:
            raise ValueError("request_timeout must be positive")
        self.bootstrap_servers = bootstrap_servers
        self.client_id = client_id or "emporium"
        self.linger_ms = linger_ms
        #: How long the broker may hold a fetch that has nothing to return (it answers as
        #: soon as a record arrives, so this bounds only idle polls, not latency).
        self.fetch_max_wait_ms = fetch_max_wait_ms
        #: Seconds any one call (publish, commit, ping, ...) may wait for the cluster.
        self.request_timeout = request_timeout
        # Modest, so consumers see topics and partitions created after they started.
        self.metadata_max_age_ms = metadata_max_age_ms
        #: For ``ensure_topics``; 1 fits the single local broker, use 3 on a real cluster.
        self.replication_factor = replication_factor
        self._running = False
        self._producer: Any = None
        self._producer_lock = asyncio.Lock()
        self._admin: Any = None
        self._admin_lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()
        # Closing steps that overran their bound: cancelled, never awaited again.
        self._abandoned: set[asyncio.Task[None]] = set()
        self._subscriptions: set[KafkaSubscription] = set()

    @property
    def _request_timeout_ms(self) -> int:
        return int(self.request_timeout * 1000)

    # -- producer --------------------------------------------------------------------------

    def _new_producer(self) -> Any:
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=self.client_id,
            # acks=all: publish returns only once every in-sync replica has the records
            # (aiokafka's default, acks=1, loses what the leader had not replicated yet).
            acks="all",
            # Idempotence: the broker drops batches a retry sends twice and keeps the order
            # of one partition across retries (off by default in aiokafka).
            enable_idempotence=True,
            # publish() queues all its records before the sender task runs, so they leave as
            # full batches even with linger 0; lingering would only delay a lone event.
            linger_ms=self.linger_ms,
            max_batch_size=_MAX_BATCH_BYTES,
            # Bounded, so a broker that is down fails a publish instead of hanging it.
            request_timeout_ms=self._request_timeout_ms,
            metadata_max_age_ms=QUIET_METADATA_MAX_AGE_MS,
        )

    async def _get_producer(self) -> Any:
        if self._producer is not None:
            return self._producer
        async with self._producer_lock:
            if self._producer is None:
                producer = self._new_producer()
                try:
                    async with asyncio.timeout(self.request_timeout):
                        await producer.start()
                except (KafkaError, TimeoutError, OSError) as error:
                    self._close_later(producer)
                    raise BusUnavailable(
                        f"Kafka at {self.bootstrap_servers} is unreachable: {error!r}"
                    ) from error
                self._producer = producer
        return self._producer

    def _discard_producer(self, producer: Any, *, grace: float = 0.5) -> None:
        """Drop a producer (a failed one: the next publish starts a fresh one).

        An idempotent producer whose batch expired may be stuck (its sequence numbers no
        longer match the broker's), so it is not reused. It is closed in the background, as
        closing waits for its pending batches and publish must fail fast; after ``grace``
        seconds it is cut off, so it stops retrying what the caller publishes again anyway.
        """
        if self._producer is producer:
            self._producer = None
        self._close_later(producer, grace=grace)

    def _close_later(self, client: Any, *, grace: float = 1.0) -> None:
        task = asyncio.create_task(self._close_quietly(client, grace=grace))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close_quietly(self, client: Any, *, grace: float) -> None:
        """Close an aiokafka client; cut its connections if that takes over ``grace`` s.

        Bounded by ``grace`` whatever aiokafka does: an ``asyncio.timeout`` around its
        consumer's ``stop()`` relies on a cancellation that its fetcher's tasks swallow (they
        return on ``CancelledError``), and after a broker outage such a close held the
        consumer loop for minutes while the orders it should have answered timed out. So
        each step runs in a task of its own, waited for at most ``grace``; one that
        overruns is cancelled and left behind (``_abandoned``), and the connections are cut.
        """
        if await self._within(self._close_gracefully(client), grace, then="cutting it off"):
            return
        await self._within(self._cut_off(client), grace, then="left behind")

    async def _within(self, step: Coroutine[Any, Any, None], seconds: float, *, then: str) -> bool:
        """Run ``step`` for at most ``seconds``; whether it finished without a Kafka error.
        ``then``: what happens next if it did not, for the log."""
        task = asyncio.create_task(step)
        try:
            done, _ = await asyncio.wait({task}, timeout=seconds)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not done:
            task.cancel()
            self._abandoned.add(task)  # held: the loop keeps only weak references
            task.add_done_callback(self._abandoned.discard)
            task.add_done_callback(_retrieve_exception)
            log.info("closing a Kafka client took over %g s: %s", seconds, then)
            return False
        error = None if task.cancelled() else task.exception()
        if error is None:
            return True
        if isinstance(error, (KafkaError, TimeoutError, OSError)):
            log.info("closing a Kafka client failed (%r): %s", error, then)
            return False
        raise error

    @staticmethod
    async def _close_gracefully(client: Any) -> None:
        if isinstance(client, AIOKafkaProducer):
            # Wait for the pending batches here, where giving up is clean: a stop() cut
            # short would leave its own flush task behind, pending forever.
            await client.flush()
        # Producers and consumers close with stop(), the admin client with close().
        close = getattr(client, "stop", None) or client.close
        await close()

    @staticmethod
    async def _cut_off(client: Any) -> None:
        # A producer waits for batches a dead broker never acknowledges (it retries them
        # while the partition leader is known): stop its sender task, then close the
        # connections, else they stay open until the process ends.
        try:
            if isinstance(client, AIOKafkaProducer):
                client._closed = True  # closed here: no "unclosed producer" warning later
                await client._sender.close()
            network = getattr(client, "client", None) or getattr(client, "_client", None)
            if network is not None:
                await network.close()
        except (KafkaError, OSError) as error:
            log.warning("closing a Kafka client failed: %r", error)

    # -- admin -----------------------------------------------------------------------------

    async def _get_admin(self) -> Any:
        async with self._admin_lock:
            if self._admin is None:
                admin = AIOKafkaAdminClient(
                    bootstrap_servers=self.bootstrap_servers,
                    client_id=self.client_id,
                    request_timeout_ms=self._request_timeout_ms,
                    metadata_max_age_ms=QUIET_METADATA_MAX_AGE_MS,
                )
                try:
                    await admin.start()
                except BaseException:
                    self._close_later(admin)
                    raise
                self._admin = admin
            return self._admin

    def _discard_admin(self, admin: Any) -> None:
        if self._admin is admin:
            self._admin = None
        if admin is not None:
            self._close_later(admin)

    # -- Bus -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect the producer (a cluster that is down is only logged, see the class doc)."""
        self._running = True
        try:
            await self._get_producer()
        except BusUnavailable as error:
            log.warning("Kafka bus started without a connection: %s", error)

    async def stop(self) -> None:
        """Stop the open subscriptions (they commit their marks), the producer and admin."""
        self._running = False
        for subscription in list(self._subscriptions):
            await subscription.stop()
        if self._producer is not None:
            # Orderly: give pending batches the time a publish has to be acknowledged.
            self._discard_producer(self._producer, grace=self.request_timeout)
        if self._admin is not None:
            self._discard_admin(self._admin)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def _require_running(self) -> None:
        if not self._running:
            raise BusUnavailable("the Kafka bus is not started")

    async def publish(self, records: Sequence[Record]) -> None:
        """Queue the records as one produce batch per partition, then wait for the batches'
        acknowledgements (see ``_queue_batches``)."""
        self._require_running()
        if not records:
            return
        producer = await self._get_producer()
        try:
            async with asyncio.timeout(self.request_timeout):
                futures = await _queue_batches(producer, records)
                results = await asyncio.gather(*futures, return_exceptions=True)
        except (KafkaError, TimeoutError, OSError) as error:
            self._discard_producer(producer)
            raise BusUnavailable(
                f"publishing {len(records)} record(s) failed: {error!r}"
            ) from error
        failures = [result for result in results if isinstance(result, BaseException)]
        if failures:
            self._discard_producer(producer)
            raise BusUnavailable(
                f"{len(failures)} of {len(records)} batch(es) were not accepted: {failures[0]!r}"
            ) from failures[0]

    def subscribe(self, topics: Sequence[str], group: str) -> KafkaSubscription:
        return KafkaSubscription(self, topics, group)

    async def ensure_topics(
        self,
        topics: Sequence[str],
        partitions: int = 3,
        *,
        config: Mapping[str, str] | None = None,
    ) -> None:
        """Create the missing topics; existing ones keep their partitions, get ``config``
        (their other configuration overrides are kept). Returns once the broker describes
        every topic with ``config``: a caller may use or read one back at once."""
        if not topics:
            return
        wanted = dict(config or {})
        admin: Any = None
        existing: list[str] = []
        try:
            async with asyncio.timeout(self.request_timeout):
                admin = await self._get_admin()
                response = await admin.create_topics(
                    [
                        NewTopic(
                            topic,
                            partitions,
                            self.replication_factor,
                            topic_configs=wanted or None,
                        )
                        for topic in topics
                    ],
                    timeout_ms=self._request_timeout_ms,
                )
                for topic, code, *rest in response.topic_errors:
                    error_type = for_code(code) if code else None
                    if error_type is None:
                        continue
                    if error_type is TopicAlreadyExistsError:
                        existing.append(topic)
                        continue
                    detail = rest[0] if rest else ""
                    raise BusUnavailable(
                        f"creating topic {topic} failed: {error_type.__name__} {detail}"
                    )
                if wanted and existing:
                    await self._alter_topic_configs(admin, existing, wanted)
                created = [topic for topic in topics if topic not in existing]
                if created:
                    # CreateTopics answers before the broker's metadata shows the topic
                    # (KRaft applies it from the metadata log): wait until it does.
                    await self._describe_once_known(admin, created)
        except (KafkaError, TimeoutError, OSError) as error:
            self._discard_admin(admin)
            raise BusUnavailable(f"creating topics {list(topics)} failed: {error!r}") from error

    async def _alter_topic_configs(
        self, admin: Any, topics: Sequence[str], config: Mapping[str, str]
    ) -> None:
        """Set ``config`` on existing topics, keeping their other overrides.

        AlterConfigs replaces a topic's whole set of overrides (aiokafka has no incremental
        variant), so the current overrides are read first and sent along; a topic that
        already has the wanted values is left alone.
        """
        current = await self._describe_once_known(admin, topics)
        resources = []
        for topic in topics:
            overrides = {name: value for name, (value, own) in current[topic].items() if own}
            if all(overrides.get(name) == value for name, value in config.items()):
                continue
            wanted = {**overrides, **config}
            resources.append(ConfigResource(ConfigResourceType.TOPIC, topic, configs=wanted))
        if not resources:
            return
        for response in await admin.alter_configs(resources):
            for code, message, _type, name in response.resources:
                error_type = for_code(code) if code else None
                if error_type is not None:
                    raise BusUnavailable(
                        f"configuring topic {name} failed: {error_type.__name__} {message}"
                    )
        # The broker answers AlterConfigs before its own metadata shows the change (KRaft
        # applies it from the metadata log), so wait until it does: a caller that reads the
        # config back, or relies on it, sees what it asked for.
        pending = [resource.name for resource in resources]
        while pending:
            current = await self._describe_once_known(admin, pending)
            pending = [
                topic
                for topic in pending
                if any(
                    current[topic].get(name, ("", False))[0] != value
                    for name, value in config.items()
                )
            ]
            if pending:
                await asyncio.sleep(0.05)

    @classmethod
    async def _describe_once_known(
        cls, admin: Any, topics: Sequence[str]
    ) -> dict[str, dict[str, tuple[str, bool]]]:
        """``_describe_topics``, asked again while the broker does not know a topic yet: a
        topic another caller has just created exists before the answering broker's metadata
        shows it (bounded by the caller's timeout)."""
        while True:
            try:
                return await cls._describe_topics(admin, topics)
            except _TopicNotKnownYet:
                await asyncio.sleep(0.05)

    @staticmethod
    async def _describe_topics(
        admin: Any, topics: Sequence[str]
    ) -> dict[str, dict[str, tuple[str, bool]]]:
        """Per topic: each config entry's value and whether it is set on the topic itself."""
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic) for topic in topics]
        )
        described: dict[str, dict[str, tuple[str, bool]]] = {}
        for response in responses:
            for code, message, _type, name, entries in response.resources:
                error_type = for_code(code) if code else None
                if error_type is not None:
                    unknown = error_type is UnknownTopicOrPartitionError
                    raise (_TopicNotKnownYet if unknown else BusUnavailable)(
                        f"describing topic {name} failed: {error_type.__name__} {message}"
                    )
                values: dict[str, tuple[str, bool]] = {}
                for entry in entries:
                    # v0: (name, value, read_only, is_default, ...); v1+: the 4th field is
                    # the config source, 1 = DYNAMIC_TOPIC_CONFIG (set on the topic).
                    own = (not entry[3]) if response.API_VERSION == 0 else entry[3] == 1
                    values[str(entry[0])] = ("" if entry[1] is None else str(entry[1]), own)
                described[str(name)] = values
        return described

    async def topic_config(self, topic: str) -> dict[str, str]:
        """Every configuration entry the broker reports for ``topic``."""
        self._require_running()
        admin: Any = None
        try:
            async with asyncio.timeout(self.request_timeout):
                admin = await self._get_admin()
                described = await self._describe_topics(admin, [topic])
        except (KafkaError, TimeoutError, OSError) as error:
            self._discard_admin(admin)
            raise BusUnavailable(f"describing topic {topic} failed: {error!r}") from error
        return {name: value for name, (value, _own) in described.get(topic, {}).items()}

    async def ping(self) -> None:
        """Fetch the cluster metadata (bounded by ``request_timeout``)."""
        self._require_running()
        admin: Any = None
        try:
            async with asyncio.timeout(self.request_timeout):
                admin = await self._get_admin()
                await admin.describe_cluster()
        except (KafkaError, TimeoutError, OSError) as error:
            self._discard_admin(admin)
            raise BusUnavailable(f"Kafka at {self.bootstrap_servers} does not answer") from error


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """Commit the marks of partitions before they move to another member of the group."""

    def __init__(self, subscription: KafkaSubscription) -> None:
        self._subscription = subscription

    async def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        await self._subscription._commit_partitions(set(revoked), on_revoke=True)

    async def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        log.debug("group %s: assigned %s", self._subscription.group, sorted(assigned))
        # New partitions come unpaused: a paused member must not fetch from them either.
        self._subscription._apply_pause()


class KafkaSubscription(Subscription):
    """One member of a Kafka consumer group (an ``AIOKafkaConsumer`` with manual commits)."""

    def __init__(self, bus: KafkaBus, topics: Sequence[str], group: str) -> None:
        if not topics:
            raise ValueError("a subscription needs at least one topic")
        self.topics = tuple(topics)
        self.group = group
        self.last_poll_at = time.monotonic()
        self._bus = bus
        self._consumer: Any = None
        self._stopped = False
        self._paused = False
        #: Offset after the last handled record, per partition (committed by ``commit``).
        self._marks: dict[Any, int] = {}

    def _new_consumer(self) -> Any:
        bus = self._bus
        return AIOKafkaConsumer(
            bootstrap_servers=bus.bootstrap_servers,
            client_id=bus.client_id,
            group_id=self.group,
            # No auto commit: it would commit what was fetched, handled or not. We commit
            # only what was marked (at-least-once).
            enable_auto_commit=False,
            # A new group reads its topics from the beginning (the default, "latest", would
            # skip whatever was published before the group first started).
            auto_offset_reset="earliest",
            # Never deliver records of aborted transactions, should a producer use them.
            isolation_level="read_committed",
            request_timeout_ms=bus._request_timeout_ms,
            fetch_max_wait_ms=bus.fetch_max_wait_ms,
            # Modest, so a subscription notices topics created after it started.
            metadata_max_age_ms=bus.metadata_max_age_ms,
        )

    async def start(self) -> None:
        """Join the group; returns once this member has its partitions."""
        if self._consumer is not None:
            raise RuntimeError("subscription already started")
        self._bus._require_running()
        consumer = self._new_consumer()
        consumer.subscribe(list(self.topics), listener=_CommitOnRevoke(self))
        self._consumer = consumer
        try:
            # Joining waits for a rebalance, which needs the other members to rejoin: allow
            # for a few heartbeats besides the request timeout.
            async with asyncio.timeout(self._bus.request_timeout + 30):
                await consumer.start()
        except (KafkaError, TimeoutError, OSError) as error:
            self._stopped = True
            await self._bus._close_quietly(consumer, grace=1.0)
            raise BusUnavailable(f"joining group {self.group} failed: {error!r}") from error
        self.last_poll_at = time.monotonic()
        self._bus._subscriptions.add(self)

    async def stop(self) -> None:
        """Commit what was marked, then leave the group (the group rebalances)."""
        if self._stopped:
            return
        self._stopped = True
        self._bus._subscriptions.discard(self)
        if self._consumer is None:
            return
        try:
            await self.commit()
        except BusUnavailable as error:
            log.warning("group %s: final commit failed: %s", self.group, error)
        finally:
            # Leaving the group is one request: bounded by the request timeout.
            await self._bus._close_quietly(self._consumer, grace=self._bus.request_timeout)

    async def poll(self, *, max_records: int = 100, timeout: float = 1.0) -> list[Delivery]:
        """Up to ``max_records`` deliveries (``[]`` once stopped)."""
        if self._consumer is None:
            raise RuntimeError("poll() before start()")
        if self._stopped:
            self.last_poll_at = time.monotonic()
            return []
        self._apply_pause()
        try:
            batches = await self._consumer.getmany(
                timeout_ms=int(timeout * 1000), max_records=max_records
            )
        except ConsumerStoppedError:
            return []
        except KafkaError as error:
            raise BusUnavailable(f"group {self.group}: poll failed: {error!r}") from error
        finally:
            self.last_poll_at = time.monotonic()
        if self._paused and batches:
            # Fetched while a rebalance was giving us partitions: put them back, so they
            # are delivered after ``resume`` rather than skipped.
            self._rewind(batches)
            return []
        return [
            Delivery(
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                value=message.value if message.value is not None else b"",
                key=message.key,
                headers=tuple(message.headers),
                timestamp_ms=message.timestamp,
            )
            for messages in batches.values()
            for message in messages
        ]

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Fetch nothing until ``resume``; polls go on heartbeating the group."""
        self._paused = True
        self._apply_pause()

    def resume(self) -> None:
        """Fetch again from the positions where the member paused."""
        self._paused = False
        if self._consumer is not None and not self._stopped:
            paused = list(self._consumer.paused())
            if paused:
                self._consumer.resume(*paused)

    def _apply_pause(self) -> None:
        if not self._paused or self._consumer is None or self._stopped:
            return
        assigned = [tp for tp in self._consumer.assignment() if tp not in self._consumer.paused()]
        if assigned:
            self._consumer.pause(*assigned)

    def _rewind(self, batches: Mapping[Any, Sequence[Any]]) -> None:
        for tp, messages in batches.items():
            if messages:
                try:
                    self._consumer.seek(tp, min(message.offset for message in messages))
                except IllegalStateError:
                    continue  # revoked meanwhile: its new owner starts from the last commit

    def mark(self, delivery: Delivery) -> None:
        """Record that ``delivery`` and everything before it in its partition is handled."""
        tp = TopicPartition(delivery.topic, delivery.partition)
        self._marks[tp] = max(self._marks.get(tp, 0), delivery.offset + 1)

    async def commit(self) -> None:
        """Commit the marked offsets of the partitions still assigned here.

        Marks of partitions lost in a rebalance are dropped: their new owner resumes from
        the last commit and delivers those records again (at-least-once). Raises
        ``BusUnavailable`` (keeping the marks for the next try) if Kafka does not answer.
        """
        if self._consumer is None:
            return
        await self._commit_partitions(set(self._consumer.assignment()))
        self._marks.clear()

    async def _commit_partitions(self, partitions: set[Any], *, on_revoke: bool = False) -> None:
        offsets = {tp: offset for tp, offset in self._marks.items() if tp in partitions}
        if not offsets:
            return
        for tp in offsets:
            del self._marks[tp]
        try:
            async with asyncio.timeout(self._bus.request_timeout):
                await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as error:
            # The group moved on without us: the new owners redeliver from the last commit.
            log.warning("group %s: commit dropped after a rebalance: %r", self.group, error)
        except (KafkaError, TimeoutError, OSError) as error:
            for tp, offset in offsets.items():
                self._marks[tp] = max(self._marks.get(tp, 0), offset)
            if on_revoke:
                # aiokafka would only log an exception raised here; the partitions go anyway
                # and their new owners redeliver from the last commit.
                log.warning("group %s: commit on revoke failed: %r", self.group, error)
                return
            raise BusUnavailable(f"group {self.group}: commit failed: {error!r}") from error

    async def lag(self) -> dict[tuple[str, int], int]:
        """Per assigned partition: the end offset minus this member's position."""
        if self._consumer is None or self._stopped:
            return {}
        consumer = self._consumer
        lags: dict[tuple[str, int], int] = {}
        try:
            async with asyncio.timeout(self._bus.request_timeout):
                assigned = list(consumer.assignment())
                # The highwater comes with each fetch; ask the broker for the others.
                unknown = [tp for tp in assigned if consumer.highwater(tp) is None]
                ends: dict[Any, int] = await consumer.end_offsets(unknown) if unknown else {}
                for tp in assigned:
                    try:
                        end = consumer.highwater(tp)
                        position: int = await consumer.position(tp)
                    except (AssertionError, IllegalStateError):
                        continue  # revoked meanwhile (aiokafka asserts in highwater())
                    if end is None:
                        end = ends[tp]
                    lags[(tp.topic, tp.partition)] = max(0, int(end) - position)
        except (KafkaError, TimeoutError, OSError) as error:
            raise BusUnavailable(f"group {self.group}: lag unavailable: {error!r}") from error
        return lags
