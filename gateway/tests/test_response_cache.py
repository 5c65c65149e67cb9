"""The response cache of anonymous catalog GETs: hits, ETag / 304, invalidation."""

from __future__ import annotations

import json
import uuid

import pytest

from emporium.gateway.response_cache import listing_families
from emporium.gateway.testing import GatewayFactory


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, unique: str) -> dict[str, str | None]:
    if request.param == "memory":
        return {"redis_url": None, "cache_namespace": unique}
    return {"redis_url": request.getfixturevalue("redis_url"), "cache_namespace": unique}


async def test_anonymous_catalog_reads_are_cached_with_an_etag(
    gateway: GatewayFactory, store: dict[str, str | None]
) -> None:
    gw = await gateway(**store)
    catalog = gw.services["catalog"]
    first = await gw.client.get("/api/v1/products?limit=2")
    assert first.status_code == 200
    assert first.headers["x-cache"] == "MISS"
    etag = first.headers["etag"]
    # Browsers revalidate (a cheap 304) rather than show availability older than ours.
    assert first.headers["cache-control"] == "public, no-cache"
    second = await gw.client.get("/api/v1/products?limit=2")
    assert second.headers["x-cache"] == "HIT"
    assert second.content == first.content
    assert second.headers["etag"] == etag
    assert catalog.hits == 1

    not_modified = await gw.client.get("/api/v1/products?limit=2", headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag

    other_query = await gw.client.get("/api/v1/products?limit=3")
    assert other_query.headers["x-cache"] == "MISS"
    assert catalog.hits == 2


async def test_signed_in_reads_and_errors_are_not_cached(
    gateway: GatewayFactory, store: dict[str, str | None]
) -> None:
    gw = await gateway(**store)
    catalog = gw.services["catalog"]
    for _ in range(2):
        signed_in = await gw.client.get("/api/v1/products", headers=gw.bearer())
        assert "x-cache" not in signed_in.headers
    assert catalog.hits == 2
    for _ in range(2):  # 404 from the service: passed on, not stored
        missing = await gw.client.get("/api/v1/products/_missing")
        assert missing.status_code == 404
        assert "etag" not in missing.headers


async def test_a_catalog_write_through_the_gateway_invalidates(
    gateway: GatewayFactory, store: dict[str, str | None]
) -> None:
    gw = await gateway(**store)
    catalog = gw.services["catalog"]
    await gw.client.get("/api/v1/categories")
    assert (await gw.client.get("/api/v1/categories")).headers["x-cache"] == "HIT"
    created = await gw.client.post(
        "/api/v1/admin/categories", json={"slug": "x"}, headers=gw.bearer("admin")
    )
    assert created.status_code == 200
    assert (await gw.client.get("/api/v1/categories")).headers["x-cache"] == "MISS"
    assert catalog.hits == 3


def test_a_listing_answer_is_indexed_under_the_products_it_shows() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    page = {"items": [{"id": str(first).upper()}, {"id": str(second)}, {"id": str(first)}]}
    assert listing_families(json.dumps(page).encode()) == (
        f"product:{first}",
        f"product:{second}",
    )
    assert listing_families(b'{"items": [{"id": "not-an-id"}, 3]}') == ()
    assert listing_families(b"[1, 2]") == ()
    assert listing_families(b"not json") == ()


async def test_a_write_is_answered_when_redis_cannot_drop_its_answers(
    gateway: GatewayFactory, unique: str
) -> None:
    # The write reached the catalog: a client told 500 would retry a write that happened.
    gw = await gateway(redis_url="redis://127.0.0.1:1/0", cache_namespace=unique)
    created = await gw.client.post(
        "/api/v1/admin/categories", json={"slug": "x"}, headers=gw.bearer("admin")
    )
    assert created.status_code == 200, created.text
    assert gw.services["catalog"].hits == 1
