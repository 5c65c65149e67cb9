"""A service's event workers from its settings: the outbox relay and one consumer per group.

A service declares what it consumes as ``Subscription`` values and hands
``event_workers(...)`` to ``create_app(workers=...)``; the names of the consumer groups
follow one rule (``<service>.<purpose>``) so dead-letter topics and lag metrics read well.

The workers see the bus through the service's ``topic_prefix`` (``with_topic_prefix``):
subscriptions and outbox rows name the contract's topics, and the prefix goes in front of
every topic and consumer group on the broker, dead-letter topics included.

The workers use ``worker_database(resources)``: the service's database through a pool of
its own (``Database.for_workers``), never the HTTP requests' pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from emporium.kit.app import Resources, WorkerFactory
from emporium.kit.bus.prefixed import with_topic_prefix
from emporium.kit.consumer import EventConsumer, Handler
from emporium.kit.db import Database
from emporium.kit.outbox import Outbox
from emporium.kit.relay import OutboxRelay
from emporium.kit.settings import BusSettings, DatabaseSettings, ServiceSettings
from emporium.kit.workers import Worker

__all__ = ["EventSubscription", "event_workers", "worker_database"]


@dataclass(frozen=True)
class EventSubscription:
    """Events a service consumes: its handlers by versioned type, read from ``topics``."""

    purpose: str
    topics: tuple[str, ...]
    handlers: Mapping[str, Handler] = field(default_factory=dict)

    def group(self, service_name: str) -> str:
        return f"{service_name}.{self.purpose}"


def worker_database(resources: Resources) -> Database:
    """The service's database as its background workers use it: their own small pool."""
    database = resources.require_database()
    settings = resources.settings
    if isinstance(settings, DatabaseSettings):
        return database.for_workers(settings.database_worker_pool_size)
    return database.for_workers()


def event_workers(
    outbox: Outbox | None, subscriptions: Sequence[EventSubscription] = ()
) -> WorkerFactory:
    """The ``workers`` factory for ``create_app``: relay (if the service publishes) + consumers."""

    def build(resources: Resources) -> Sequence[Worker]:
        settings = resources.settings
        if not isinstance(settings, BusSettings) or not isinstance(settings, ServiceSettings):
            raise TypeError("event workers need settings with ServiceSettings and BusSettings")
        database = worker_database(resources)
        bus = with_topic_prefix(resources.require_bus(), settings.topic_prefix)
        workers: list[Worker] = []
        if outbox is not None:
            relay = OutboxRelay(
                database,
                bus,
                service_name=settings.service_name,
                batch_size=settings.outbox_batch_size,
                poll_seconds=settings.outbox_poll_seconds,
                max_attempts=settings.outbox_max_attempts,
                max_record_bytes=settings.outbox_max_record_bytes,
                outbox=outbox,
            )
            workers.append(relay)
            # Parked rows degrade readiness (reported) without failing it: see the relay.
            resources.probes.add_check("outbox", relay.check_parked, critical=False)
        for subscription in subscriptions:
            workers.append(
                EventConsumer(
                    database,
                    bus,
                    group=subscription.group(settings.service_name),
                    topics=subscription.topics,
                    handlers=subscription.handlers,
                    service_name=settings.service_name,
                    max_attempts=settings.handler_max_attempts,
                    backoff_seconds=settings.handler_backoff_seconds,
                    stall_seconds=settings.consumer_stall_seconds,
                    max_backoff=settings.handler_max_backoff_seconds,
                    handler_timeout=settings.handler_timeout_seconds,
                    inbox_retention=timedelta(days=settings.inbox_retention_days),
                    purge_every=settings.inbox_purge_interval_seconds,
                    batch_size=settings.consumer_batch_size,
                )
            )
        return workers

    return build
