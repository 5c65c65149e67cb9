"""Benchmark: the event pipeline (outbox write -> relay -> bus -> consumer with inbox).

Runs each configuration in one process (on uvloop, as the services do), one after the
other, and writes the figures side by side (with ratios against the first row) to
``bench/results/event_pipeline.{json,md}``:

- ``sqlite+memory``: the embedded default;
- ``postgres+kafka relay batch=100, consumer per event``: the settings before issue 12 (a
  relay batch of 100 rows, a transaction per consumed event);
- ``postgres+kafka defaults``: today's defaults (``outbox_batch_size``, one transaction and
  one inbox statement per fetched batch, whose writes are flushed once, by its commit).

Each configuration joins a consumer group on an empty topic, writes N events (one
transaction each, like N requests), drains the outbox with the relay, and applies every
event with that ``EventConsumer`` (inbox + an ORM row of effect per event; the rate counts
all N, from the end of the relay's drain to the last event applied). One untimed event
goes through the whole pipeline before the timed part: the first publish to a new topic
fetches its metadata, and each statement is prepared once per connection.

Then, on PostgreSQL, the idle lag: the relay runs as the services run it (its loop, woken
by the commit: ``LISTEN/NOTIFY`` and, as in a service's own process, ``Outbox.on_commit``),
and ``--lag-events`` events are written one at a time, each after the relay has published
the previous one and gone idle; the lag of each is from its transaction's commit to the
broker's acknowledgement of its publish (p50/p99/max). Topics and groups are
named ``<prefix><random>`` (``--topic-prefix``, default ``bench.``); the run deletes the
Kafka topics it made (the events' and the dead-letter ones) when it ends.
Needs ``var/infra.env`` loaded for the real infrastructure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import Integer, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from emporium.contracts.base import EventData
from emporium.kit.bus.base import Bus, Record
from emporium.kit.bus.kafka import KafkaBus
from emporium.kit.bus.memory import InMemoryBus
from emporium.kit.consumer import EventConsumer
from emporium.kit.db import Base, Database
from emporium.kit.events import Envelope
from emporium.kit.outbox import Outbox, create_kit_tables
from emporium.kit.relay import OutboxRelay
from emporium.kit.settings import BusSettings

RESULTS = Path(__file__).parent / "results"
#: The consumer's fetch size (``EventConsumer``'s default).
CONSUMER_BATCH = 500
#: The relay's batch by default (``outbox_batch_size``).
RELAY_BATCH = BusSettings().outbox_batch_size


class BenchTick(EventData):
    event_name: ClassVar[str] = "BenchTick"
    topic: ClassVar[str] = "bench.events"
    seq: int


class Effect(Base):
    __tablename__ = "bench_effect"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64))


EFFECT_TABLE: Table = Effect.__table__  # type: ignore[assignment]


@dataclass
class Result:
    config: str
    events: int
    write_per_s: float
    relay_per_s: float
    consume_per_s: float
    end_to_end_s: float
    #: Commit -> publish acknowledged of a lone event at idle (None: not measured).
    idle_lag_p50_ms: float | None = None
    idle_lag_p99_ms: float | None = None
    idle_lag_max_ms: float | None = None


class StampedKafkaBus(KafkaBus):
    """The Kafka bus, noting when each published record's key was acknowledged."""

    def __init__(self, bootstrap_servers: str) -> None:
        super().__init__(bootstrap_servers)
        self.acknowledged: dict[bytes, float] = {}
        self.published = asyncio.Event()

    async def publish(self, records: Sequence[Record]) -> None:
        await super().publish(records)
        now = time.perf_counter()
        for record in records:
            if record.key is not None:
                self.acknowledged[record.key] = now
        self.published.set()


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def idle_lag(
    database: Database, bus: StampedKafkaBus, topic: str, events: int, batch: int
) -> list[float]:
    """Commit -> acknowledged publish (ms) of ``events`` lone events, the relay idle each time."""
    outbox = Outbox(source="bench")
    relay = OutboxRelay(database, bus, service_name="bench", batch_size=batch, outbox=outbox)
    await relay.start()
    lags: list[float] = []
    try:
        deadline = time.monotonic() + 10
        while not relay.listening and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for seq in range(events):
            await asyncio.sleep(0.05)  # the relay finishes its cycle and waits for a wake-up
            key = f"lag-{seq}".encode()
            async with database.session() as session:
                await outbox.add(session, BenchTick(seq=seq), key=key.decode(), topic=topic)
            committed = time.perf_counter()
            while key not in bus.acknowledged:
                bus.published.clear()
                await asyncio.wait_for(bus.published.wait(), timeout=10)
            lags.append((bus.acknowledged[key] - committed) * 1000)
    finally:
        await relay.stop()
    return lags


