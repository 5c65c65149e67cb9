"""The real catalog service behind the gateway (SQLite, memory bus, local media; and on
PostgreSQL and Redis where the stock a cached product shows is at stake)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from fastapi import FastAPI

from emporium.gateway.proxy import Gateway
from emporium.gateway.testing import GatewayFactory, serving
from emporium.kit.testing.polling import eventually
from emporium.kit.testing.tokens import TokenMint


async def _catalog(
    database_url: str, redis_url: str | None, tmp_path: Path, mint: TokenMint
) -> FastAPI:
    """A real catalog app on a migrated ``database_url`` (memory bus, local media)."""
    from emporium.catalog.app import create_service_app
    from emporium.catalog.settings import Settings as CatalogSettings
    from emporium.catalog.testing import MIGRATIONS
    from emporium.kit.migrations import upgrade_to_head

    await asyncio.to_thread(upgrade_to_head, MIGRATIONS, database_url)
    return create_service_app(
        CatalogSettings(
            database_url=database_url,
            bus="memory",
            storage="local",
            media_dir=str(tmp_path / "media"),
            redis_url=redis_url,
            log_json=False,
        ),
        keys=mint.keys(),
    )


async def test_the_catalog_through_the_gateway(
    gateway: GatewayFactory, sqlite_url: str, tmp_path: Path
) -> None:
    mint = TokenMint()
    catalog = await _catalog(sqlite_url, None, tmp_path, mint)
    async with serving(catalog) as catalog_url:
        gw = await gateway(catalog_url=catalog_url, mint=mint)
        admin = gw.bearer("admin")
        client = gw.client

        assert (await client.get("/api/v1/products")).json()["items"] == []  # cached now
        category = await client.post(
            "/api/v1/admin/categories",
            json={"slug": "lamps", "name": "Lamps", "parent_id": None},
            headers=admin,
        )
        assert category.status_code == 201, category.text
        product = await client.post(
            "/api/v1/admin/products",
            json={
                "sku": "LAMP-1",
                "name": "Desk lamp",
                "description": "Bright",
                "price": {"amount": 2999, "currency": "EUR"},
                "category_id": category.json()["id"],
                "attributes": {},
            },
            headers=admin,
        )
        assert product.status_code == 201, product.text
        customer = await client.post(
            "/api/v1/admin/products", json={}, headers=gw.bearer("customer")
        )
        assert customer.status_code == 403

        listing = await client.get("/api/v1/products?q=lamp")
        assert listing.status_code == 200
        assert [item["sku"] for item in listing.json()["items"]] == ["LAMP-1"]
        # The write went through the gateway: the cached empty listing is gone.
        assert [i["sku"] for i in (await client.get("/api/v1/products")).json()["items"]] == [
            "LAMP-1"
        ]
        one = await client.get(f"/api/v1/products/{product.json()['id']}")
        assert one.json()["name"] == "Desk lamp"
        again = await client.get(
            f"/api/v1/products/{product.json()['id']}",
            headers={"If-None-Match": one.headers["etag"]},
        )
        assert again.status_code == 304
        unknown = await client.get("/api/v1/products/0196a5a0-0000-7000-8000-000000000000")
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/problem+json"

        document = (await client.get("/api/v1/openapi.json")).json()
        assert "/api/v1/products/{product_id}" in document["paths"]
        assert "/api/v1/admin/products/{product_id}/images" in document["paths"]


@pytest.fixture(params=["embedded", "real"])
def stack(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """(catalog database, Redis of catalog and gateway): SQLite and none (``make dev``), or
    PostgreSQL and Redis."""
    if request.param == "embedded":
        return request.getfixturevalue("sqlite_url"), None
    return request.getfixturevalue("postgres_url"), request.getfixturevalue("redis_url")


async def test_a_variant_stocked_through_the_gateway_is_in_stock_on_the_cached_product(
    gateway: GatewayFactory, stack: tuple[str, str | None], tmp_path: Path, unique: str
) -> None:
    # Issue 14: the admin's product page (an anonymous, cached read) said "Sold out" for a
    # variant just stocked at two locations on `make dev`, because the stock path names no
    # product and only Redis carried the catalog's announcement of the stale product.
    database_url, redis_url = stack
    mint = TokenMint()
    catalog = await _catalog(database_url, redis_url, tmp_path, mint)
    async with serving(catalog) as catalog_url:
        gw = await gateway(
            catalog_url=catalog_url,
            mint=mint,
            redis_url=redis_url,
            cache_namespace=unique,
            response_cache_seconds=300,  # far longer than the test: only a drop refreshes
        )
        if redis_url is not None:
            await gw.subscribed()
        admin, client = gw.bearer("admin"), gw.client
        created = await client.post(
            "/api/v1/admin/products",
            json={
                "sku": f"TEE-{unique}",
                "name": "Tee",
                "description": "Cotton",
                "price": {"amount": 1900, "currency": "EUR"},
                "options": [{"name": "Size", "values": ["S", "M"]}],
            },
            headers=admin,
        )
        assert created.status_code == 201, created.text
        product_id = created.json()["id"]
        code = f"hall-{uuid.uuid4().hex[:8]}"
        place = await client.post(
            "/api/v1/admin/locations",
            json={"code": code, "name": "Hall", "priority": 5},
            headers=admin,
        )
        assert place.status_code == 201, place.text
        added = await client.post(
            f"/api/v1/admin/products/{product_id}/variants",
            json={
                "sku": f"TEE-{unique}-M",
                "options": {"Size": "M"},
                "prices": [{"amount": 2250, "currency": "EUR"}],
            },
            headers=admin,
        )
        assert added.status_code == 201, added.text
        variant_id = added.json()["id"]

        async def shown() -> dict[str, object]:
            answer = (await client.get(f"/api/v1/products/{product_id}")).json()
            found: dict[str, object] = next(
                v["availability"] for v in answer["variants"] if v["id"] == variant_id
            )
            return found

        assert await shown() == {"in_stock": False, "available": 0}  # cached now
        for location, on_hand in (("default", 3), (code, 5)):
            put = await client.put(
                f"/api/v1/admin/variants/{variant_id}/stock/{location}",
                json={"on_hand": on_hand},
                headers=admin,
            )
            assert put.status_code == 200, put.text

        async def in_stock() -> bool:
            return await shown() == {"in_stock": True, "available": 8}

        await eventually(in_stock, timeout=10)


async def test_a_stock_change_is_fetched_again_before_anyone_asks(
    gateway: GatewayFactory, postgres_url: str, redis_url: str, tmp_path: Path, unique: str
) -> None:
    """The product page and the listing that showed a product, dropped by the catalog's
    announcement of its stock change, are fetched again by the gateway itself: the first
    shopper to ask afterwards gets a hit, and it shows the new stock."""
    import httpx

    from emporium.gateway.refresh import AnswerRefresher

    mint = TokenMint()
    catalog = await _catalog(postgres_url, redis_url, tmp_path, mint)
    async with serving(catalog) as catalog_url:
        gw = await gateway(
            catalog_url=catalog_url,
            mint=mint,
            redis_url=redis_url,
            cache_namespace=unique,
            response_cache_seconds=300,
            response_refresh=True,
        )
        await gw.subscribed()
        admin, client = gw.bearer("admin"), gw.client
        created = await client.post(
            "/api/v1/admin/products",
            json={"sku": f"MUG-{unique}", "name": "Mug", "price": 900},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        product_id = created.json()["id"]
        page, listing = f"/api/v1/products/{product_id}", "/api/v1/products?limit=50"

        async def shown(path: str) -> tuple[str, int]:
            answer = await client.get(path)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            item = body if path == page else next(i for i in body["items"] if i["id"] == product_id)
            return answer.headers["x-cache"], item["availability"]["available"]

        async with httpx.AsyncClient(base_url=catalog_url, headers=admin) as direct:
            stocked = await direct.put(f"/admin/products/{product_id}/stock", json={"on_hand": 9})
            assert stocked.status_code == 200, stocked.text
            await eventually(lambda: _both_cached_showing(shown, page, listing, 9), timeout=10)
            refresher = gw.resources.get(AnswerRefresher)
            # Straight at the catalog, so only its announcement tells the gateway.
            changed = await direct.put(f"/admin/products/{product_id}/stock", json={"on_hand": 4})
            assert changed.status_code == 200, changed.text
            gateway_state = gw.resources.get(Gateway)
            local = gateway_state.response_cache.local if gateway_state.response_cache else None
            assert local is not None

            async def fetched_again() -> bool:
                await refresher.idle()
                kept = local.get(page.encode() + b"?", time.monotonic())
                return kept is not None and b'"available":4' in kept.body

            await eventually(fetched_again, timeout=10, interval=0.02)
            await refresher.idle()
        assert await shown(page) == ("HIT", 4)
        assert await shown(listing) == ("HIT", 4)


async def _both_cached_showing(
    shown: Callable[[str], Awaitable[tuple[str, int]]], page: str, listing: str, units: int
) -> bool:
    return await shown(page) == ("HIT", units) and await shown(listing) == ("HIT", units)


async def test_pages_asked_without_pause_never_expire_into_a_miss(
    gateway: GatewayFactory, postgres_url: str, redis_url: str, tmp_path: Path, unique: str
) -> None:
    """Answers asked for in their last second are fetched again from the real catalog
    before they expire: over two lifetimes, no shopper after the first gets a miss."""
    mint = TokenMint()
    catalog = await _catalog(postgres_url, redis_url, tmp_path, mint)
    async with serving(catalog) as catalog_url:
        gw = await gateway(
            catalog_url=catalog_url,
            mint=mint,
            redis_url=redis_url,
            cache_namespace=unique,
            response_cache_seconds=4,  # each answer lives 3.6-4 s
            response_refresh=True,
            response_refresh_ahead_seconds=1.0,
            rate_limit_anonymous=10_000,  # one shopper asking without pause
        )
        await gw.subscribed()
        created = await gw.client.post(
            "/api/v1/admin/products",
            json={"sku": f"LAMP-{unique}", "name": "Lamp", "price": 2500},
            headers=gw.bearer("admin"),
        )
        assert created.status_code == 201, created.text
        paths = [f"/api/v1/products/{created.json()['id']}", "/api/v1/products?limit=20"]
        for path in paths:
            assert (await gw.client.get(path)).headers["x-cache"] == "MISS"
        misses: list[tuple[str, float]] = []
        began = time.monotonic()
        while time.monotonic() - began < 9:
            for path in paths:
                answer = await gw.client.get(path)
                assert answer.status_code == 200, answer.text
                if answer.headers["x-cache"] != "HIT":
                    misses.append((path, round(time.monotonic() - began, 2)))
            await asyncio.sleep(0.05)
        assert misses == []
