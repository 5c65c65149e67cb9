"""A fetched batch is applied in one transaction, with one inbox statement for all its ids.

On both stacks (SQLite + the in-process bus, PostgreSQL + Kafka): redeliveries inside a
batch and across batches apply nothing twice; a poison event in the middle of a batch goes
to the dead-letter topic alone while the events around it are applied once each, in order
per key; a handler marked ``solo`` gets a transaction of its own. (A batch committed and
then redelivered after a crash: ``test_consumer_crash.py``.)
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import registry

from emporium.kit.bus import Bus
from emporium.kit.consumer import solo
from emporium.kit.db import Database
from emporium.kit.events import Envelope
from emporium.kit.inbox import inbox_table

from ..conftest import TEST_METADATA
from .test_consumer import (
    apply_effect,
    consume,
    counter,
    effects,
    event,
    make_consumer,
    publish,
    receive,
)


async def test_redeliveries_within_and_across_batches_are_applied_once(
    database: Database, bus: Bus, unique: str
) -> None:
    keys = [uuid.uuid4() for _ in range(3)]
    first = [event(key, seq) for seq in range(10) for key in keys]
    await publish(bus, unique, first + first[:5])  # the relay published a few twice
    consumer = make_consumer(database, bus, unique, unique, batch_size=500)
    try:
        outcomes = await consume(consumer, 35)
        # The whole lot again (a relay that re-sent everything): nothing applies twice.
        await publish(bus, unique, first)
        outcomes += await consume(consumer, 30)
    finally:
        await consumer.close()

    assert Counter(outcomes) == {"handled": 30, "duplicate": 35}
    rows = await effects(database)
    assert sorted(event_id for event_id, _, _ in rows) == sorted(e.id for e in first)
    per_key: dict[str, list[int]] = defaultdict(list)
    for _, key, seq in rows:
        per_key[key].append(seq)
    assert per_key == {str(key): list(range(10)) for key in keys}
    async with database.session() as session:
        inbox_rows = await session.scalar(
            select(func.count())
            .select_from(inbox_table)
            .where(inbox_table.c.consumer_group == unique)
        )
    assert inbox_rows == 30


async def test_a_poison_event_in_a_batch_is_dead_lettered_alone(
    database: Database, bus: Bus, unique: str
) -> None:
    key = uuid.uuid4()
    other = uuid.uuid4()
    envelopes = [event(key, 1), event(other, 1), event(key, 666), event(other, 2), event(key, 3)]
    calls: Counter[int] = Counter()

    async def handler(session: AsyncSession, envelope: Envelope) -> None:
        calls[envelope.data["on_hand"]] += 1
        await apply_effect(session, envelope)
        if envelope.data["on_hand"] == 666:
            raise ValueError("cannot apply stock level 666")

    await bus.ensure_topics([unique], partitions=1)
    await publish(bus, unique, envelopes)
    consumer = make_consumer(database, bus, unique, unique, handler, max_attempts=3)
    try:
        outcomes = await consume(consumer, 5)
    finally:
        await consumer.close()

    # Delivery order: the poison one is the only casualty, the others are applied once.
    assert outcomes == ["handled", "handled", "dead_lettered", "handled", "handled"]
    assert [(k, seq) for _, k, seq in await effects(database)] == [
        (str(key), 1),
        (str(other), 1),
        (str(other), 2),
        (str(key), 3),
    ]
    assert calls[666] == 3, "the batch's attempt counts as the first of max_attempts"
    assert counter("emporium_dead_lettered_total", group=unique) == 1
    (letter,) = await receive(bus, f"{unique}.dlq", 1, group=f"{unique}-reader")
    assert letter.header("dlq-attempts") == "3"
    assert Envelope.from_bytes(letter.value).id == envelopes[2].id


async def test_handlers_of_a_batch_share_one_transaction_unless_marked_solo(
    database: Database, bus: Bus, unique: str
) -> None:
    sessions: list[AsyncSession] = []  # kept alive, so their ids stay distinct

    async def recording(session: AsyncSession, envelope: Envelope) -> None:
        sessions.append(session)
        await apply_effect(session, envelope)

    await bus.ensure_topics([unique], partitions=1)
    await publish(bus, unique, [event(uuid.uuid4(), n) for n in range(4)])
    batched = make_consumer(database, bus, unique, unique, recording)
    try:
        assert await consume(batched, 4) == ["handled"] * 4
    finally:
        await batched.close()
    assert len({id(s) for s in sessions}) == 1, "one fetch, one transaction"

    sessions.clear()
    await publish(bus, unique, [event(uuid.uuid4(), n) for n in range(3)])
    alone = make_consumer(database, bus, unique, unique, solo(recording))
    try:
        assert await consume(alone, 3) == ["handled"] * 3
    finally:
        await alone.close()
    assert len({id(s) for s in sessions}) == 3, "a solo handler gets a transaction per event"
    assert len(await effects(database)) == 7


class Note:
    """An ORM object on the tests' ``note`` table: its insert waits for the next flush."""

    def __init__(self, id: uuid.UUID, text: str | None) -> None:
        self.id = id
        self.text = text


registry().map_imperatively(Note, TEST_METADATA.tables["note"])


async def test_a_write_refused_at_flush_is_the_failure_of_the_event_that_made_it(
    database: Database, bus: Bus, unique: str
) -> None:
    # The ORM defers an insert to the next flush; the database refuses this one (text is
    # NOT NULL). Were it flushed at a later event or at the commit, every event before it
    # would look failed and the run would be redone one event at a time.
    key = uuid.uuid4()
    envelopes = [event(key, seq) for seq in range(10)]
    envelopes.insert(5, event(key, 666))
    calls: Counter[int] = Counter()

    async def handler(session: AsyncSession, envelope: Envelope) -> None:
        calls[envelope.data["on_hand"]] += 1
        if envelope.data["on_hand"] == 666:
            session.add(Note(uuid.uuid4(), None))
            return
        await apply_effect(session, envelope)

    await bus.ensure_topics([unique], partitions=1)
    await publish(bus, unique, envelopes)
    consumer = make_consumer(database, bus, unique, unique, handler, max_attempts=2)
    try:
        outcomes = await consume(consumer, 11)
    finally:
        await consumer.close()

    assert Counter(outcomes) == {"handled": 10, "dead_lettered": 1}
    assert [seq for _, _, seq in await effects(database)] == list(range(10))
    assert calls[666] == 2
    # The five before it: the run once, then once more as the committed prefix; none more.
    assert all(calls[seq] <= 2 for seq in range(10)), calls