async def _postgres_url() -> tuple[str, str]:
    admin = os.environ["EMPORIUM_POSTGRES_URL"]
    name = f"bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    base = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}", name


async def _drop(name: str) -> None:
    conn = await asyncpg.connect(os.environ["EMPORIUM_POSTGRES_URL"])
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


async def run_config(
    config: str,
    url: str,
    bus: Bus,
    batch: int,
    events: int,
    *,
    batched: bool = True,
    prefix: str = "bench.",
    topics: list[str] | None = None,
    lag_events: int = 0,
) -> Result:
    """One configuration's figures; the topics it made are appended to ``topics``."""
    database = Database(url)
    async with database.engine.begin() as conn:
        await conn.run_sync(create_kit_tables)
        await conn.run_sync(Base.metadata.create_all, tables=[EFFECT_TABLE])
    topic = f"{prefix}{uuid.uuid4().hex[:8]}"
    await bus.ensure_topics([topic], partitions=3)
    if topics is not None:
        topics.append(topic)
    outbox = Outbox(source="bench")

    async def handle(session: AsyncSession, envelope: Envelope) -> None:
        session.add(Effect(event_id=str(envelope.id)))

    consumer = EventConsumer(
        database,
        bus,
        group=f"{prefix}group-{uuid.uuid4().hex[:8]}",
        topics=[topic],
        handlers={BenchTick.type_name(): handle},
        service_name="bench",
    )
    if topics is not None:
        topics.append(consumer.dead_letter_topic)
    consumer.batch_transactions = batched
    consumer.batch_size = CONSUMER_BATCH
    # Join the group while the topic is empty: the rate is of applying events, not of a
    # group's first join, and every event is applied within the timed part (a join after
    # the relay used to apply a first batch untimed, yet count it).
    assert await consumer.run_once(timeout=0.01) == []
    relay = OutboxRelay(database, bus, service_name="bench", batch_size=batch, listen=False)
    # One event through the whole pipeline first, untimed: the producer's first publish to
    # a new topic fetches its metadata and each statement is prepared once per connection,
    # costs a running service paid long ago, not part of its steady rate.
    async with database.session() as session:
        await outbox.add(session, BenchTick(seq=-1), key="warm-up", topic=topic)
    while await relay.run_once() < 1:
        pass
    while "handled" not in await consumer.run_once(timeout=1.0):
        pass

    started = time.perf_counter()
    for seq in range(events):
        async with database.session() as session:
            await outbox.add(session, BenchTick(seq=seq), key=str(seq % 50), topic=topic)
    wrote = time.perf_counter()

    published = 0
    while published < events:
        published += await relay.run_once()
    relayed = time.perf_counter()

    applied = 0
    while applied < events:
        applied += (await consumer.run_once(timeout=1.0)).count("handled")
    consumed = time.perf_counter()
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(Effect)) == events + 1
    await consumer.close()
    lags: list[float] = []
    if lag_events and isinstance(bus, StampedKafkaBus):
        lags = await idle_lag(database, bus, topic, lag_events, batch)
    await database.dispose()
    return Result(
        config=config,
        events=events,
        write_per_s=events / (wrote - started),
        relay_per_s=events / (relayed - wrote),
        consume_per_s=events / (consumed - relayed),
        end_to_end_s=consumed - started,
        idle_lag_p50_ms=round(_percentile(lags, 0.5), 1) if lags else None,
        idle_lag_p99_ms=round(_percentile(lags, 0.99), 1) if lags else None,
        idle_lag_max_ms=round(max(lags), 1) if lags else None,
    )


