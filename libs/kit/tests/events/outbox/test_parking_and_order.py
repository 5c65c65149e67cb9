"""Publish order by the database's sequence, and parked rows, on both stacks.

Each test states its invariant and checks it from the outbox table and the topic: the
relay's own counters and logs are never the evidence.
"""

from __future__ import annotations

import argparse
import io
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Uuid, column, insert, select, table, update

from emporium.contracts.catalog import StockChanged
from emporium.kit.bus import Bus, Delivery
from emporium.kit.bus.base import BusUnavailable, Record, Subscription
from emporium.kit.db import Database
from emporium.kit.events import Envelope
from emporium.kit.metrics import REGISTRY
from emporium.kit.outbox import Outbox, OutboxMessage, utcnow
from emporium.kit.outbox_cli import run as run_cli
from emporium.kit.relay import OutboxDegraded, OutboxRelay
from emporium.kit.testing import eventually

NOTE = table("note", column("id", Uuid), column("text"))

# -- helpers -------------------------------------------------------------------------------


def stock(product: uuid.UUID, seq: int) -> StockChanged:
    """An event whose ``on_hand`` carries a sequence number."""
    return StockChanged(product_id=product, on_hand=seq, reserved=0, available=seq)


async def write(
    database: Database, outbox: Outbox, topic: str, events: Sequence[tuple[uuid.UUID, int]]
) -> list[Envelope]:
    async with database.session() as session:
        await session.execute(insert(NOTE).values(id=uuid.uuid4(), text="written with events"))
        return [
            await outbox.add(session, stock(key, seq), key=key, topic=topic) for key, seq in events
        ]


async def write_big(
    database: Database, outbox: Outbox, topic: str, key: uuid.UUID, seq: int, size: int
) -> Envelope:
    """An event whose envelope is about ``size`` bytes (an extra field: tolerant readers)."""
    async with database.session() as session:
        envelope = await outbox.add(session, stock(key, seq), key=key, topic=topic)
        grown = envelope.to_bytes().replace(b'"data":{', b'"data":{"blob":"' + b"x" * size + b'",')
        assert len(grown) > size
        assert Envelope.from_bytes(grown).data["on_hand"] == seq
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id == envelope.id).values(envelope=grown)
        )
        return envelope


async def receive_all(bus: Bus, topic: str, *, group: str, until: int) -> list[Delivery]:
    """Read ``topic`` with a fresh group until ``until`` records came (then a little more)."""
    subscription = bus.subscribe([topic], group)
    await subscription.start()
    received: list[Delivery] = []

    async def probe() -> bool:
        received.extend(await subscription.poll(timeout=0.2))
        assert len(received) >= until, f"received {len(received)} of {until}"
        return True

    try:
        await eventually(probe, timeout=60)
        received.extend(await subscription.poll(timeout=0.5))  # nothing more should come
    finally:
        await subscription.stop()
    return received


def sequences(deliveries: Sequence[Delivery]) -> dict[str, list[int]]:
    per_key: dict[str, list[int]] = defaultdict(list)
    for delivery in deliveries:
        envelope = Envelope.from_bytes(delivery.value)
        per_key[envelope.key].append(int(envelope.data["on_hand"]))
    return dict(per_key)


async def rows_by_status(database: Database) -> dict[str, list[tuple[str, int]]]:
    """status -> [(key, on_hand)] in seq order, read from the table."""
    async with database.session() as session:
        rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.seq))).all()
    found: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for row in rows:
        found[row.status].append((row.key, int(Envelope.from_bytes(row.envelope).data["on_hand"])))
    return dict(found)


def parked_gauge(service: str) -> float:
    return REGISTRY.get_sample_value("emporium_outbox_parked", {"service": service}) or 0.0


def cli(command: str, *rows: str, all_rows: bool = False) -> argparse.Namespace:
    return argparse.Namespace(
        command=command, status="parked", limit=100, row=rows[0] if rows else None,
        rows=list(rows), all=all_rows,
    )  # fmt: skip


class RefusingBus(Bus):
    """The real bus, except that records of one topic fail while the bus keeps answering."""

    def __init__(self, inner: Bus, refused_topic: str) -> None:
        self.inner = inner
        self.refused_topic = refused_topic

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def publish(self, records: Sequence[Record]) -> None:
        if any(record.topic == self.refused_topic for record in records):
            raise BusUnavailable(f"the broker refuses {self.refused_topic} (a test fault)")
        await self.inner.publish(records)

    def subscribe(self, topics: Sequence[str], group: str) -> Subscription:
        return self.inner.subscribe(topics, group)

    async def ensure_topics(
        self,
        topics: Sequence[str],
        partitions: int = 3,
        *,
        config: Mapping[str, str] | None = None,
    ) -> None:
        await self.inner.ensure_topics(topics, partitions, config=config)

    async def topic_config(self, topic: str) -> dict[str, str]:
        return await self.inner.topic_config(topic)

    async def ping(self) -> None:
        await self.inner.ping()


