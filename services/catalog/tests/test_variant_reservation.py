"""100 concurrent orders over 3 variants stocked in 2 locations (PostgreSQL): no oversell,
exact accounting per location, and no deadlock whatever order the lines come in.

Each order reserves on its own session and connection, with ``deadlock_timeout`` at 10 ms
so that a lock cycle would be detected (and fail the test) at once rather than after 1 s.
Admin stock writes on the same variants run among them, then a third of the reserved
orders are cancelled and a third shipped, concurrently too.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import select, text

from emporium.catalog.inventory import service
from emporium.catalog.models import OrderReservation, ReservationAllocation, StockLevel
from emporium.catalog.testing import running_catalog
from emporium.catalog.variants import allocation
from emporium.contracts.orders import OrderLine

LOCATIONS = {"alpha": 1, "beta": 2}
#: Units per variant per location: 39 in all, asked for by far more than 100 orders want.
STOCK = [{"alpha": 10, "beta": 5}, {"alpha": 4, "beta": 8}, {"alpha": 6, "beta": 6}]


async def _in_transaction(catalog: Any, work: Any) -> Any:
    async with catalog.database.session() as session:
        await session.execute(text("SET LOCAL deadlock_timeout = '10ms'"))
        return await work(session)


async def _rows(catalog: Any) -> dict[tuple[UUID, str], StockLevel]:
    async with catalog.database.session() as session:
        levels = await session.scalars(select(StockLevel))
        return {(level.variant_id, level.location_code): level for level in levels}


async def _open_allocations(catalog: Any) -> dict[UUID, allocation.Allocation]:
    async with catalog.database.session() as session:
        rows = await session.execute(
            select(ReservationAllocation)
            .join(OrderReservation, OrderReservation.order_id == ReservationAllocation.order_id)
            .where(OrderReservation.status == "reserved")
        )
        held: dict[UUID, dict[allocation.StockKey, int]] = {}
        for (part,) in rows:
            held.setdefault(part.order_id, {})[(part.variant_id, part.location_code)] = (
                part.quantity
            )
    return {order_id: allocation.Allocation(q) for order_id, q in held.items()}


def _check(rows: dict[tuple[UUID, str], StockLevel], open_: dict[UUID, Any]) -> None:
    """Every row's accounting holds and ``reserved`` is what the open orders hold there."""
    for (variant_id, code), level in rows.items():
        allocation.check_accounting(
            level.on_hand, level.reserved, level.available, where=f"{variant_id}/{code}"
        )
    expected = allocation.reserved_by_orders(open_.values())
    assert {key: level.reserved for key, level in rows.items() if level.reserved} == expected


async def test_100_concurrent_orders_over_3_variants_in_2_locations(
    postgres_url: str, tmp_path: Path
) -> None:
    async with running_catalog(
        postgres_url, tmp_path, settings={"run_workers": False, "database_pool_size": 30}
    ) as catalog:
        for code, priority in LOCATIONS.items():
            body = {"code": code, "name": code, "priority": priority}
            created = await catalog.client.post(
                "/admin/locations", json=body, headers=catalog.admin
            )
            assert created.status_code == 201
        variants = [UUID((await catalog.product())["id"]) for _ in STOCK]
        for variant_id, units in zip(variants, STOCK, strict=True):
            for code, on_hand in units.items():
                response = await catalog.client.put(
                    f"/admin/variants/{variant_id}/stock/{code}",
                    json={"on_hand": on_hand},
                    headers=catalog.admin,
                )
                assert response.status_code == 200
        initial = {key: level.on_hand for key, level in (await _rows(catalog)).items()}

        rng = random.Random(14)
        orders: dict[UUID, list[OrderLine]] = {}
        for _ in range(100):  # 1-3 lines, quantities 1-3, variants overlapping, any order
            lines = rng.randint(1, 3)
            orders[uuid4()] = [
                OrderLine(product_id=rng.choice(variants), sku="x",
                          quantity=rng.randint(1, 3), unit_amount=100)
                for _ in range(lines)
            ]  # fmt: skip

        def reserve(order_id: UUID) -> Any:
            return lambda s: service.reserve_order(s, order_id, orders[order_id])

        def touch(variant_id: UUID) -> Any:  # an admin write locking one row of the variant
            return lambda s: service.set_variant_on_hand(s, variant_id, "default", 0)

        work = [reserve(order_id) for order_id in orders]
        work += [touch(variants[i % 3]) for i in range(20)]
        rng.shuffle(work)
        # As many at once as the pool holds (30 on 3 variants: contention enough for any
        # deadlock): more would wait for a connection, and on a loaded machine past the
        # pool's 10 s, which is not what this test is about.
        at_once = asyncio.Semaphore(30)

        async def run(w: Any) -> Any:
            async with at_once:
                return await _in_transaction(catalog, w)

        outcomes = await asyncio.gather(*(run(w) for w in work), return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        assert failures == []  # a deadlock would be a DeadlockDetectedError here

        rows = await _rows(catalog)
        open_ = await _open_allocations(catalog)
        _check(rows, open_)
        assert {key: level.on_hand for key, level in rows.items()} == initial
        async with catalog.database.session() as session:
            statuses = Counter(await session.scalars(select(OrderReservation.status)))
        assert statuses["reserved"] == len(open_) > 0
        assert statuses["reserved"] + statuses["rejected"] == 100
        assert statuses["rejected"] > 0  # the demand exceeds the stock
        # Each reserved order holds exactly what it asked for.
        for order_id, held in open_.items():
            assert held.per_variant() == allocation.wanted(
                (line.product_id, line.quantity) for line in orders[order_id]
            )
        # Availability only fell while orders came in, so an order refused for want of a
        # variant still finds too little of it now; and a variant was only taken from its
        # second location once its first had nothing left.
        available = Counter[UUID]()
        for (variant_id, _), level in rows.items():
            available[variant_id] += level.available
        for order_id, lines in orders.items():
            if order_id not in open_:
                asked = allocation.wanted((line.product_id, line.quantity) for line in lines)
                assert any(available[v] < q for v, q in asked.items()), order_id
        for variant_id in variants:
            if rows[(variant_id, "beta")].reserved:
                assert rows[(variant_id, "alpha")].available == 0

        # Cancel a third and ship a third of the reserved orders, all at once.
        reserved = sorted(open_)
        cancelled, shipped = reserved[0::3], reserved[1::3]
        settle = [
            *(lambda s, o=o: service.release_order(s, o) for o in cancelled),
            *(lambda s, o=o: service.commit_order(s, o) for o in shipped),
        ]
        rng.shuffle(settle)
        outcomes = await asyncio.gather(
            *(_in_transaction(catalog, w) for w in settle), return_exceptions=True
        )
        assert outcomes == [True] * len(settle)

        rows = await _rows(catalog)
        still_open = await _open_allocations(catalog)
        assert set(still_open) == set(reserved) - set(cancelled) - set(shipped)
        _check(rows, still_open)
        gone = allocation.reserved_by_orders(open_[o] for o in shipped)
        assert {key: level.on_hand for key, level in rows.items()} == {
            key: units - gone.get(key, 0) for key, units in initial.items()
        }
