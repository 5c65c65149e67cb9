"""A kit consumer's database restarted, held in "starting up", or full, mid-stream.

200 events are consumed by an ``EventConsumer`` writing one effect row each into a private
PostgreSQL; while it works, that PostgreSQL is broken in one of three ways:

- restarted twice (``pg_ctl stop -m fast`` and ``-m immediate``, a crash, each down a few
  seconds): open connections are cut (57P01 / connection reset), new ones refused;
- held in "starting up" for 8 s: a real postmaster in recovery that refuses every client
  with FATAL 57P03;
- out of connection slots for 8 s: the consumer's connections are terminated and every
  free slot taken, so its reconnects get FATAL 53300.

None of it is the events' fault. Invariant: the dead-letter topic stays empty and every
event's effect is in the database exactly once (counted there, with the inbox rows).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from emporium_chaos_infra import APP_ROLE
from emporium_chaos_rig import ConsumerRig, make_rig

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(240)]

EVENTS = 200
HOLD_SECONDS = 8.0


@pytest.fixture
async def rig(healthy_infra: tuple[Any, Any], unique: str) -> AsyncIterator[ConsumerRig]:
    pg, kafka = healthy_infra
    made = await make_rig(pg, kafka, unique.replace("-", "_"), APP_ROLE)
    try:
        yield made
    finally:
        await made.close()
        pg.release_hogs()


async def _until(probe: Any, timeout: float, what: str) -> Any:
    """Poll ``probe`` (exceptions count as not yet) until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await probe()
            if last:
                return last
        except Exception as error:  # the database is being broken meanwhile
            last = error
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


async def _applied_at_least(rig: ConsumerRig, count: int) -> None:
    async def probe() -> bool:
        return (await rig.counts())[1] >= count

    await _until(probe, 60, f"{count} effects applied")


async def _fault_restart(rig: ConsumerRig) -> None:
    for mode, at in (("fast", 40), ("immediate", 110)):
        await _applied_at_least(rig, at)
        await asyncio.to_thread(rig.pg.stop, mode)
        await asyncio.sleep(3)
        await asyncio.to_thread(rig.pg.start)


async def _fault_starting_up(rig: ConsumerRig) -> None:
    await _applied_at_least(rig, 40)
    await asyncio.to_thread(rig.pg.hold_in_startup)
    try:
        with pytest.raises(asyncpg.CannotConnectNowError):  # the fault is real: 57P03
            await asyncpg.connect(rig.pg.url(rig.name), timeout=5)
        await asyncio.sleep(HOLD_SECONDS)
    finally:
        await asyncio.to_thread(rig.pg.release)


async def _fault_too_many_clients(rig: ConsumerRig) -> None:
    await _applied_at_least(rig, 40)
    try:
        await rig.pg.hog_connections(APP_ROLE)
        # Cut the consumer's own connections; its reconnects find the server full. Refill
        # after each cut (a reconnect may have won a freed slot).
        for _ in range(3):
            await rig.pg.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                f" WHERE datname = '{rig.name}' AND pid <> pg_backend_pid()"
            )
            await rig.pg.hog_connections(APP_ROLE)
        with pytest.raises(asyncpg.TooManyConnectionsError):  # the fault is real: 53300
            await asyncpg.connect(rig.pg.url(rig.name, user=APP_ROLE), timeout=5)
        await asyncio.sleep(HOLD_SECONDS)
    finally:
        await rig.pg.release_hogs_async()


FAULTS = {
    "restart": _fault_restart,
    "starting-up": _fault_starting_up,
    "too-many-clients": _fault_too_many_clients,
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_a_database_fault_mid_stream_dead_letters_nothing_and_applies_each_event_once(
    rig: ConsumerRig, fault: str
) -> None:
    """Invariant: DLQ empty; each of the 200 events applied exactly once (effect + inbox)."""
    await rig.publish(EVENTS)
    consumer = rig.consumer(delay=0.03)
    await consumer.start()
    await FAULTS[fault](rig)
    before_end = (await _until(rig.counts, 30, "the database back"))[1]
    assert before_end < EVENTS, "the stream ended before the fault: the test proves nothing"

    async def settled() -> bool:
        distinct = (await rig.counts())[1]
        return distinct >= EVENTS or (distinct + await rig.dead_letters()) >= EVENTS

    with contextlib.suppress(AssertionError):
        await _until(settled, 120, "every event applied or dead-lettered")
    assert await rig.dead_letters() == 0, "an event was dead-lettered for a database fault"
    rows, distinct, inbox = await rig.counts()
    assert (rows, distinct, inbox) == (EVENTS, EVENTS, EVENTS), (
        f"effects {rows}, distinct {distinct}, inbox {inbox}: expected {EVENTS} each"
    )
    assert await rig.applied_ids() == set(rig.published)
    assert consumer.health() is None, "the consumer loop did not survive the fault"