def skewed(offset: timedelta) -> Callable[[], datetime]:
    return lambda: utcnow() + offset


# -- order ---------------------------------------------------------------------------------


async def test_events_of_one_key_are_published_in_commit_order_whatever_the_writers_clocks(
    database: Database, bus: Bus, unique: str
) -> None:
    """Invariant: two writers whose clocks disagree publish one key in commit order.

    Writer A's clock is an hour ahead of writer B's (far more than the writes can take
    apart, however loaded the machine); A commits first, B second, so their ``created_at``
    are reversed and a relay ordering by it would publish [2, 1, 4, 3].
    """
    ahead, behind = Outbox(unique, clock=skewed(timedelta(hours=1))), Outbox(unique)
    key = uuid.uuid4()
    for seq, writer in enumerate([ahead, behind, ahead, behind], start=1):
        await write(database, writer, unique, [(key, seq)])
    async with database.session() as session:
        created = (await session.scalars(select(OutboxMessage.created_at))).all()
    assert created[0] > created[1], "the skew did not reverse the writers' clocks"

    await OutboxRelay(database, bus, service_name=unique).drain()

    received = await receive_all(bus, unique, group=f"{unique}-reader", until=4)
    assert sequences(received) == {str(key): [1, 2, 3, 4]}


# -- parking -------------------------------------------------------------------------------


async def test_an_oversized_event_is_parked_and_holds_back_only_its_own_key(
    database: Database, bus: Bus, unique: str
) -> None:
    """Invariant: a 1.1 MB event is parked at once; every other key is published, and the
    later events of its key wait behind it (they are neither published nor parked)."""
    outbox = Outbox(unique)
    a, big, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await write(database, outbox, unique, [(a, 1), (c, 1)])
    await write_big(database, outbox, unique, big, 1, 1_100_000)
    await write(database, outbox, unique, [(a, 2), (big, 2), (c, 2)])
    relay = OutboxRelay(database, bus, service_name=unique)

    assert await relay.drain() == 4
    assert await relay.run_once() == 0, "a later cycle let an event overtake the parked one"
    await relay.refresh_metrics()

    received = await receive_all(bus, unique, group=f"{unique}-reader", until=4)
    assert sequences(received) == {str(a): [1, 2], str(c): [1, 2]}
    assert await rows_by_status(database) == {
        "sent": [(str(a), 1), (str(c), 1), (str(a), 2), (str(c), 2)],
        "parked": [(str(big), 1)],
        "pending": [(str(big), 2)],
    }
    async with database.session() as session:
        parked = await session.scalar(select(OutboxMessage).where(OutboxMessage.status == "parked"))
    assert parked is not None
    assert "over the limit of 1048576" in (parked.last_error or "")
    assert parked_gauge(unique) == 1
    assert relay.degraded() is not None
    with pytest.raises(OutboxDegraded):
        await relay.check_parked()


async def test_a_row_held_behind_a_row_parked_in_its_own_batch_is_left_as_it_was(
    database: Database, bus: Bus, unique: str
) -> None:
    """Invariant: claiming marks a batch sent inside the cycle's transaction (PostgreSQL);
    a row of that batch held behind its key's row parked in the same cycle ends the cycle
    exactly as it began: pending, never sent, its earlier failure still recorded."""
    outbox = Outbox(unique)
    key = uuid.uuid4()
    await write_big(database, outbox, unique, key, 1, 1_100_000)
    (held,) = await write(database, outbox, unique, [(key, 2)])
    async with database.session() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == held.id)
            .values(attempts=1, last_error="BusUnavailable: an earlier outage")
        )
    relay = OutboxRelay(database, bus, service_name=unique)

    assert await relay.drain() == 0

    async with database.session() as session:
        row = await session.get(OutboxMessage, held.id)
    assert row is not None
    assert (row.status, row.sent_at, row.attempts, row.last_error) == (
        "pending",
        None,
        1,
        "BusUnavailable: an earlier outage",
    )
    assert await rows_by_status(database) == {"parked": [(str(key), 1)], "pending": [(str(key), 2)]}


