"""The stock events per variant and location (``StockChanged`` v2,
``StockReservationRejected`` v2), on SQLite and PostgreSQL: what an admin write, a
reservation and a rejection put in the outbox."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import select

from emporium.catalog.inventory import service
from emporium.catalog.models import Variant
from emporium.catalog.testing import Catalog
from emporium.contracts.catalog import StockChangedV2, StockReservationRejectedV2
from emporium.contracts.orders import OrderLine
from emporium.kit.events import Envelope
from emporium.kit.outbox import OutboxMessage


async def add_variant(catalog: Catalog, product_id: str, sku: str, colour: str) -> str:
    async with catalog.database.session() as session:
        variant = Variant(
            product_id=UUID(product_id), sku=sku, position=1, combination_key=json.dumps([colour])
        )
        session.add(variant)
        await session.flush()
        return str(variant.id)


async def location(catalog: Catalog, code: str, priority: int) -> None:
    body = {"code": code, "name": code.title(), "priority": priority}
    response = await catalog.client.post("/admin/locations", json=body, headers=catalog.admin)
    assert response.status_code == 201, response.text


async def put_stock(catalog: Catalog, variant_id: str, code: str, on_hand: int) -> Any:
    return await catalog.client.put(
        f"/admin/variants/{variant_id}/stock/{code}", json={"on_hand": on_hand},
        headers=catalog.admin,
    )  # fmt: skip


async def reserve(catalog: Catalog, order_id: UUID, *lines: tuple[str, int]) -> bool:
    order_lines = [
        OrderLine(product_id=UUID(vid), variant_id=UUID(vid), sku="x", quantity=qty,
                  unit_amount=100)
        for vid, qty in lines
    ]  # fmt: skip
    async with catalog.database.session() as session:
        return await service.reserve_order(session, order_id, order_lines)


async def _events(catalog: Catalog, key: UUID | str) -> list[Envelope]:
    async with catalog.database.session() as session:
        rows = await session.scalars(
            select(OutboxMessage.envelope)
            .where(OutboxMessage.key == str(key))
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        )
        return [Envelope.from_bytes(raw) for raw in rows]


async def _stock_changes(catalog: Catalog, product_id: str) -> list[StockChangedV2]:
    found = await _events(catalog, product_id)
    assert "catalog.StockChanged.v1" not in [e.type for e in found]
    return [e.parse(StockChangedV2) for e in found if e.type == StockChangedV2.type_name()]


def _row(event: StockChangedV2) -> tuple[str, str, str, int, int, int, int]:
    return (
        str(event.variant_id),
        str(event.product_id),
        event.location,
        event.on_hand,
        event.reserved,
        event.available,
        event.variant_available,
    )


async def test_stock_changes_name_the_variant_and_the_location(catalog: Catalog) -> None:
    product = await catalog.product()
    pid = product["id"]
    blue = await add_variant(catalog, pid, f"EV-{uuid4().hex[:8]}", "blue")
    await location(catalog, "north", 5)
    assert (await put_stock(catalog, blue, "default", 3)).status_code == 200
    assert (await put_stock(catalog, blue, "north", 5)).status_code == 200
    assert (await put_stock(catalog, pid, "default", 2)).status_code == 200  # the first variant
    assert [_row(e) for e in await _stock_changes(catalog, pid)] == [
        (blue, pid, "default", 3, 0, 3, 3),
        (blue, pid, "north", 5, 0, 5, 8),
        (pid, pid, "default", 2, 0, 2, 2),
    ]

    # An order of 6 blue takes 3 at default (priority 0), then 3 at north: one event each.
    assert await reserve(catalog, uuid4(), (blue, 6))
    assert [_row(e) for e in (await _stock_changes(catalog, pid))[3:]] == [
        (blue, pid, "default", 3, 3, 0, 2),
        (blue, pid, "north", 5, 3, 2, 2),
    ]


async def test_a_rejection_names_the_short_variant_and_its_product(catalog: Catalog) -> None:
    product = await catalog.product()
    pid = product["id"]
    blue = await add_variant(catalog, pid, f"EV-{uuid4().hex[:8]}", "blue")
    await put_stock(catalog, blue, "default", 2)
    await put_stock(catalog, pid, "default", 9)
    order = uuid4()
    assert not await reserve(catalog, order, (pid, 1), (blue, 3))
    rejected = [e for e in await _events(catalog, order) if "Rejected" in e.type]
    assert [e.type for e in rejected] == ["catalog.StockReservationRejected.v2"]
    lines = rejected[0].parse(StockReservationRejectedV2).short_lines
    assert [(str(s.variant_id), str(s.product_id), s.requested, s.available) for s in lines] == [
        (blue, pid, 3, 2)
    ]
