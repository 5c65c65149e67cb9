"""Stock locations and stock per variant and location, on SQLite and PostgreSQL: the admin
endpoints, and orders reserving across a variant's locations in priority order (all or
nothing), releasing and shipping where the units were taken."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

from emporium.catalog.inventory import service
from emporium.catalog.models import OrderReservation, Variant
from emporium.catalog.testing import Catalog
from emporium.contracts.orders import OrderLine

BAD_LOCATIONS = [
    {"code": "Vienna", "name": "V"},  # upper case
    {"code": "-x", "name": "V"},
    {"code": "x" * 33, "name": "V"},
    {"code": "x", "name": " "},
    {"code": "x", "name": "V", "priority": -1},
    {"code": "x", "name": "V", "priority": True},
]


async def add_variant(catalog: Catalog, product_id: str, sku: str, colour: str) -> str:
    """A second variant of a product, written directly (its endpoints are not this test's)."""
    async with catalog.database.session() as session:
        variant = Variant(
            product_id=UUID(product_id),
            sku=sku,
            position=1,
            combination_key=json.dumps([colour]),
        )
        session.add(variant)
        await session.flush()
        return str(variant.id)


async def location(catalog: Catalog, code: str, priority: int) -> dict[str, Any]:
    body = {"code": code, "name": code.title(), "priority": priority}
    response = await catalog.client.post("/admin/locations", json=body, headers=catalog.admin)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def put_stock(catalog: Catalog, variant_id: str, code: str, on_hand: int) -> Any:
    return await catalog.client.put(
        f"/admin/variants/{variant_id}/stock/{code}",
        json={"on_hand": on_hand},
        headers=catalog.admin,
    )


async def stock(catalog: Catalog, variant_id: str) -> dict[str, tuple[int, int, int]]:
    response = await catalog.client.get(
        f"/admin/variants/{variant_id}/stock", headers=catalog.admin
    )
    assert response.status_code == 200, response.text
    return {
        row["location"]: (row["on_hand"], row["reserved"], row["available"])
        for row in response.json()
    }


async def reserve(catalog: Catalog, order_id: UUID, *lines: tuple[str, int]) -> bool:
    # A line's product_id names the variant until OrderLine carries variant_id (for a
    # default variant both are the product's id).
    order_lines = [
        OrderLine(product_id=UUID(vid), sku="x", quantity=qty, unit_amount=100)
        for vid, qty in lines
    ]
    async with catalog.database.session() as session:
        return await service.reserve_order(session, order_id, order_lines)


async def status(catalog: Catalog, order_id: UUID) -> str | None:
    async with catalog.database.session() as session:
        record = await session.get(OrderReservation, order_id)
        return None if record is None else record.status


async def test_locations_are_listed_by_priority_and_created_once(catalog: Catalog) -> None:
    listed = await catalog.client.get("/admin/locations", headers=catalog.admin)
    assert [(x["code"], x["priority"]) for x in listed.json()] == [("default", 0)]
    await location(catalog, "vienna", 2)
    await location(catalog, "berlin", 1)
    again = await catalog.client.post(
        "/admin/locations",
        json={"code": "vienna", "name": "Other", "priority": 0},
        headers=catalog.admin,
    )
    assert again.status_code == 409
    assert again.json()["type"].endswith("/duplicate-location")
    for bad in BAD_LOCATIONS:
        response = await catalog.client.post("/admin/locations", json=bad, headers=catalog.admin)
        assert response.status_code == 422, bad
    listed = await catalog.client.get("/admin/locations", headers=catalog.admin)
    assert [x["code"] for x in listed.json()] == ["default", "berlin", "vienna"]
    anonymous = await catalog.client.get("/admin/locations")
    assert anonymous.status_code == 401


async def test_stock_per_variant_and_location(catalog: Catalog) -> None:
    product = await catalog.product()
    blue = await add_variant(catalog, product["id"], f"BLUE-{uuid4().hex[:8]}", "blue")
    await location(catalog, "vienna", 1)
    # A new product's default variant has a row at default from its creation.
    assert await stock(catalog, product["id"]) == {"default": (0, 0, 0), "vienna": (0, 0, 0)}
    response = await put_stock(catalog, blue, "vienna", 4)
    assert response.json() == {"location": "vienna", "on_hand": 4, "reserved": 0, "available": 4}
    assert (await put_stock(catalog, blue, "default", 1)).status_code == 200
    assert await stock(catalog, blue) == {"default": (1, 0, 1), "vienna": (4, 0, 4)}
    await catalog.stock(product["id"], 2)  # the product's own call: its default variant
    assert await stock(catalog, product["id"]) == {"default": (2, 0, 2), "vienna": (0, 0, 0)}

    unknown_place = await put_stock(catalog, blue, "paris", 1)
    assert unknown_place.status_code == 404
    assert unknown_place.json()["type"].endswith("/location-not-found")
    unknown_variant = await put_stock(catalog, str(uuid4()), "vienna", 1)
    assert unknown_variant.status_code == 404
    assert unknown_variant.json()["type"].endswith("/variant-not-found")
    missing = await catalog.client.get(f"/admin/variants/{uuid4()}/stock", headers=catalog.admin)
    assert missing.status_code == 404
    assert (await put_stock(catalog, blue, "Not A Code", 1)).status_code == 422
    assert (await put_stock(catalog, blue, "vienna", -1)).status_code == 422

    order = uuid4()
    assert await reserve(catalog, order, (blue, 3))
    below = await put_stock(catalog, blue, "default", 0)  # one of the three is held there
    assert below.status_code == 409
    assert below.json()["type"].endswith("/stock-below-reserved")
    assert await stock(catalog, blue) == {"default": (1, 1, 0), "vienna": (4, 2, 2)}


async def test_an_order_takes_from_the_first_locations_and_gives_back_there(
    catalog: Catalog,
) -> None:
    product = await catalog.product()
    red, blue = product["id"], await add_variant(catalog, product["id"], "T-BLUE-1", "blue")
    await location(catalog, "near", 1)
    await location(catalog, "far", 5)
    for variant, code, units in ((red, "far", 5), (red, "default", 1), (blue, "near", 2),
                                 (blue, "far", 1)):  # fmt: skip
        assert (await put_stock(catalog, variant, code, units)).status_code == 200

    # Red: 1 at default (priority 0), 2 more from far; blue: 2 from near.
    first = uuid4()
    assert await reserve(catalog, first, (red, 2), (blue, 2), (red, 1))
    assert await stock(catalog, red) == {"default": (1, 1, 0), "near": (0, 0, 0),
                                         "far": (5, 2, 3)}  # fmt: skip
    assert await stock(catalog, blue) == {"default": (0, 0, 0), "near": (2, 2, 0),
                                          "far": (1, 0, 1)}  # fmt: skip
    body = (await catalog.client.get(f"/products/{product['id']}")).json()
    assert body["availability"] == {"in_stock": True, "available": 4}

    # All or nothing: blue has 1 left, so this order holds no red either.
    short = uuid4()
    assert not await reserve(catalog, short, (red, 1), (blue, 2))
    assert await status(catalog, short) == "rejected"
    assert (await stock(catalog, red))["far"] == (5, 2, 3)

    second = uuid4()
    assert await reserve(catalog, second, (blue, 1), (red, 3))
    assert await stock(catalog, red) == {"default": (1, 1, 0), "near": (0, 0, 0),
                                         "far": (5, 5, 0)}  # fmt: skip
    async with catalog.database.session() as session:
        assert await service.release_order(session, first)
        assert not await service.release_order(session, first)  # once
    assert await stock(catalog, red) == {"default": (1, 0, 1), "near": (0, 0, 0),
                                         "far": (5, 3, 2)}  # fmt: skip
    assert await stock(catalog, blue) == {"default": (0, 0, 0), "near": (2, 0, 2),
                                          "far": (1, 1, 0)}  # fmt: skip
    async with catalog.database.session() as session:
        assert await service.commit_order(session, second)  # shipped from where it was held
    assert await stock(catalog, red) == {"default": (1, 0, 1), "near": (0, 0, 0),
                                         "far": (2, 0, 2)}  # fmt: skip
    assert await stock(catalog, blue) == {"default": (0, 0, 0), "near": (2, 0, 2),
                                          "far": (0, 0, 0)}  # fmt: skip
    assert await status(catalog, second) == "committed"


async def test_a_deleted_product_is_not_reserved_but_its_orders_still_release(
    catalog: Catalog,
) -> None:
    product = await catalog.product()
    await catalog.stock(product["id"], 5)
    held = uuid4()
    assert await reserve(catalog, held, (product["id"], 2))
    deleted = await catalog.client.delete(f"/admin/products/{product['id']}", headers=catalog.admin)
    assert deleted.status_code == 204
    assert not await reserve(catalog, uuid4(), (product["id"], 1))
    async with catalog.database.session() as session:
        assert await service.release_order(session, held)
    async with catalog.database.session() as session:
        totals = await service.repository.availability(session, [UUID(product["id"])])
    assert totals[UUID(product["id"])].reserved == 0
