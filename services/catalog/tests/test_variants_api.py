"""Variants through the API: options on the product, variants with prices per currency, the
product answered with its variants in the asked currency, the lowest price kept on it."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import select

from emporium.catalog.models import DEFAULT_LOCATION, Product, ProductPrice, StockLevel
from emporium.catalog.testing import Catalog
from emporium.kit.events import Envelope
from emporium.kit.outbox import OutboxMessage

SHIRT_OPTIONS = [
    {"name": "Size", "values": ["S", "M", "L"]},
    {"name": "colour", "values": ["red", "blue"]},
]


async def _variant(catalog: Catalog, product_id: str, **body: Any) -> dict[str, Any]:
    response = await catalog.client.post(
        f"/admin/products/{product_id}/variants", json=body, headers=catalog.admin
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def _product(catalog: Catalog, product_id: str, **params: str) -> dict[str, Any]:
    response = await catalog.client.get(f"/products/{product_id}", params=params)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def _set_units(catalog: Catalog, variant_id: str, on_hand: int) -> None:
    """Units at the default location, written as the stock endpoints would leave them."""
    async with catalog.database.session() as session:
        level = await session.get(StockLevel, (UUID(variant_id), DEFAULT_LOCATION))
        if level is None:
            level = StockLevel(
                variant_id=UUID(variant_id), location_code=DEFAULT_LOCATION, reserved=0
            )
            session.add(level)
        level.on_hand = on_hand


async def _events(catalog: Catalog, product_id: str) -> list[tuple[str, dict[str, Any]]]:
    async with catalog.database.session() as session:
        rows = await session.scalars(
            select(OutboxMessage.envelope)
            .where(OutboxMessage.key == product_id)
            .order_by(OutboxMessage.seq)
        )
        envelopes = [Envelope.from_bytes(raw) for raw in rows]
    return [(envelope.type, dict(envelope.data)) for envelope in envelopes]


async def test_a_product_with_options_sells_variants_priced_per_currency(catalog: Catalog) -> None:
    shirt = await catalog.product(sku="TEE", name="Tee", price=1500, options=SHIRT_OPTIONS)
    # The first variant has the product's id and takes each option's first value.
    assert shirt["options"] == SHIRT_OPTIONS
    assert [(v["id"], v["sku"], v["options"]) for v in shirt["variants"]] == [
        (shirt["id"], "TEE", {"Size": "S", "colour": "red"})
    ]
    red_m = await _variant(
        catalog, shirt["id"], sku="TEE-M-RED", options={"size": "m", "COLOUR": "Red"},
        prices=[{"amount": 1200, "currency": "EUR"}, {"amount": 1400, "currency": "usd"}],
        weight_grams=180,
    )  # fmt: skip
    assert red_m["options"] == {"Size": "M", "colour": "red"}  # spelled as the product has them
    assert {(p["currency"], p["amount"]) for p in red_m["prices"]} == {("EUR", 1200), ("USD", 1400)}
    assert red_m["product_id"] == shirt["id"]
    await _set_units(catalog, shirt["id"], 2)
    await _set_units(catalog, red_m["id"], 3)

    answer = await _product(catalog, shirt["id"])
    assert answer["price"] == {"amount": 1200, "currency": "EUR"}  # the lowest variant price
    assert answer["availability"] == {"in_stock": True, "available": 5}
    assert [(v["sku"], v["price"], v["availability"]["available"]) for v in answer["variants"]] == [
        ("TEE", {"amount": 1500, "currency": "EUR"}, 2),
        ("TEE-M-RED", {"amount": 1200, "currency": "EUR"}, 3),
    ]
    in_usd = await _product(catalog, shirt["id"], currency="usd")
    assert in_usd["price"] == {"amount": 1400, "currency": "USD"}
    assert [v["price"] for v in in_usd["variants"]] == [None, {"amount": 1400, "currency": "USD"}]
    in_yen = await _product(catalog, shirt["id"], currency="JPY")
    assert in_yen["price"] is None
    # A well-formed code the shop does not sell in prices nothing; only malformed codes refuse.
    in_unknown = await _product(catalog, shirt["id"], currency="XYZ")
    assert in_unknown["price"] is None
    assert [v["price"] for v in in_unknown["variants"]] == [None, None]
    for bad in ("12", "EURO", ""):
        refused = await catalog.client.get(f"/products/{shirt['id']}", params={"currency": bad})
        assert refused.status_code == 422, bad
        assert refused.headers["content-type"] == "application/problem+json"

    async with catalog.database.session() as session:
        row = await session.get(Product, UUID(shirt["id"]))
        assert row is not None
        assert (row.price_amount, row.currency, row.version) == (1200, "EUR", 2)
        lowest = await session.scalars(
            select(ProductPrice).where(ProductPrice.product_id == UUID(shirt["id"]))
        )
        assert {(p.currency, p.amount) for p in lowest} == {("EUR", 1200), ("USD", 1400)}
    events = await _events(catalog, shirt["id"])
    assert [(kind, data["product_version"]) for kind, data in events] == [
        ("catalog.ProductCreated.v2", 1),
        ("catalog.ProductUpdated.v3", 2),
        ("catalog.ProductPriceChanged.v2", 2),
    ]
    assert events[-1][1]["new_amount"] == 1200


async def test_variant_conflicts_and_invalid_options_are_problems(catalog: Catalog) -> None:
    shirt = await catalog.product(sku="POLO", price=1000, options=SHIRT_OPTIONS)
    body = {
        "sku": "POLO-M",
        "options": {"size": "M", "colour": "red"},
        "prices": [{"amount": 900, "currency": "EUR"}],
    }
    await _variant(catalog, shirt["id"], **body)
    url = f"/admin/products/{shirt['id']}/variants"

    async def refused(status: int, kind: str, **changes: Any) -> None:
        response = await catalog.client.post(url, json={**body, **changes}, headers=catalog.admin)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/" + kind), response.json()

    await refused(409, "duplicate-sku", options={"size": "L", "colour": "red"})
    await refused(409, "duplicate-sku", sku="POLO", options={"size": "L", "colour": "red"})
    await refused(
        409, "duplicate-option-combination", sku="POLO-M2", options={"SIZE": " m ", "colour": "RED"}
    )
    await refused(422, "invalid-options", sku="POLO-XL", options={"size": "XL", "colour": "red"})
    await refused(422, "invalid-options", sku="POLO-X", options={"size": "L"})
    await refused(
        422, "invalid-options", sku="POLO-X", options={"size": "L", "colour": "red", "fit": "slim"}
    )
    await refused(422, "unprocessable", sku="POLO-X", options={"size": "L", "colour": "blue"},
                  prices=[{"amount": 900, "currency": "USD"}])  # fmt: skip
    unknown = await catalog.client.post(
        f"/admin/products/{uuid4()}/variants", json=body, headers=catalog.admin
    )
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("/product-not-found")
    # A product without options has one variant: a second is the same (empty) combination.
    plain = await catalog.product(sku="PLAIN")
    twin = await catalog.client.post(
        f"/admin/products/{plain['id']}/variants",
        json={"sku": "PLAIN-2", "prices": [{"amount": 5, "currency": "EUR"}]},
        headers=catalog.admin,
    )
    assert twin.status_code == 409
    bad_options = await catalog.client.post(
        "/admin/products",
        json={"sku": "BAD-OPT", "name": "x", "price": 1,
              "options": [{"name": "size", "values": ["S"]}, {"name": "SIZE", "values": ["M"]}]},
        headers=catalog.admin,
    )  # fmt: skip
    assert bad_options.status_code == 422
    assert bad_options.json()["type"].endswith("/invalid-options")
    document = catalog.app.openapi()["paths"]
    assert {"201", "404", "409", "422"} <= document["/admin/products/{product_id}/variants"][
        "post"
    ]["responses"].keys()
    assert {"204", "404", "409"} <= document["/admin/variants/{variant_id}"]["delete"][
        "responses"
    ].keys()


async def test_changing_and_deleting_variants_keeps_the_lowest_price(catalog: Catalog) -> None:
    shirt = await catalog.product(sku="HOOD", price=3000, options=SHIRT_OPTIONS)
    cheap = await _variant(
        catalog, shirt["id"], sku="HOOD-L", options={"size": "L", "colour": "blue"},
        prices=[{"amount": 2500, "currency": "EUR"}],
    )  # fmt: skip
    changed = await catalog.client.patch(
        f"/admin/variants/{cheap['id']}",
        json={
            "sku": "HOOD-L-BLUE",
            "prices": [{"amount": 3500, "currency": "EUR"}, {"amount": 40, "currency": "GBP"}],
        },
        headers=catalog.admin,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["sku"] == "HOOD-L-BLUE"
    assert (await _product(catalog, shirt["id"]))["price"]["amount"] == 3000
    assert (await _product(catalog, shirt["id"], currency="GBP"))["price"]["amount"] == 40
    clash = await catalog.client.patch(
        f"/admin/variants/{cheap['id']}", json={"options": {"size": "S", "colour": "red"}},
        headers=catalog.admin,
    )  # fmt: skip
    assert clash.status_code == 409
    no_base = await catalog.client.patch(
        f"/admin/variants/{cheap['id']}", json={"prices": [{"amount": 1, "currency": "GBP"}]},
        headers=catalog.admin,
    )  # fmt: skip
    assert no_base.status_code == 422

    # The product's own price is its first variant's.
    patched = await catalog.client.patch(
        f"/admin/products/{shirt['id']}", json={"price": 2000}, headers=catalog.admin
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["price"] == {"amount": 2000, "currency": "EUR"}

    deleted = await catalog.client.delete(f"/admin/products/{shirt['id']}", headers=catalog.admin)
    assert deleted.status_code == 204
    gone = await catalog.client.patch(
        f"/admin/variants/{cheap['id']}", json={"weight_grams": 1}, headers=catalog.admin
    )
    assert gone.status_code == 404
    assert gone.json()["type"].endswith("/variant-not-found")

    plain = await catalog.product(sku="ONE", price=100)
    second_shirt = await catalog.product(sku="TWO", price=700, options=SHIRT_OPTIONS)
    other = await _variant(
        catalog, second_shirt["id"], sku="TWO-M", options={"size": "M", "colour": "red"},
        prices=[{"amount": 500, "currency": "EUR"}],
    )  # fmt: skip
    assert (await _product(catalog, second_shirt["id"]))["price"]["amount"] == 500
    removed = await catalog.client.delete(f"/admin/variants/{other['id']}", headers=catalog.admin)
    assert removed.status_code == 204
    answer = await _product(catalog, second_shirt["id"])
    assert (answer["price"]["amount"], len(answer["variants"])) == (700, 1)
    last = await catalog.client.delete(f"/admin/variants/{plain['id']}", headers=catalog.admin)
    assert last.status_code == 409
    assert last.json()["type"].endswith("/last-variant")
    # The deleted variant's SKU is free again.
    await _variant(
        catalog, second_shirt["id"], sku="TWO-M", options={"size": "M", "colour": "red"},
        prices=[{"amount": 650, "currency": "EUR"}],
    )  # fmt: skip


async def test_options_changed_on_the_product_carry_to_its_variants(catalog: Catalog) -> None:
    mug = await catalog.product(sku="MUG", price=800)
    url = f"/admin/products/{mug['id']}"
    sized = await catalog.client.patch(
        url,
        json={"options": [{"name": "size", "values": ["small", "large"]}]},
        headers=catalog.admin,
    )
    assert sized.status_code == 200, sized.text
    assert sized.json()["variants"][0]["options"] == {"size": "small"}
    await _variant(
        catalog, mug["id"], sku="MUG-L", options={"size": "large"},
        prices=[{"amount": 900, "currency": "EUR"}],
    )  # fmt: skip
    # A new option: every variant takes its first value; renaming keeps values by key.
    coloured = await catalog.client.patch(
        url,
        json={"options": [{"name": "Colour", "values": ["white", "black"]},
                          {"name": "Size", "values": ["Small", "Large"]}]},
        headers=catalog.admin,
    )  # fmt: skip
    assert coloured.status_code == 200, coloured.text
    assert [v["options"] for v in coloured.json()["variants"]] == [
        {"Colour": "white", "Size": "Small"},
        {"Colour": "white", "Size": "Large"},
    ]
    # Dropping size would make the two variants alike: 409, nothing changes.
    alike = await catalog.client.patch(
        url, json={"options": [{"name": "colour", "values": ["white"]}]}, headers=catalog.admin
    )
    assert alike.status_code == 409
    assert alike.json()["type"].endswith("/duplicate-option-combination")
    # Dropping a value a variant has: 422.
    dropped = await catalog.client.patch(
        url,
        json={
            "options": [
                {"name": "colour", "values": ["white"]},
                {"name": "size", "values": ["Small"]},
            ]
        },
        headers=catalog.admin,
    )
    assert dropped.status_code == 422
    assert (await _product(catalog, mug["id"]))["options"] == [
        {"name": "Colour", "values": ["white", "black"]},
        {"name": "Size", "values": ["Small", "Large"]},
    ]
