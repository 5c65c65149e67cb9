"""The listing with variants: prices in the asked currency, ``option.<name>=<value>``
filters on one variant, and facets counted over the whole filtered result."""

from __future__ import annotations

from typing import Any

from emporium.catalog.testing import Catalog

OPTIONS = [{"name": "size", "values": ["S", "M"]}, {"name": "Colour", "values": ["red", "blue"]}]


async def _variant(catalog: Catalog, product_id: str, **body: Any) -> dict[str, Any]:
    response = await catalog.client.post(
        f"/admin/products/{product_id}/variants", json=body, headers=catalog.admin
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def _listing(catalog: Catalog, params: Any) -> dict[str, Any]:
    response = await catalog.client.get("/products", params=params)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def _shop(catalog: Catalog) -> dict[str, dict[str, Any]]:
    shirts = await catalog.category("shirts")
    mugs = await catalog.category("mugs")
    # A red S (first values, EUR 2000) and a blue M in EUR and USD.
    tee = await catalog.product(name="Tee", price=2000, category_id=shirts["id"], options=OPTIONS)
    await _variant(
        catalog, tee["id"], sku="TEE-M-BLUE", options={"size": "M", "colour": "blue"},
        prices=[{"amount": 2200, "currency": "EUR"}, {"amount": 2500, "currency": "USD"}],
    )  # fmt: skip
    # A red M only, USD too.
    polo = await catalog.product(
        name="Polo", price=3000, category_id=shirts["id"], options=OPTIONS[::-1]
    )
    await catalog.client.patch(
        f"/admin/variants/{polo['id']}",
        json={"options": {"Colour": "red", "size": "m"},
              "prices": [{"amount": 3000, "currency": "EUR"}, {"amount": 3300, "currency": "USD"}]},
        headers=catalog.admin,
    )  # fmt: skip
    mug = await catalog.product(name="Mug", price=900, category_id=mugs["id"])
    return {"tee": tee, "polo": polo, "mug": mug, "shirts": shirts, "mugs": mugs}


async def test_the_listing_prices_in_the_asked_currency(catalog: Catalog) -> None:
    shop = await _shop(catalog)
    in_eur = await _listing(catalog, {})
    assert [(p["name"], p["price"]) for p in in_eur["items"]] == [
        ("Mug", {"amount": 900, "currency": "EUR"}),
        ("Polo", {"amount": 3000, "currency": "EUR"}),
        ("Tee", {"amount": 2000, "currency": "EUR"}),
    ]
    in_usd = await _listing(catalog, {"currency": "usd"})
    assert [(p["name"], p["price"]) for p in in_usd["items"]] == [
        ("Mug", None),
        ("Polo", {"amount": 3300, "currency": "USD"}),
        ("Tee", {"amount": 2500, "currency": "USD"}),
    ]
    tee = next(p for p in in_usd["items"] if p["id"] == shop["tee"]["id"])
    assert [v["price"] for v in tee["variants"]] == [None, {"amount": 2500, "currency": "USD"}]
    # Sorted and bounded by USD prices: what is not sold in USD drops out.
    pages: list[str] = []
    cursor = None
    while True:
        page = await _listing(
            catalog,
            {
                "currency": "USD",
                "sort": "-price",
                "limit": 1,
                **({"cursor": cursor} if cursor else {}),
            },
        )
        pages += [p["name"] for p in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert pages == ["Polo", "Tee"]
    bounded = await _listing(catalog, {"currency": "USD", "max_price": 2600})
    assert [p["name"] for p in bounded["items"]] == ["Tee"]
    unknown = await _listing(catalog, {"currency": "XYZ"})
    assert [p["price"] for p in unknown["items"]] == [None] * len(unknown["items"])
    for bad in ("1$", "EURO"):
        refused = await catalog.client.get("/products", params={"currency": bad})
        assert refused.status_code == 422, bad
        assert refused.headers["content-type"] == "application/problem+json"


async def test_option_filters_hold_on_one_variant(catalog: Catalog) -> None:
    await _shop(catalog)

    async def names(*pairs: tuple[str, str], **params: str) -> list[str]:
        listing = await _listing(catalog, [*pairs, *params.items()])
        return [p["name"] for p in listing["items"]]

    assert await names(("option.size", "M")) == ["Polo", "Tee"]
    assert await names(("option.SIZE", " m ")) == ["Polo", "Tee"]
    assert await names(("option.size", "M"), ("option.colour", "red")) == ["Polo"]
    assert await names(("option.size", "S"), ("option.colour", "blue")) == []  # not one variant
    assert await names(("option.colour", "blue"), ("option.colour", "red")) == ["Polo", "Tee"]
    assert await names(("option.fit", "slim")) == []
    assert await names(("option.size", "M"), category="mugs") == []
    for bad in (
        [("option.", "M")],
        [("option.size", "")],
        [("option.size", "x" * 51)],
        [("option.a", "1"), ("option.b", "1"), ("option.c", "1"), ("option.d", "1")],
    ):
        refused = await catalog.client.get("/products", params=bad)
        assert refused.status_code == 422, bad
        problem = refused.json()
        assert problem["type"].endswith("/invalid-options")
        assert problem["errors"][0]["field"].startswith("query.option."), problem


async def test_facets_count_the_whole_filtered_result(catalog: Catalog) -> None:
    shop = await _shop(catalog)
    everything = await _listing(catalog, {"limit": 1})
    assert len(everything["items"]) == 1  # the page is one product, the facets all three
    assert everything["facets"] == {
        "categories": [
            {"id": shop["shirts"]["id"], "slug": "shirts", "count": 2},
            {"id": shop["mugs"]["id"], "slug": "mugs", "count": 1},
        ],
        "options": {
            # Polo spelt it "Colour", Tee "Colour" too: the smallest spelling is shown.
            "Colour": [{"value": "red", "count": 2}, {"value": "blue", "count": 1}],
            "size": [{"value": "M", "count": 2}, {"value": "S", "count": 1}],
        },
    }
    red_m = await _listing(catalog, [("option.size", "M"), ("option.colour", "red")])
    # The filter picks the products; all their variants' values are counted.
    assert red_m["facets"]["options"] == {
        "Colour": [{"value": "red", "count": 1}],
        "size": [{"value": "M", "count": 1}],
    }
    assert red_m["facets"]["categories"] == [
        {"id": shop["shirts"]["id"], "slug": "shirts", "count": 1}
    ]
    mugs = await _listing(catalog, {"category": "mugs"})
    assert mugs["facets"] == {
        "categories": [{"id": shop["mugs"]["id"], "slug": "mugs", "count": 1}],
        "options": {},
    }
    nothing = await _listing(catalog, {"category": "nowhere"})
    assert nothing["facets"] == {"categories": [], "options": {}}
