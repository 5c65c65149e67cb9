"""Inventory: admin stock, and reservations driven by the orders events (all or nothing,
idempotent, never overselling under concurrent orders)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import select

from emporium.catalog.handlers import HANDLERS
from emporium.catalog.models import DEFAULT_LOCATION, OrderReservation, StockLevel
from emporium.catalog.testing import Catalog, running_catalog
from emporium.contracts.base import EventData
from emporium.contracts.catalog import StockReservationRejectedV2
from emporium.contracts.orders import OrderCancelled, OrderLine, OrderPlaced, OrderShipped
from emporium.kit.bus.base import Record
from emporium.kit.events import Envelope, wrap
from emporium.kit.outbox import OutboxMessage
from emporium.kit.testing import eventually


def placed(order_id: UUID, *lines: tuple[str, int]) -> OrderPlaced:
    return OrderPlaced(
        order_id=order_id,
        customer_id=uuid4(),
        lines=[
            OrderLine(product_id=UUID(pid), sku="x", quantity=qty, unit_amount=100)
            for pid, qty in lines
        ],
        total_amount=100,
        currency="EUR",
    )


def envelope(data: EventData, key: UUID) -> Envelope:
    return wrap(data, source="orders", key=key)


async def publish(
    catalog: Catalog, *envelopes: Envelope, partition_key: UUID | None = None
) -> None:
    """Publish to orders.events; ``partition_key`` puts them all on one partition, in order."""
    bus = catalog.resources.require_bus()
    await bus.publish(
        [
            Record(
                topic="orders.events",
                value=e.to_bytes(),
                key=str(partition_key).encode() if partition_key else e.key.encode(),
                headers=tuple(e.headers()),
            )
            for e in envelopes
        ]
    )


async def stock_of(catalog: Catalog, product_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await catalog.client.get(f"/products/{product_id}")).json()
    return body["availability"]


async def levels(catalog: Catalog, product_id: str) -> tuple[int, int]:
    """The product's stock: its default variant's (same id) at the default location."""
    async with catalog.database.session() as session:
        stock = await session.get(StockLevel, (UUID(product_id), DEFAULT_LOCATION))
        assert stock is not None
        return stock.on_hand, stock.reserved


async def test_admin_sets_on_hand_but_not_below_reserved(catalog: Catalog) -> None:
    product = await catalog.product()
    assert await catalog.stock(product["id"], 5) == {"on_hand": 5, "reserved": 0, "available": 5}
    assert await stock_of(catalog, product["id"]) == {"in_stock": True, "available": 5}
    order = uuid4()
    await publish(catalog, envelope(placed(order, (product["id"], 3)), order))
    await eventually(lambda: _reserved(catalog, product["id"], 3))
    below = await catalog.client.put(
        f"/admin/products/{product['id']}/stock", json={"on_hand": 2}, headers=catalog.admin
    )
    assert below.status_code == 409
    assert await catalog.stock(product["id"], 4) == {"on_hand": 4, "reserved": 3, "available": 1}
    invalid = await catalog.client.put(
        f"/admin/products/{product['id']}/stock", json={"on_hand": -1}, headers=catalog.admin
    )
    assert invalid.status_code == 422
    boolean = await catalog.client.put(
        f"/admin/products/{product['id']}/stock", json={"on_hand": False}, headers=catalog.admin
    )
    assert boolean.status_code == 422
    assert await stock_of(catalog, product["id"]) == {"in_stock": True, "available": 1}
    missing = await catalog.client.put(
        f"/admin/products/{uuid4()}/stock", json={"on_hand": 1}, headers=catalog.admin
    )
    assert missing.status_code == 404
    assert "catalog.StockChanged.v2" in await catalog.outbox_types(product["id"])


async def _reserved(catalog: Catalog, product_id: str, reserved: int) -> bool:
    return (await levels(catalog, product_id))[1] == reserved


async def _order_status(catalog: Catalog, order_id: UUID) -> str | None:
    async with catalog.database.session() as session:
        record = await session.get(OrderReservation, order_id)
        return record.status if record is not None else None


async def test_an_order_reserves_all_lines_or_none(catalog: Catalog) -> None:
    a, b = await catalog.product(), await catalog.product()
    await catalog.stock(a["id"], 5)
    await catalog.stock(b["id"], 1)
    short = uuid4()
    await publish(catalog, envelope(placed(short, (a["id"], 2), (b["id"], 2)), short))
    await eventually(lambda: _has_status(catalog, short, "rejected"))
    assert await levels(catalog, a["id"]) == (5, 0)
    assert await levels(catalog, b["id"]) == (1, 0)
    rejected = await _outbox_events(catalog, short)
    assert [e.type for e in rejected] == ["catalog.StockReservationRejected.v2"]
    lines = rejected[0].parse(StockReservationRejectedV2).short_lines
    assert [
        (str(line.variant_id), str(line.product_id), line.requested, line.available)
        for line in lines
    ] == [(b["id"], b["id"], 2, 1)]

    fits = uuid4()
    await publish(catalog, envelope(placed(fits, (a["id"], 2), (b["id"], 1), (a["id"], 1)), fits))
    await eventually(lambda: _has_status(catalog, fits, "reserved"))
    assert await levels(catalog, a["id"]) == (5, 3)
    assert await levels(catalog, b["id"]) == (1, 1)
    assert [e.type for e in await _outbox_events(catalog, fits)] == ["catalog.StockReserved.v1"]
    assert await stock_of(catalog, b["id"]) == {"in_stock": False, "available": 0}


async def _has_status(catalog: Catalog, order_id: UUID, status: str) -> bool:
    return await _order_status(catalog, order_id) == status


async def _outbox_events(catalog: Catalog, key: UUID) -> list[Envelope]:
    async with catalog.database.session() as session:
        rows = await session.scalars(
            select(OutboxMessage.envelope)
            .where(OutboxMessage.key == str(key))
            .order_by(OutboxMessage.created_at)
        )
        return [Envelope.from_bytes(raw) for raw in rows]


async def test_redelivered_order_placed_reserves_once(catalog: Catalog) -> None:
    product = await catalog.product()
    await catalog.stock(product["id"], 10)
    order = uuid4()
    event = envelope(placed(order, (product["id"], 4)), order)
    await publish(catalog, event, event)
    # The same order again under a new event id (a producer retry) changes nothing either.
    await publish(catalog, envelope(placed(order, (product["id"], 4)), order))
    # Behind them on their partition: once it is handled, so are they.
    marker = uuid4()
    await publish(
        catalog, envelope(placed(marker, (product["id"], 1)), marker), partition_key=order
    )
    await eventually(lambda: _has_status(catalog, marker, "reserved"))
    assert await levels(catalog, product["id"]) == (10, 5)
    assert [e.type for e in await _outbox_events(catalog, order)] == ["catalog.StockReserved.v1"]


async def test_cancel_releases_and_ship_commits_once(catalog: Catalog) -> None:
    product = await catalog.product()
    await catalog.stock(product["id"], 10)
    kept, dropped = uuid4(), uuid4()
    await publish(
        catalog,
        envelope(placed(kept, (product["id"], 3)), kept),
        envelope(placed(dropped, (product["id"], 2)), dropped),
    )
    await eventually(lambda: _reserved(catalog, product["id"], 5))
    cancel = envelope(
        OrderCancelled(order_id=dropped, customer_id=uuid4(), reason="declined"), dropped
    )
    ship = envelope(OrderShipped(order_id=kept, customer_id=uuid4()), kept)
    await publish(catalog, cancel, ship)
    await eventually(lambda: _has_status(catalog, kept, "committed"))
    await eventually(lambda: _has_status(catalog, dropped, "released"))
    assert await levels(catalog, product["id"]) == (7, 0)
    # Again, as new events: cancelling a shipped or released order changes nothing; and an
    # order cancelled before its OrderPlaced arrives is never reserved. One partition, so
    # once the marker order is reserved every event before it has been handled.
    early, marker = uuid4(), uuid4()
    await publish(
        catalog,
        envelope(OrderCancelled(order_id=kept, customer_id=uuid4(), reason="late"), kept),
        envelope(OrderCancelled(order_id=dropped, customer_id=uuid4(), reason="x"), dropped),
        envelope(OrderShipped(order_id=kept, customer_id=uuid4()), kept),
        envelope(OrderCancelled(order_id=early, customer_id=uuid4(), reason="timeout"), early),
        envelope(placed(early, (product["id"], 1)), early),
        envelope(placed(marker, (product["id"], 1)), marker),
        partition_key=early,
    )
    await eventually(lambda: _has_status(catalog, marker, "reserved"))
    assert await levels(catalog, product["id"]) == (7, 1)
    assert await _order_status(catalog, early) == "cancelled"


async def test_concurrent_orders_for_the_last_units_never_oversell(
    postgres_url: str, tmp_path: Path
) -> None:
    async with running_catalog(
        postgres_url, tmp_path, settings={"run_workers": False, "database_pool_size": 20}
    ) as catalog:
        scarce, plenty = await catalog.product(), await catalog.product()
        await catalog.stock(scarce["id"], 5)
        await catalog.stock(plenty["id"], 1000)
        handler = HANDLERS[OrderPlaced.type_name()]

        async def order(i: int) -> None:
            order_id = uuid4()
            # Lines in both orders of product ids: locking by id keeps them deadlock-free.
            lines = [(plenty["id"], 1), (scarce["id"], 1)]
            event = envelope(placed(order_id, *(lines if i % 2 else lines[::-1])), order_id)
            async with catalog.database.session() as session:
                await handler(session, event)

        await asyncio.gather(*(order(i) for i in range(40)))
        assert await levels(catalog, scarce["id"]) == (5, 5)
        assert await levels(catalog, plenty["id"]) == (1000, 5)
        async with catalog.database.session() as session:
            statuses = list(await session.scalars(select(OrderReservation.status)))
        assert sorted(statuses).count("reserved") == 5
        assert statuses.count("rejected") == 35