async def test_a_retried_parked_row_goes_out_before_the_rows_it_held_back(
    database: Database, bus: Bus, unique: str
) -> None:
    """Invariant: after ``emporium-outbox retry`` (and the cause fixed: a higher limit), the
    parked row and then the rows of its key it held back are published, in seq order."""
    outbox = Outbox(unique)
    key, other = uuid.uuid4(), uuid.uuid4()
    await write_big(database, outbox, unique, key, 1, 6000)
    await write(database, outbox, unique, [(key, 2), (other, 1), (key, 3)])
    strict = OutboxRelay(database, bus, service_name=unique, max_record_bytes=4096)
    assert await strict.drain() == 1  # only the other key
    await strict.refresh_metrics()
    assert parked_gauge(unique) == 1

    out, err = io.StringIO(), io.StringIO()
    assert await run_cli(cli("list"), database, out=out, err=err) == 0
    (line,) = out.getvalue().splitlines()
    assert line.startswith("seq=1 ")
    assert "status=parked" in line
    assert "over the limit" in line
    out = io.StringIO()
    assert await run_cli(cli("retry", "1"), database, out=out, err=err) == 0
    assert out.getvalue().startswith("un-parked seq=1 ")

    relay = OutboxRelay(database, bus, service_name=unique)  # the default limit: 1 MiB
    assert await relay.drain() == 3
    await relay.refresh_metrics()

    received = await receive_all(bus, unique, group=f"{unique}-reader", until=4)
    assert sequences(received) == {str(other): [1], str(key): [1, 2, 3]}
    assert list(await rows_by_status(database)) == ["sent"]
    assert parked_gauge(unique) == 0
    assert relay.degraded() is None


async def test_an_envelope_that_no_longer_parses_and_an_invalid_topic_are_parked_at_once(
    database: Database, bus: Bus, unique: str
) -> None:
    """Invariant: rows that can never be published are parked on their first attempt, and
    the batch around them is published."""
    outbox = Outbox(unique)
    broken, badly_addressed, fine = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    (envelope,) = await write(database, outbox, unique, [(broken, 1)])
    await write(database, outbox, "not a topic!", [(badly_addressed, 1)])
    await write(database, outbox, unique, [(fine, 1), (fine, 2)])
    async with database.session() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == envelope.id)
            .values(envelope=b'{"id": "not a uuid", "truncated')
        )
    relay = OutboxRelay(database, bus, service_name=unique)

    assert await relay.run_once() == 2

    received = await receive_all(bus, unique, group=f"{unique}-reader", until=2)
    assert sequences(received) == {str(fine): [1, 2]}
    async with database.session() as session:
        parked = (
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.status == "parked")
                .order_by(OutboxMessage.seq)
            )
        ).all()
    assert [(row.key, row.attempts) for row in parked] == [
        (str(broken), 0),
        (str(badly_addressed), 0),
    ]
    assert "no longer parses" in (parked[0].last_error or "")
    assert "not a valid topic name" in (parked[1].last_error or "")


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda raw: b"[1, 2, 3]", id="not an object"),
        pytest.param(lambda raw: raw.replace(b'"data":{', b'"nodata":{'), id="no data"),
        pytest.param(lambda raw: raw.replace(b'"type":"', b'"type":"other.'), id="another type"),
        pytest.param(
            lambda raw: Envelope.from_bytes(raw).model_copy(update={"id": uuid.uuid4()}).to_bytes(),
            id="another row's envelope",
        ),
        pytest.param(lambda raw: raw.replace(b'"trace":{}', b'"trace":{"a":1}'), id="bad trace"),
    ],
)
async def test_json_that_is_not_the_rows_envelope_is_parked_not_published(
    database: Database, bus: Bus, unique: str, corrupt: Callable[[bytes], bytes]
) -> None:
    """Invariant: the relay publishes a row's envelope only if it is one, and the row's."""
    outbox = Outbox(unique)
    broken, fine = uuid.uuid4(), uuid.uuid4()
    (envelope,) = await write(database, outbox, unique, [(broken, 1)])
    await write(database, outbox, unique, [(fine, 1)])
    corrupted = corrupt(envelope.to_bytes())
    assert corrupted != envelope.to_bytes()
    async with database.session() as session:
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id == envelope.id).values(envelope=corrupted)
        )
    relay = OutboxRelay(database, bus, service_name=unique)

    assert await relay.run_once() == 1

    received = await receive_all(bus, unique, group=f"{unique}-reader", until=1)
    assert sequences(received) == {str(fine): [1]}
    async with database.session() as session:
        parked = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.status == "parked"))
        ).all()
    assert [row.id for row in parked] == [envelope.id]
    assert "no longer parses" in (parked[0].last_error or "")


