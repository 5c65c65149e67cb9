"""The public listing: filters, search, sorts and cursor pages that stay stable."""

from __future__ import annotations

from typing import Any

from emporium.catalog.testing import Catalog


async def _all_pages(catalog: Catalog, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = await catalog.client.get("/products", params=query)
        assert page.status_code == 200, page.text
        body = page.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items


async def test_filters_by_category_subtree_price_stock_and_text(catalog: Catalog) -> None:
    home = await catalog.category("home")
    kitchen = await catalog.category("kitchen", parent_id=home["id"])
    garden = await catalog.category("garden")
    kettle = await catalog.product(
        name="Steel kettle", description="Boils water fast", price=3500, category_id=kitchen["id"]
    )
    lamp = await catalog.product(
        name="Desk lamp", description="Warm light", price=2500, category_id=home["id"]
    )
    hose = await catalog.product(
        name="Garden hose", description="Twenty metres of water", price=1500,
        category_id=garden["id"],
    )  # fmt: skip
    await catalog.stock(lamp["id"], 3)

    async def ids(**params: Any) -> set[str]:
        return {p["id"] for p in await _all_pages(catalog, **params)}

    assert await ids(category="home") == {kettle["id"], lamp["id"]}
    assert await ids(category=home["id"]) == {kettle["id"], lamp["id"]}
    assert await ids(category="kitchen") == {kettle["id"]}
    assert await ids(category="nowhere") == set()
    assert await ids(min_price=2000, max_price=3000) == {lamp["id"]}
    assert await ids(in_stock="true") == {lamp["id"]}
    assert await ids(in_stock="false") == {kettle["id"], hose["id"]}
    assert await ids(q="water") == {kettle["id"], hose["id"]}
    assert await ids(q="water", category="home") == {kettle["id"]}
    assert await ids(q="kettle") == {kettle["id"]}


async def test_sorts_give_a_total_order(catalog: Catalog) -> None:
    made = [
        await catalog.product(name=name, price=price)
        for name, price in [("b", 300), ("a", 300), ("c", 100), ("a", 200)]
    ]
    by_name = await _all_pages(catalog, sort="name", limit=1)
    assert [p["name"] for p in by_name] == ["a", "a", "b", "c"]
    by_price = await _all_pages(catalog, sort="price", limit=3)
    assert [p["price"]["amount"] for p in by_price] == [100, 200, 300, 300]
    by_price_desc = await _all_pages(catalog, sort="-price", limit=2)
    assert [p["price"]["amount"] for p in by_price_desc] == [300, 300, 200, 100]
    newest = await _all_pages(catalog, sort="newest", limit=3)
    assert [p["id"] for p in newest] == [p["id"] for p in reversed(made)]


async def test_cursor_pages_stay_stable_while_products_are_added(catalog: Catalog) -> None:
    for i in range(10):
        await catalog.product(name=f"item {i:02d}")
    first = (await catalog.client.get("/products", params={"limit": 4})).json()
    assert [p["name"] for p in first["items"]] == [f"item {i:02d}" for i in range(4)]
    # Added before and after the cursor's position: neither shifts the next page.
    await catalog.product(name="item 00a")
    await catalog.product(name="item 99")
    second = (
        await catalog.client.get("/products", params={"limit": 4, "cursor": first["next_cursor"]})
    ).json()
    assert [p["name"] for p in second["items"]] == [f"item {i:02d}" for i in range(4, 8)]
    rest = await _all_pages(catalog, limit=4, cursor=second["next_cursor"])
    assert [p["name"] for p in rest] == ["item 08", "item 09", "item 99"]


async def test_bad_listing_parameters_are_422(catalog: Catalog) -> None:
    for params in ({"limit": 0}, {"limit": 101}, {"sort": "colour"}, {"cursor": "garbage!"}):
        response = await catalog.client.get("/products", params=params)
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"
    await catalog.product(name="x")
    await catalog.product(name="y")
    page = (await catalog.client.get("/products", params={"limit": 1, "sort": "name"})).json()
    other_sort = await catalog.client.get(
        "/products", params={"sort": "price", "cursor": page["next_cursor"]}
    )
    assert other_sort.status_code == 422
