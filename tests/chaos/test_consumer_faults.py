"""A consumer killed in the middle of a batch, and a rebalance while a handler runs.

Both on the private PostgreSQL and Kafka, 200 events each, effects counted in the database:

- a consumer process (``consumer_proc.py``, a slow handler) is SIGKILLed after some effects,
  with applied events whose offsets were never committed; a new process takes over;
- a second member joins the group while the first one's slow handler is running, so the
  first one's partitions are revoked under it and handed to the newcomer.

Invariant of both: every event's effect is in the database exactly once, none is lost, and
the dead-letter topic stays empty.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from emporium_chaos_infra import APP_ROLE
from emporium_chaos_rig import ConsumerRig, make_rig

from emporium.kit.bus.kafka import KafkaBus

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(240)]

CONSUMER_PROC = Path(__file__).with_name("consumer_proc.py")
EVENTS = 200


@pytest.fixture
async def rig(healthy_infra: tuple[Any, Any], unique: str) -> AsyncIterator[ConsumerRig]:
    pg, kafka = healthy_infra
    made = await make_rig(pg, kafka, unique.replace("-", "_"), APP_ROLE)
    try:
        yield made
    finally:
        await made.close()


async def _until(probe: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


async def _applied(rig: ConsumerRig, count: int, timeout: float = 60) -> None:
    async def probe() -> bool:
        return (await rig.counts())[1] >= count

    await _until(probe, timeout, f"{count} events applied")


async def _committed(rig: ConsumerRig) -> int:
    """Offsets the group has committed, summed over the topic's partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=rig.kafka.bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(rig.group)
    finally:
        await admin.close()
    return sum(max(0, meta.offset) for tp, meta in offsets.items() if tp.topic == rig.topic)


async def _spawn(rig: ConsumerRig, delay: float) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CONSUMER_PROC),
        rig.url,
        rig.kafka.bootstrap,
        rig.group,
        rig.topic,
        str(delay),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
    assert line.strip() == b"started", line
    return process


async def _assert_each_once(rig: ConsumerRig) -> None:
    await _applied(rig, EVENTS, timeout=120)
    rows, distinct, inbox = await rig.counts()
    assert (rows, distinct, inbox) == (EVENTS, EVENTS, EVENTS), (
        f"effects {rows}, distinct {distinct}, inbox {inbox}: expected {EVENTS} each"
    )
    assert await rig.applied_ids() == set(rig.published)
    assert await rig.dead_letters() == 0


async def test_a_consumer_sigkilled_mid_batch_loses_nothing_and_applies_nothing_twice(
    rig: ConsumerRig,
) -> None:
    """Invariant: after a SIGKILL with applied-but-uncommitted events, each applied once."""
    await rig.publish(EVENTS)
    first = await _spawn(rig, delay=0.05)
    try:
        await _applied(rig, 30)
        first.kill()
        await first.wait()
        applied_at_kill = (await rig.counts())[1]
        committed_at_kill = await _committed(rig)
        assert committed_at_kill < applied_at_kill, (
            "the kill did not land mid-batch: every applied event was already committed"
        )
        assert applied_at_kill < EVENTS
        second = await _spawn(rig, delay=0.0)
        try:
            await _assert_each_once(rig)
        finally:
            second.terminate()
            await second.wait()
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()


async def test_a_rebalance_while_a_handler_runs_applies_each_event_once(
    rig: ConsumerRig,
) -> None:
    """Invariant: a member joining mid-handler splits the work; each event applied once."""
    await rig.publish(EVENTS)
    # 0.25 s an event: the 180 left after the first 20 take the first member 45 s, so a
    # newcomer whose join takes seconds on a loaded machine still finds events in the
    # partitions it is given (at 0.1 s a loaded CI run once saw the newcomer apply none).
    # Each partition holds a third of the events (``publish`` spreads the keys): the first
    # member drains one partition at a time, and a partition holding few events could be
    # done before the newcomer was given it.
    first = rig.consumer(delay=0.25, tag="first")
    await first.start()
    await _applied(rig, 20)
    second_bus = KafkaBus(rig.kafka.bootstrap, request_timeout=10)
    await second_bus.start()
    try:
        second = rig.consumer(delay=0.01, bus=second_bus, tag="second")
        await second.start()  # joins while the first member's slow handler is mid-batch
        await _assert_each_once(rig)
        members = {
            row[0]
            for row in await rig.pg.fetch("SELECT DISTINCT key FROM effect", database=rig.name)
        }
        assert members == {"first", "second"}, f"the rebalance did not happen: {members}"
        assert first.health() is None
        assert second.health() is None
    finally:
        await second.stop()
        await second_bus.stop()