async def test_a_row_the_bus_keeps_refusing_is_parked_after_its_attempts_and_others_flow(
    database: Database, bus: Bus, unique: str
) -> None:
    """Invariant: a row that fails while the bus answers is retried ``max_attempts`` times,
    then parked; the rows of other keys (here: another topic) are published meanwhile, also
    those in the same batch as the failing row."""
    outbox = Outbox(unique)
    refused, fine = uuid.uuid4(), uuid.uuid4()
    await write(database, outbox, f"{unique}-refused", [(refused, 1)])
    await write(database, outbox, unique, [(fine, 1)])
    await write(database, outbox, f"{unique}-refused", [(refused, 2)])
    await write(database, outbox, unique, [(fine, 2)])
    relay = OutboxRelay(
        database,
        RefusingBus(bus, f"{unique}-refused"),
        service_name=unique,
        max_attempts=3,
        base_backoff=0.01,
        max_backoff=0.05,
    )

    async def parked() -> bool:
        await relay.run_once()
        statuses = await rows_by_status(database)
        assert statuses.get("parked") == [(str(refused), 1)], statuses
        return True

    await eventually(parked, timeout=30)

    received = await receive_all(bus, unique, group=f"{unique}-reader", until=2)
    assert sequences(received) == {str(fine): [1, 2]}
    async with database.session() as session:
        rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.seq))).all()
    assert [(row.status, row.attempts) for row in rows] == [
        ("parked", 3),
        ("sent", 0),
        ("pending", 0),  # held back behind the parked row: never tried, never charged
        ("sent", 0),
    ]
    assert "refuses" in (rows[0].last_error or "")


async def test_an_outage_never_parks_a_row_and_it_goes_out_when_the_bus_is_back(
    database: Database, bus: Bus, unique: str
) -> None:
    """Invariant: while the bus does not answer, failed attempts stop at half of
    ``max_attempts`` and nothing is parked; once it is back, everything is published."""
    outbox = Outbox(unique)
    key = uuid.uuid4()
    await write(database, outbox, unique, [(key, 1), (key, 2)])
    relay = OutboxRelay(
        database, bus, service_name=unique, max_attempts=4, base_backoff=0.01, max_backoff=0.01
    )
    await bus.stop()

    async def charged_to_the_cap() -> bool:
        assert await relay.run_once() == 0
        async with database.session() as session:
            rows = (await session.scalars(select(OutboxMessage))).all()
        assert {(row.status, row.attempts) for row in rows} == {("pending", 2)}
        return True

    await eventually(charged_to_the_cap, timeout=30)
    for _ in range(3):  # more failed cycles change nothing
        await eventually(lambda: _due(database), timeout=10)
        assert await relay.run_once() == 0
    assert set(await rows_by_status(database)) == {"pending"}

    await bus.start()

    async def published() -> bool:
        await relay.run_once()
        assert set(await rows_by_status(database)) == {"sent"}
        return True

    await eventually(published, timeout=30)
    received = await receive_all(bus, unique, group=f"{unique}-reader", until=2)
    assert sequences(received) == {str(key): [1, 2]}


async def test_parked_rows_degrade_the_relay_but_never_its_liveness(
    database: Database, bus: Bus, unique: str
) -> None:
    """Invariant: the running relay reports parked rows through ``degraded``/``check_parked``
    (readiness, non-critical) while ``health`` (liveness) stays None, and it keeps publishing
    the other keys."""
    outbox = Outbox(unique)
    stuck, fine = uuid.uuid4(), uuid.uuid4()
    await write_big(database, outbox, unique, stuck, 1, 5000)
    relay = OutboxRelay(
        database, bus, service_name=unique, poll_seconds=0.1, max_record_bytes=4096, listen=False
    )
    await relay.start()
    try:
        await eventually(lambda: _true(relay.parked == 1), timeout=30)
        assert relay.health() is None
        assert relay.degraded() is not None
        await write(database, outbox, unique, [(fine, 1)])
        received = await receive_all(bus, unique, group=f"{unique}-reader", until=1)
        assert sequences(received) == {str(fine): [1]}
        assert relay.health() is None
    finally:
        await relay.stop()


async def test_the_cli_shows_one_row_and_refuses_unknown_ones(
    database: Database, unique: str
) -> None:
    """Invariant: ``show`` prints the row's envelope; an unknown ROW exits 1 and changes
    nothing; ``retry`` of a pending row is refused."""
    outbox = Outbox(unique)
    (envelope,) = await write(database, outbox, unique, [(uuid.uuid4(), 7)])
    out, err = io.StringIO(), io.StringIO()

    assert await run_cli(cli("show", str(envelope.id)), database, out=out, err=err) == 0
    assert f"id={envelope.id}" in out.getvalue()
    assert '"on_hand": 7' in out.getvalue()
    assert await run_cli(cli("show", "999"), database, out=out, err=err) == 1
    assert await run_cli(cli("retry", "1"), database, out=out, err=err) == 1
    assert "already pending" in err.getvalue()
    assert await run_cli(cli("retry", all_rows=True), database, out=out, err=err) == 0
    assert "nothing to retry" in err.getvalue()


async def _true(value: bool) -> bool:
    return value


async def _due(database: Database) -> bool:
    from emporium.kit.outbox import database_clock

    async with database.session() as session:
        now = await session.scalar(select(database_clock()))
        waiting = await session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.next_attempt_at > now).limit(1)
        )
    return waiting is None
