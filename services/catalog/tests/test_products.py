"""Categories and products: admin CRUD, validation problems, events through the outbox."""

from __future__ import annotations

from uuid import uuid4

from sqlalchemy import select

from emporium.catalog.testing import Catalog
from emporium.kit.events import Envelope
from emporium.kit.outbox import OutboxMessage


async def test_categories_form_a_tree_with_unique_slugs(catalog: Catalog) -> None:
    root = await catalog.category("home")
    child = await catalog.category("kitchen", parent_id=root["id"])
    assert child["parent_id"] == root["id"]

    listed = (await catalog.client.get("/categories")).json()
    assert {(c["slug"], c["parent_id"]) for c in listed} == {
        ("home", None),
        ("kitchen", root["id"]),
    }
    duplicate = await catalog.client.post(
        "/admin/categories", json={"slug": "home", "name": "Again"}, headers=catalog.admin
    )
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == "application/problem+json"
    assert duplicate.json()["type"].endswith("/duplicate-slug")
    orphan = await catalog.client.post(
        "/admin/categories",
        json={"slug": "orphan", "name": "Orphan", "parent_id": str(uuid4())},
        headers=catalog.admin,
    )
    assert orphan.status_code == 404


async def test_admin_routes_need_an_admin_token(catalog: Catalog) -> None:
    body = {"slug": "x", "name": "X"}
    anonymous = await catalog.client.post("/admin/categories", json=body)
    assert anonymous.status_code == 401
    customer = {"Authorization": f"Bearer {catalog.mint.token(role='customer')}"}
    forbidden = await catalog.client.post("/admin/categories", json=body, headers=customer)
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"] == "application/problem+json"


async def test_a_product_is_created_read_updated_and_deleted(catalog: Catalog) -> None:
    category = await catalog.category("tools")
    created = await catalog.product(
        sku="HAM-1",
        name="Hammer",
        description="A claw hammer",
        price={"amount": 1299, "currency": "EUR"},
        category_id=category["id"],
        attributes={"weight_g": 450},
    )
    assert created["price"] == {"amount": 1299, "currency": "EUR"}
    assert created["availability"] == {"in_stock": False, "available": 0}
    assert created["images"] == []
    assert created["attributes"] == {"weight_g": 450}

    fetched = await catalog.client.get(f"/products/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["sku"] == "HAM-1"

    patched = await catalog.client.patch(
        f"/admin/products/{created['id']}",
        json={"price": {"amount": 999, "currency": "EUR"}, "name": "Claw hammer"},
        headers=catalog.admin,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["price"]["amount"] == 999
    assert (await catalog.client.get(f"/products/{created['id']}")).json()["name"] == (
        "Claw hammer"
    )

    deleted = await catalog.client.delete(f"/admin/products/{created['id']}", headers=catalog.admin)
    assert deleted.status_code == 204
    gone = await catalog.client.get(f"/products/{created['id']}")
    assert gone.status_code == 404
    assert gone.json()["type"].endswith("/product-not-found")
    listing = (await catalog.client.get("/products")).json()
    assert created["id"] not in [p["id"] for p in listing["items"]]

    assert await catalog.outbox_types(created["id"]) == [
        "catalog.ProductCreated.v2",
        "catalog.ProductUpdated.v3",
        "catalog.ProductPriceChanged.v2",
        "catalog.ProductDeleted.v2",
    ]
    # One version per change: both events of the update carry 2, whatever the clocks.
    assert await _product_versions(catalog, created["id"]) == [1, 2, 2, 3]


async def _product_versions(catalog: Catalog, product_id: str) -> list[int]:
    async with catalog.database.session() as session:
        rows = await session.scalars(
            select(OutboxMessage.envelope)
            .where(OutboxMessage.key == product_id)
            .order_by(OutboxMessage.seq)
        )
        return [int(Envelope.from_bytes(raw).data["product_version"]) for raw in rows]


async def test_the_schema_says_a_price_is_money_or_minor_units(catalog: Catalog) -> None:
    """What is accepted is what is documented: a Money object or a bare amount in cents."""
    document = catalog.app.openapi()
    schemas = document["components"]["schemas"]
    for name in ("ProductCreate", "ProductUpdate"):
        options = schemas[name]["properties"]["price"]["anyOf"]
        assert {"$ref": "#/components/schemas/Money"} in options, name
        minor_units = next(option for option in options if option.get("type") == "integer")
        assert (minor_units["minimum"], minor_units["maximum"]) == (0, 10**12)
    bare = await catalog.client.post(
        "/admin/products", json={"sku": "BARE-1", "name": "x", "price": 250}, headers=catalog.admin
    )
    assert bare.status_code == 201, bare.text
    assert bare.json()["price"] == {"amount": 250, "currency": "EUR"}
    # A JSON Schema integer may be written 300.0.
    for sku, price in (("WHOLE-1", 300.0), ("WHOLE-2", {"amount": 300.0, "currency": "EUR"})):
        whole = await catalog.client.post(
            "/admin/products", json={"sku": sku, "name": "x", "price": price}, headers=catalog.admin
        )
        assert whole.status_code == 201, whole.text
        assert whole.json()["price"]["amount"] == 300
    for price in (-1, 10**12 + 1, True, 2.5, {"amount": False}, {"amount": "1"}):
        refused = await catalog.client.post(
            "/admin/products",
            json={"sku": "BARE-2", "name": "x", "price": price},
            headers=catalog.admin,
        )
        assert refused.status_code == 422, price
    upload = document["paths"]["/admin/products/{product_id}/images"]["post"]["responses"]
    assert {"413", "415"} <= upload.keys()


async def test_duplicate_sku_is_409_and_a_deleted_product_frees_it(catalog: Catalog) -> None:
    first = await catalog.product(sku="DUP-1")
    again = await catalog.client.post(
        "/admin/products",
        json={"sku": "DUP-1", "name": "Other", "price": 100},
        headers=catalog.admin,
    )
    assert again.status_code == 409
    assert again.json()["type"].endswith("/duplicate-sku")
    other = await catalog.product(sku="DUP-2")
    clash = await catalog.client.patch(
        f"/admin/products/{other['id']}", json={"sku": "DUP-1"}, headers=catalog.admin
    )
    assert clash.status_code == 409

    await catalog.client.delete(f"/admin/products/{first['id']}", headers=catalog.admin)
    reused = await catalog.product(sku="DUP-1")
    assert reused["id"] != first["id"]


async def test_invalid_product_lists_every_field_at_fault(catalog: Catalog) -> None:
    response = await catalog.client.post(
        "/admin/products",
        json={"sku": "", "price": {"amount": -5, "currency": "euro"}, "category_id": "nope"},
        headers=catalog.admin,
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    fields = {error["field"] for error in response.json()["errors"]}
    assert {
        "body.sku",
        "body.name",
        "body.price.amount",
        "body.price.currency",
        "body.category_id",
    } <= fields


async def test_unknown_product_and_category_are_404(catalog: Catalog) -> None:
    assert (await catalog.client.get(f"/products/{uuid4()}")).status_code == 404
    patch = await catalog.client.patch(
        f"/admin/products/{uuid4()}", json={"name": "x"}, headers=catalog.admin
    )
    assert patch.status_code == 404
    bad_category = await catalog.client.post(
        "/admin/products",
        json={"sku": "C-1", "name": "x", "price": 1, "category_id": str(uuid4())},
        headers=catalog.admin,
    )
    assert bad_category.status_code == 404
    assert bad_category.json()["type"].endswith("/category-not-found")
