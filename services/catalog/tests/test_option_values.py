"""``product_option_value`` follows every write of a product's variants through the API, on
SQLite and PostgreSQL: after each step it is exactly each live product's live variants'
option values once (smallest spelling), so the facets and one-name filters that read it
answer what the variants say."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import text

from emporium.catalog.testing import Catalog


async def _stored(catalog: Catalog) -> set[tuple[str, str, str, str, str]]:
    async with catalog.database.session() as session:
        rows = await session.execute(
            text("SELECT product_id, name_key, value_key, name, value FROM product_option_value")
        )
        return {(str(UUID(str(r[0]))), r[1], r[2], r[3], r[4]) for r in rows}


async def _expected(catalog: Catalog, product_ids: list[str]) -> set[tuple[str, ...]]:
    """What the products' answers (their live variants' options) say the rows must be."""
    found: dict[tuple[str, str, str], tuple[str, str]] = {}
    for product_id in product_ids:
        response = await catalog.client.get(f"/products/{product_id}")
        if response.status_code == 404:
            continue
        for variant in response.json()["variants"]:
            for name, value in variant["options"].items():
                k = (product_id, name.strip().casefold(), value.strip().casefold())
                old = found.get(k, (name, value))
                found[k] = (min(old[0], name), min(old[1], value))
    return {(*k, *v) for k, v in found.items()}


async def _check(catalog: Catalog, product_ids: list[str]) -> None:
    assert await _stored(catalog) == await _expected(catalog, product_ids)


async def _post_variant(catalog: Catalog, product_id: str, sku: str, **options: str) -> str:
    response = await catalog.client.post(
        f"/admin/products/{product_id}/variants",
        json={"sku": sku, "options": options, "prices": [{"amount": 100, "currency": "EUR"}]},
        headers=catalog.admin,
    )
    assert response.status_code == 201, response.text
    variant_id: str = response.json()["id"]
    return variant_id


async def test_product_option_values_follow_every_variant_write(catalog: Catalog) -> None:
    shirt = await catalog.product(
        options=[{"name": "Size", "values": ["S", "M"]}, {"name": "Colour", "values": ["Red"]}]
    )
    plain = await catalog.product()
    ids = [shirt["id"], plain["id"]]
    await _check(catalog, ids)

    medium = await _post_variant(catalog, shirt["id"], "OV-M", Size="M", Colour="Red")
    await _check(catalog, ids)

    # A product's options changed: every variant takes the new option's first value.
    patch: dict[str, Any] = {
        "options": [
            {"name": "Size", "values": ["S", "M"]},
            {"name": "Colour", "values": ["Red", "Blue"]},
            {"name": "Fit", "values": ["Slim", "Wide"]},
        ]
    }
    response = await catalog.client.patch(
        f"/admin/products/{shirt['id']}", json=patch, headers=catalog.admin
    )
    assert response.status_code == 200, response.text
    await _check(catalog, ids)
    assert ("size", "m") in {(r[1], r[2]) for r in await _stored(catalog)}

    # A variant's options changed: M is nobody's any more, Blue is.
    response = await catalog.client.patch(
        f"/admin/variants/{medium}",
        json={"options": {"Size": "S", "Colour": "Blue", "Fit": "Wide"}},
        headers=catalog.admin,
    )
    assert response.status_code == 200, response.text
    await _check(catalog, ids)
    values = {(r[1], r[2]) for r in await _stored(catalog)}
    assert ("size", "m") not in values
    assert ("colour", "blue") in values

    # A variant deleted: its values go unless another live variant has them.
    response = await catalog.client.delete(f"/admin/variants/{medium}", headers=catalog.admin)
    assert response.status_code == 204, response.text
    await _check(catalog, ids)
    assert ("colour", "blue") not in {(r[1], r[2]) for r in await _stored(catalog)}

    # The product deleted: none of its rows stay (facets without filters read them all).
    response = await catalog.client.delete(f"/admin/products/{shirt['id']}", headers=catalog.admin)
    assert response.status_code == 204, response.text
    assert await _stored(catalog) == set()
    listing = (await catalog.client.get("/products")).json()
    assert listing["facets"]["options"] == {}
