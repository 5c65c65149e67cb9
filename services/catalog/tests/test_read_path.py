"""The product GET's read path: answers kept in each process stay exactly as current as the
shared cache (a write through any replica shows at once), reads that share a Redis round
trip each get their own product, and a miss costs the same few statements however many
variants a product has."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import event, select
from sqlalchemy.engine import Connection

from emporium.catalog.answers import Answers
from emporium.catalog.models import Product, StockLevel
from emporium.catalog.product import repository as products
from emporium.catalog.product.views import Details, product_view
from emporium.catalog.testing import Catalog, running_catalog
from emporium.catalog.variants import repository as variants


async def detail(catalog: Catalog, product_id: str, **params: str) -> dict[str, Any]:
    response = await catalog.client.get(f"/products/{product_id}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_write_through_one_replica_shows_at_once_on_the_other(
    postgres_url: str, redis_url: str, unique: str, tmp_path: Path
) -> None:
    settings: dict[str, Any] = {"redis_url": redis_url, "run_workers": False}
    async with (
        running_catalog(postgres_url, tmp_path / "a", settings=settings, cache_namespace=unique)
        as reader,
        running_catalog(postgres_url, tmp_path / "b", settings=settings, cache_namespace=unique)
        as writer,
    ):  # fmt: skip
        product = await writer.product(name="Before")
        await writer.stock(product["id"], 4)
        for _ in range(3):  # cached, in Redis and in the reader's process
            assert (await detail(reader, product["id"]))["name"] == "Before"

        await writer.client.patch(
            f"/admin/products/{product['id']}", json={"name": "After"}, headers=writer.admin
        )
        assert (await detail(reader, product["id"]))["name"] == "After"

        await writer.stock(product["id"], 9)
        seen = await detail(reader, product["id"])
        assert seen["availability"] == {"in_stock": True, "available": 9}
        assert seen["variants"][0]["availability"] == {"in_stock": True, "available": 9}

        await writer.client.delete(f"/admin/products/{product['id']}", headers=writer.admin)
        response = await reader.client.get(f"/products/{product['id']}")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_reads_at_once_each_get_their_own_product_and_currency(
    postgres_url: str, redis_url: str, unique: str, tmp_path: Path
) -> None:
    settings: dict[str, Any] = {"redis_url": redis_url, "run_workers": False}
    async with running_catalog(
        postgres_url, tmp_path, settings=settings, cache_namespace=unique
    ) as catalog:
        products = [await catalog.product(name=f"P{i}", price=100 + i) for i in range(6)]
        for round_ in range(2):  # the first round fills the caches, the second reads them
            asked = [(p, c) for p in products for c in ("EUR", "usd", None) for _ in range(3)]
            answers = await asyncio.gather(
                *(detail(catalog, p["id"], **({"currency": c} if c else {})) for p, c in asked)
            )
            for (product, currency), answer in zip(asked, answers, strict=True):
                assert answer["name"] == product["name"], round_
                if currency == "usd":
                    assert answer["price"] is None  # nothing is priced in USD here
                else:
                    assert answer["price"] == product["price"]


def test_kept_answers_are_bounded_by_bytes_least_recently_used_first() -> None:
    answers = Answers(max_bytes=10)
    answers.put("a", b"aaaa")
    answers.put("b", b"bbbb")
    assert answers.get("a") == b"aaaa"  # now "b" is the least recently used
    answers.put("c", b"cccc")
    assert answers.get("b") is None
    assert (answers.get("a"), answers.get("c")) == (b"aaaa", b"cccc")
    answers.put("huge", b"x" * 11)  # larger than the whole bound: not kept, nothing evicted
    assert answers.get("huge") is None
    assert len(answers) == 2


async def generated_product(catalog: Catalog, rng: random.Random, n: int) -> str:
    """A product with options, ``n`` more variants priced in EUR and sometimes USD, units at
    two locations (some reserved), and one deleted variant."""
    response = await catalog.client.post(
        "/admin/locations", json={"code": "north", "name": "North", "priority": 5},
        headers=catalog.admin,
    )  # fmt: skip
    assert response.status_code in (201, 409), response.text
    options = [
        {"name": "Size", "values": ["S", "M", "L", "XL"]},
        {"name": "colour", "values": ["red", "blue", "green"]},
    ]
    product = await catalog.product(price=rng.randint(100, 5000), options=options)
    made = [product["variants"][0]["id"]]
    combos = [(s, c) for s in options[0]["values"] for c in options[1]["values"]][1:]
    for size, colour in rng.sample(combos, n + 1):
        prices = [{"amount": rng.randint(100, 5000), "currency": "EUR"}]
        if rng.random() < 0.5:
            prices.append({"amount": rng.randint(100, 5000), "currency": "USD"})
        response = await catalog.client.post(
            f"/admin/products/{product['id']}/variants",
            json={"sku": f"{product['sku']}-{size}-{colour}",
                  "options": {"size": size, "colour": colour}, "prices": prices},
            headers=catalog.admin,
        )  # fmt: skip
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
    gone = made.pop()
    response = await catalog.client.delete(f"/admin/variants/{gone}", headers=catalog.admin)
    assert response.status_code == 204, response.text
    async with catalog.database.session() as session:
        for variant_id in made:
            for location in rng.sample(["default", "north"], rng.randint(0, 2)):
                level = await session.get(StockLevel, (UUID(variant_id), location))
                if level is None:
                    level = StockLevel(variant_id=UUID(variant_id), location_code=location)
                    session.add(level)
                level.on_hand = rng.randint(0, 9)
                level.reserved = rng.randint(0, level.on_hand)
    return str(product["id"])


async def expected(catalog: Catalog, product_id: str, currency: str) -> dict[str, Any]:
    """The answer built from the rows read one kind at a time (the read path before)."""
    async with catalog.database.session() as session:
        product = await session.scalar(select(Product).where(Product.id == UUID(product_id)))
        assert product is not None
        live = await variants.live_variants(session, [product.id])
        ids = [v.id for v in live]
        rows = await variants.option_rows(session, ids)
        details = Details(
            options=(await variants.options_of(session, [product.id]))[product.id],
            variants=live,
            variant_options={v: {k: (r.name, r.value) for k, r in rows[v].items()} for v in rows},
            prices=await variants.prices_of(session, ids, currency),
            available=await variants.available(session, ids),
            images=(await products.images_of(session, [product.id]))[product.id],
        )
    answer = product_view(product, details, currency, "/api/v1/media")
    body: dict[str, Any] = answer.model_dump(mode="json")
    return body


async def test_answers_are_the_rows_of_generated_products(catalog: Catalog) -> None:
    rng = random.Random(12)
    made = [await generated_product(catalog, rng, n) for n in (0, 1, 4, 9)]
    for product_id in made:
        for currency in ("EUR", "USD", "JPY"):
            answer = await detail(catalog, product_id, currency=currency)
            assert answer == await expected(catalog, product_id, currency)
    page = (await catalog.client.get("/products", params={"currency": "USD"})).json()
    assert sorted(item["id"] for item in page["items"]) == sorted(made)
    for item in page["items"]:
        assert item == await expected(catalog, item["id"], "USD")


async def test_a_product_answer_costs_the_same_statements_whatever_its_variants(
    database_url: str, tmp_path: Path
) -> None:
    # No background loops: the outbox relay's polls would be counted too.
    async with running_catalog(database_url, tmp_path, settings={"run_workers": False}) as catalog:
        rng = random.Random(3)
        small = await generated_product(catalog, rng, 0)
        large = await generated_product(catalog, rng, 9)
        plain = (await catalog.product(name="Plain"))["id"]  # no options
        statements: list[str] = []

        def count(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        event.listen(catalog.database.sync_engine, "before_cursor_execute", count)
        counts = []
        for product_id in (small, large, plain):
            statements.clear()
            assert len((await detail(catalog, product_id))["variants"]) in (1, 10)
            counts.append(len(statements))
        event.remove(catalog.database.sync_engine, "before_cursor_execute", count)
    # The product, its variants with price and units, options, option values, images; a
    # product without options has no option values to read.
    assert counts == [5, 5, 4]