async def _delete_topics(bootstrap: str, topics: list[str]) -> None:
    """Delete the run's own topics (a broker with thousands of topics costs every client)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(topics, timeout_ms=30_000)
    finally:
        await admin.close()


async def main(
    events: int, prefix: str = "bench.", *, lag_events: int = 50, only: str | None = None
) -> list[Result]:
    """Every configuration (or those whose name contains ``only``), one after the other."""
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        if only is not None and only not in "sqlite+memory defaults":
            return results + await _on_postgres(events, prefix, lag_events, only)
        memory = InMemoryBus()
        await memory.start()
        results.append(
            await run_config(
                "sqlite+memory defaults",
                f"sqlite+aiosqlite:///{tmp}/bench.db",
                memory,
                RELAY_BATCH,
                events,
                prefix=prefix,
            )
        )
        await memory.stop()
    return results + await _on_postgres(events, prefix, lag_events, only)


async def _on_postgres(events: int, prefix: str, lag_events: int, only: str | None) -> list[Result]:
    results: list[Result] = []
    bootstrap = os.environ["EMPORIUM_KAFKA_BOOTSTRAP"]
    kafka = StampedKafkaBus(bootstrap)
    await kafka.start()
    made: list[str] = []
    try:
        configs = [
            ("postgres+kafka relay batch=100, consumer per event", 100, False, 0),
            ("postgres+kafka defaults", RELAY_BATCH, True, lag_events),
        ]
        for config, batch, batched, lags in configs:
            if only is not None and only not in config:
                continue
            url, name = await _postgres_url()
            try:
                results.append(
                    await run_config(
                        config,
                        url,
                        kafka,
                        batch,
                        events,
                        batched=batched,
                        prefix=prefix,
                        topics=made,
                        lag_events=lags,
                    )
                )
            finally:
                await _drop(name)
    finally:
        await kafka.stop()
        if made:
            await _delete_topics(bootstrap, made)
    return results


def write(results: list[Result], load_before: float) -> None:
    RESULTS.mkdir(exist_ok=True)
    base = results[0]
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load_before:.1f} before the run and {os.getloadavg()[0]:.1f} at the "
        "end (other work on the machine slows every figure)"
    )
    lines = [
        "# Event pipeline",
        "",
        f"{base.events} events per configuration; {machine}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "Ratios are against the first row (higher is faster). consume/s counts all N events, "
        "from the relay's last publish to the last event applied (the consumer joined its "
        "group on the empty topic before the first write).",
        "",
        "| configuration | write/s | relay/s | consume/s | end to end | relay ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.config} | {r.write_per_s:,.0f} | {r.relay_per_s:,.0f} | "
            f"{r.consume_per_s:,.0f} | {r.end_to_end_s:.2f} s | "
            f"{r.relay_per_s / base.relay_per_s:.2f}x |"
        )
    for r in results:
        if r.idle_lag_p50_ms is not None:
            lines += [
                "",
                f"Idle commit -> publish lag ({r.config}, the relay's loop woken by the "
                "commit, events one at a time, each 50 ms after the previous one was "
                f"published): p50 {r.idle_lag_p50_ms:.1f} ms, p99 {r.idle_lag_p99_ms:.1f} ms, "
                f"max {r.idle_lag_max_ms:.1f} ms.",
            ]
    (RESULTS / "event_pipeline.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (RESULTS / "event_pipeline.json").write_text(
        json.dumps([asdict(r) for r in results], indent=2) + "\n", encoding="utf-8"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument(
        "--topic-prefix",
        default="bench.",
        help="prefix of the run's topic and consumer group names (default bench.)",
    )
    parser.add_argument(
        "--lag-events",
        type=int,
        default=50,
        help="lone events for the idle commit -> publish lag (0: not measured)",
    )
    parser.add_argument(
        "--only",
        default=None,
        help="run only the configurations whose name contains this text",
    )
    parser.add_argument(
        "--no-write",
        action="store_true",
        help="print the figures without writing bench/results/ (a scratch run)",
    )
    args = parser.parse_args()
    import uvloop

    load_before = os.getloadavg()[0]
    results = uvloop.run(
        main(args.events, args.topic_prefix, lag_events=args.lag_events, only=args.only)
    )
    if args.no_write:
        for result in results:
            print(json.dumps(asdict(result)))
    else:
        write(results, load_before)
