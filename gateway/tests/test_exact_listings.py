"""A stock change through the catalog drops exactly the cached answers it changes: the
product's page and the listings that show it, and every listing only when the product
went in or out of stock. The real catalog behind the gateway, on the embedded default
(SQLite, memory cache, in-process announcements) and on PostgreSQL and Redis (with a
second gateway process that only ever read the answers from Redis: its in-process copies
must go too).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from emporium.gateway.testing import GatewayFactory, Running, serving
from emporium.kit.testing.polling import eventually
from emporium.kit.testing.tokens import TokenMint


@pytest.fixture(params=["embedded", "real"])
def stack(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    if request.param == "embedded":
        return request.getfixturevalue("sqlite_url"), None
    return request.getfixturevalue("postgres_url"), request.getfixturevalue("redis_url")


@pytest.fixture
async def catalog_url(
    stack: tuple[str, str | None], tmp_path: Path, unique: str
) -> AsyncIterator[tuple[str, TokenMint]]:
    from emporium.catalog.app import create_service_app
    from emporium.catalog.settings import Settings as CatalogSettings
    from emporium.catalog.testing import MIGRATIONS
    from emporium.kit.migrations import upgrade_to_head

    database_url, redis_url = stack
    await asyncio.to_thread(upgrade_to_head, MIGRATIONS, database_url)
    mint = TokenMint()
    extra = {"cache_namespace": f"{unique}-catalog"} if redis_url else {}
    catalog = create_service_app(
        CatalogSettings(
            database_url=database_url,
            bus="memory",
            storage="local",
            media_dir=str(tmp_path / "media"),
            redis_url=redis_url,
            log_json=False,
        ),
        keys=mint.keys(),
        **extra,
    )
    async with serving(catalog) as url:
        yield url, mint


async def _gateway(
    gateway: GatewayFactory, url: str, mint: TokenMint, redis_url: str | None, unique: str
) -> Running:

    gw = await gateway(
        catalog_url=url,
        mint=mint,
        redis_url=redis_url,
        cache_namespace=unique,
        response_cache_seconds=300,  # far longer than the test: only a drop refreshes
    )
    if redis_url is not None:
        await gw.subscribed()
    return gw


async def _get(gw: Running, path: str) -> httpx.Response:
    answer = await gw.client.get(path)
    assert answer.status_code == 200, answer.text
    return answer


def _shown(answer: httpx.Response) -> list[tuple[str, int]]:
    return [(i["name"], i["availability"]["available"]) for i in answer.json()["items"]]


async def test_a_stock_change_drops_the_product_and_the_listings_that_show_it_only(
    gateway: GatewayFactory,
    stack: tuple[str, str | None],
    catalog_url: tuple[str, TokenMint],
    unique: str,
) -> None:
    url, mint = catalog_url
    redis_url = stack[1]
    gw = await _gateway(gateway, url, mint, redis_url, unique)
    # A second gateway process on the same Redis: it only ever reads what the first stored.
    readers = [gw] + ([await _gateway(gateway, url, mint, redis_url, unique)] if redis_url else [])
    admin = gw.bearer("admin")
    made: dict[str, str] = {}
    for slug, name in (("lamps", "Lamp"), ("chairs", "Chair")):
        category = await gw.client.post(
            "/api/v1/admin/categories",
            json={"slug": slug, "name": slug, "parent_id": None},
            headers=admin,
        )
        assert category.status_code == 201, category.text
        product = await gw.client.post(
            "/api/v1/admin/products",
            json={
                "sku": name.upper(),
                "name": name,
                "description": "",
                "price": {"amount": 1000, "currency": "EUR"},
                "category_id": category.json()["id"],
                "attributes": {},
            },
            headers=admin,
        )
        assert product.status_code == 201, product.text
        made[slug] = product.json()["id"]
        stocked = await gw.client.put(
            f"/api/v1/admin/products/{made[slug]}/stock", json={"on_hand": 5}, headers=admin
        )
        assert stocked.status_code == 200, stocked.text
    lamp = made["lamps"]
    lamp_page = f"/api/v1/products/{lamp}"
    lamps = "/api/v1/products?category=lamps"
    chairs = "/api/v1/products?category=chairs"
    in_stock = "/api/v1/products?in_stock=true&limit=100"
    paths = [lamp_page, lamps, chairs, in_stock]
    for reader in readers:
        for path in paths:

            async def cached(reader: Running = reader, path: str = path) -> bool:
                # Not stored while the catalog's announcements of the writes above arrive.
                return (await _get(reader, path)).headers["x-cache"] == "HIT"

            await eventually(cached, timeout=10, interval=0.05)
            again = await _get(reader, path)
            # The families an answer is indexed under never cross to the client.
            for name, value in again.headers.items():
                assert "famil" not in name, (path, name)
                assert not name.startswith("~"), (path, name)
                assert "product:" not in value, (path, name)
    assert _shown(await _get(gw, lamps)) == [("Lamp", 5)]

    # Through the catalog's own admin API, as the saga or a back office would: only the
    # catalog's announcement tells the gateways.
    async with httpx.AsyncClient(base_url=url, headers=admin) as catalog:
        changed = await catalog.put(f"/admin/products/{lamp}/stock", json={"on_hand": 3})
        assert changed.status_code == 200, changed.text
        began = time.monotonic()
        for reader in readers:

            async def shows_it(reader: Running = reader) -> bool:
                page = (await _get(reader, lamp_page)).json()
                listing = _shown(await _get(reader, lamps))
                return bool(page["availability"]["available"] == 3 and listing == [("Lamp", 3)])

            await eventually(shows_it, timeout=5, interval=0.01)
        assert time.monotonic() - began < 1.0
        for reader in readers:
            kept = await _get(reader, chairs)
            assert kept.headers["x-cache"] == "HIT"  # no lamp in it: still the cached answer
            assert ("Lamp", 3) in _shown(await _get(reader, in_stock))  # it showed the lamp

        # Out of stock: the lamp leaves every in-stock listing at once.
        gone = await catalog.put(f"/admin/products/{lamp}/stock", json={"on_hand": 0})
        assert gone.status_code == 200, gone.text
        for reader in readers:

            async def left(reader: Running = reader) -> bool:
                return _shown(await _get(reader, in_stock)) == [("Chair", 5)]

            await eventually(left, timeout=5, interval=0.01)
