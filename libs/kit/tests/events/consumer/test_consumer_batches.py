"""A fetched batch is applied in one transaction, with one inbox statement for all its ids.

On both stacks (SQLite + the in-process bus, PostgreSQL + Kafka): redeliveries inside a
batch and across batches apply nothing twice, and so does a batch redelivered with some of
its events already applied; a poison event in the middle of a batch goes to the
dead-letter topic alone while the events around it are applied once each, in order per key;
a write the database refuses is the failure of the event that made it, though the batch's
writes are flushed together at its commit; a handler sees the writes of the events before
it; a handler marked ``solo`` gets a transaction of its own. (A batch committed and then
redelivered after a crash of a real process: ``test_consumer_crash.py``.)
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
from emporium.kit.inbox import claim_many, inbox_table

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


class Slot:
    """An ORM object on the tests' ``slot`` table (``name`` unique)."""

    def __init__(self, id: uuid.UUID, name: str) -> None:
        self.id = id
        self.name = name


mapper_registry = registry()
mapper_registry.map_imperatively(Note, TEST_METADATA.tables["note"])
mapper_registry.map_imperatively(Slot, TEST_METADATA.tables["slot"])


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
    # Its insert was refused first at the next event's autoflush (not counted: it could
    # have been any earlier event's write), then in the run flushed per event (its first
    # attempt), then alone (its second and last).
    assert calls[666] == 3
    # The five before it: the run, the run flushed per event that found the refused write,
    # the prefix committed; none more.
    assert all(calls[seq] <= 3 for seq in range(10)), calls


async def test_a_write_refused_at_the_commit_is_put_on_the_event_that_made_it(
    database: Database, bus: Bus, unique: str
) -> None:
    # The last event's insert is flushed only by the commit, which names no event: the run
    # is applied again flushing after each handler, and that finds it.
    key = uuid.uuid4()
    envelopes = [event(key, seq) for seq in range(6)] + [event(key, 666)]

    async def handler(session: AsyncSession, envelope: Envelope) -> None:
        seq = envelope.data["on_hand"]
        await apply_effect(session, envelope)
        session.add(Note(uuid.uuid4(), None if seq == 666 else f"note {seq}"))

    await bus.ensure_topics([unique], partitions=1)
    await publish(bus, unique, envelopes)
    consumer = make_consumer(database, bus, unique, unique, handler, max_attempts=2)
    try:
        outcomes = await consume(consumer, 7)
    finally:
        await consumer.close()

    assert outcomes == ["handled"] * 6 + ["dead_lettered"]
    assert [seq for _, _, seq in await effects(database)] == list(range(6))
    async with database.session() as session:
        notes = await session.scalar(select(func.count()).select_from(TEST_METADATA.tables["note"]))
    assert notes == 6
    (letter,) = await receive(bus, f"{unique}.dlq", 1, group=f"{unique}-reader")
    assert Envelope.from_bytes(letter.value).id == envelopes[-1].id


async def test_a_handler_sees_the_writes_of_the_events_before_it_in_its_batch(
    database: Database, bus: Bus, unique: str
) -> None:
    # The ORM's inserts wait for the commit, but a query flushes them first (autoflush):
    # each handler counts the notes of the events before it.
    counted: list[int] = []

    async def handler(session: AsyncSession, envelope: Envelope) -> None:
        counted.append(
            await session.scalar(select(func.count()).select_from(TEST_METADATA.tables["note"]))
            or 0
        )
        session.add(Note(uuid.uuid4(), f"note {envelope.data['on_hand']}"))

    await bus.ensure_topics([unique], partitions=1)
    await publish(bus, unique, [event(uuid.uuid4(), n) for n in range(5)])
    consumer = make_consumer(database, bus, unique, unique, handler)
    try:
        assert await consume(consumer, 5) == ["handled"] * 5
    finally:
        await consumer.close()
    assert counted == [0, 1, 2, 3, 4]


async def test_a_redelivered_batch_of_new_and_already_applied_events_applies_each_once(
    database: Database, bus: Bus, unique: str
) -> None:
    # What a member that crashed after committing a batch but before committing its
    # offsets leaves behind: some events applied (inbox rows and effects committed), the
    # whole lot delivered again, mixed with events never seen.
    keys = [uuid.uuid4() for _ in range(2)]
    envelopes = [event(key, seq) for seq in range(8) for key in keys]
    applied_before = envelopes[::3]
    async with database.session() as session:
        await claim_many(session, unique, [(e.id, e.type) for e in applied_before])
        for envelope in applied_before:
            session.add(Note(envelope.id, f"note {envelope.data['on_hand']}"))

    async def handler(session: AsyncSession, envelope: Envelope) -> None:
        session.add(Note(envelope.id, f"note {envelope.data['on_hand']}"))  # id: the event's
        await apply_effect(session, envelope)

    await bus.ensure_topics([unique], partitions=1)
    await publish(bus, unique, envelopes + envelopes[:4])  # and a few published twice
    consumer = make_consumer(database, bus, unique, unique, handler, batch_size=500)
    try:
        outcomes = await consume(consumer, len(envelopes) + 4)
    finally:
        await consumer.close()

    new = [e for e in envelopes if e not in applied_before]
    assert Counter(outcomes) == {"handled": len(new), "duplicate": len(applied_before) + 4}
    rows = await effects(database)
    assert [event_id for event_id, _, _ in rows] == [e.id for e in new], "once each, in order"
    async with database.session() as session:
        note_ids = set(await session.scalars(select(TEST_METADATA.tables["note"].c.id)))
    assert note_ids == {e.id for e in envelopes}


async def test_writes_refused_only_when_flushed_together_cost_no_event_an_attempt(
    database: Database, bus: Bus, unique: str
) -> None:
    # One event frees a slot's name, the next takes it. Flushed together the ORM inserts
    # before it deletes, so the name is still taken and the database refuses the insert,
    # at the second one's autoflush: no event's fault. The run is applied again flushing
    # after each handler, and commits; with max_attempts=1 a misplaced failure would have
    # dead-lettered an event.
    async with database.session() as session:
        session.add(Slot(uuid.uuid4(), "a"))
    key = uuid.uuid4()
    envelopes = [event(key, seq) for seq in range(5)]

    async def handler(session: AsyncSession, envelope: Envelope) -> None:
        seq = envelope.data["on_hand"]
        if seq == 2:  # its effect's insert flushes the delete before and this insert
            session.add(Slot(uuid.uuid4(), "a"))
        await apply_effect(session, envelope)
        if seq == 1:  # nothing of its own flushes the delete
            taken = (await session.scalars(select(Slot).where(Slot.name == "a"))).one()
            await session.delete(taken)

    await bus.ensure_topics([unique], partitions=1)
    await publish(bus, unique, envelopes)
    consumer = make_consumer(database, bus, unique, unique, handler, max_attempts=1)
    try:
        outcomes = await consume(consumer, 5)
    finally:
        await consumer.close()

    assert outcomes == ["handled"] * 5
    assert [seq for _, _, seq in await effects(database)] == list(range(5))
    assert counter("emporium_dead_lettered_total", group=unique) == 0
    async with database.session() as session:
        assert len((await session.scalars(select(Slot))).all()) == 1
