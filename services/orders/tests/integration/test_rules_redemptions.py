"""Redemptions of a limited code on SQLite and PostgreSQL, through ``rules.redemptions``
itself: however many checkouts race, at most ``usage_limit`` orders hold the code, and a
use given back is given back once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy import select

from emporium.kit.db import Database
from emporium.kit.migrations import upgrade_to_head
from emporium.orders.rules import redemptions, repository, service
from emporium.orders.rules.models import Promotion, PromotionRedemption
from emporium.orders.rules.schemas import PROMOTION_IN

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
RACERS = 50


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    await asyncio.to_thread(upgrade_to_head, MIGRATIONS, database_url)
    # One connection per racer, so that all 50 are in the database at once.
    db = Database(database_url, pool_size=RACERS // 2)
    yield db
    await db.dispose()


async def create_code(database: Database, **fields: object) -> UUID:
    """A code promotion made as the admin API makes it."""
    data = {"name": "One off", "kind": "percentage", "value": 10, "code": "ONCE"} | fields
    async with database.session() as session:
        row = await service.create_promotion(session, PROMOTION_IN.validate_python(data))
        return row.id


async def used_count(database: Database, promotion_id: UUID) -> int:
    async with database.session() as session:
        count = await session.scalar(
            select(Promotion.used_count).where(Promotion.id == promotion_id)
        )
    assert count is not None
    return count


async def reserve(database: Database, promotion_id: UUID, order_id: UUID, customer: UUID) -> bool:
    async with database.session() as session:
        return await redemptions.reserve(
            session, promotion_id, order_id=order_id, customer_id=customer
        )


async def release(database: Database, order_id: UUID) -> None:
    async with database.session() as session:
        await redemptions.release(session, order_id)


async def test_fifty_racing_checkouts_get_a_one_use_code_once(database: Database) -> None:
    promotion_id = await create_code(database, usage_limit=1)
    orders = [uuid.uuid4() for _ in range(RACERS)]
    start = asyncio.Event()

    async def checkout(order_id: UUID) -> bool:
        await start.wait()
        return await reserve(database, promotion_id, order_id, uuid.uuid4())

    racers = [asyncio.create_task(checkout(order_id)) for order_id in orders]
    start.set()
    won = await asyncio.gather(*racers)

    assert won.count(True) == 1
    assert await used_count(database, promotion_id) == 1
    winner = orders[won.index(True)]
    async with database.session() as session:
        held = (await session.scalars(select(PromotionRedemption))).all()
    assert [(r.order_id, r.status) for r in held] == [(winner, "reserved")]

    # The winning order is rejected: the code is free for one more order, and only one.
    await release(database, winner)
    assert await used_count(database, promotion_id) == 0
    late = [uuid.uuid4() for _ in range(5)]
    retried = await asyncio.gather(
        *(reserve(database, promotion_id, o, uuid.uuid4()) for o in late)
    )
    assert retried.count(True) == 1
    assert await used_count(database, promotion_id) == 1


async def test_a_use_is_given_back_once_however_often_it_is_released(database: Database) -> None:
    promotion_id = await create_code(database, usage_limit=2)
    first, second = uuid.uuid4(), uuid.uuid4()
    assert await reserve(database, promotion_id, first, uuid.uuid4())
    assert await reserve(database, promotion_id, second, uuid.uuid4())
    assert not await reserve(database, promotion_id, uuid.uuid4(), uuid.uuid4())  # used up

    await release(database, first)
    await release(database, first)  # e.g. rejected, then the same event delivered again
    await asyncio.gather(*(release(database, first) for _ in range(10)))  # or racing
    assert await used_count(database, promotion_id) == 1
    await release(database, uuid.uuid4())  # an order without a code: nothing happens
    assert await used_count(database, promotion_id) == 1

    # One use left: one more order gets it; a released order does not get it back.
    assert await reserve(database, promotion_id, uuid.uuid4(), uuid.uuid4())
    assert not await reserve(database, promotion_id, first, uuid.uuid4())
    assert await used_count(database, promotion_id) == 2


async def test_a_confirmed_order_redeems_and_a_cancellation_still_gives_it_back(
    database: Database,
) -> None:
    promotion_id = await create_code(database, usage_limit=1)
    order_id = uuid.uuid4()
    assert await reserve(database, promotion_id, order_id, uuid.uuid4())
    # The placing transaction retried with the same order: it keeps its one use.
    assert await reserve(database, promotion_id, order_id, uuid.uuid4())
    assert await used_count(database, promotion_id) == 1

    async with database.session() as session:
        await redemptions.redeem(session, order_id)
    async with database.session() as session:
        row = await session.get(PromotionRedemption, order_id)
        assert row is not None
        assert row.status == "redeemed"
    await release(database, order_id)  # confirmed, then cancelled before shipping
    assert await used_count(database, promotion_id) == 0
    async with database.session() as session:
        await redemptions.redeem(session, order_id)  # too late: stays released
        row = await session.get(PromotionRedemption, order_id)
        assert row is not None
        assert row.status == "released"


async def test_a_customer_s_uses_count_the_orders_holding_the_code(database: Database) -> None:
    promotion_id = await create_code(database, per_customer_limit=2)
    other_promotion = await create_code(database, code="OTHER")
    customer, someone = uuid.uuid4(), uuid.uuid4()
    orders = [uuid.uuid4() for _ in range(3)]
    for order_id in orders:
        assert await reserve(database, promotion_id, order_id, customer)  # no total limit
    assert await reserve(database, promotion_id, uuid.uuid4(), someone)
    assert await reserve(database, other_promotion, uuid.uuid4(), customer)
    await release(database, orders[0])

    async with database.session() as session:
        assert await redemptions.customer_uses(session, promotion_id, customer) == 2
        assert await redemptions.customer_uses(session, promotion_id, someone) == 1
        assert await redemptions.customer_uses(session, promotion_id, uuid.uuid4()) == 0
        # Pricing sees the count when it judges the code.
        found = await repository.promotion_by_code(session, "once")
    assert found is not None
    assert (found.used_count, found.usage_limit, found.per_customer_limit) == (3, None, 2)
