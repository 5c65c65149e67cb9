"""The pricing rules' admin API through the orders app, on SQLite and on PostgreSQL + Kafka:
what an admin creates is listed, changed and deleted as they said; anyone else is refused;
bad input is a problem+json naming what is wrong."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from httpx import Response

PROBLEM = "application/problem+json"
#: The ``orders`` fixture (``tests/conftest.py``): the app on SQLite or PostgreSQL + Kafka.
Orders = Any

ZONE = {
    "name": "Iceland and Chile",
    "countries": ["IS", "CL", "IS"],
    "rates": [
        {"name": "Standard", "amount": 990, "currency": "EUR", "estimated_days": 4},
        {"name": "Standard", "amount": 0, "currency": "EUR", "min_subtotal": 10000},
        {"name": "Heavy", "amount": 2500, "currency": "EUR", "max_weight_grams": 30000},
    ],
}


def _problem(response: Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/" + kind), body
    return body


async def test_an_admin_creates_lists_and_deletes_shipping_zones(orders: Orders) -> None:
    admin = orders.admin()
    created = await orders.client.post("/admin/shipping-zones", json=ZONE, headers=admin)
    assert created.status_code == 201, created.text
    zone = created.json()
    assert zone["name"] == "Iceland and Chile"
    assert zone["countries"] == ["IS", "CL"]  # each once, in the order given
    assert [(r["name"], r["amount"], r["min_subtotal"]) for r in zone["rates"]] == [
        ("Standard", 990, None),
        ("Standard", 0, 10000),
        ("Heavy", 2500, None),
    ]
    assert zone["rates"][0]["estimated_days"] == 4
    assert zone["rates"][2]["max_weight_grams"] == 30000
    assert all(uuid.UUID(r["id"]) for r in zone["rates"])

    listed = await orders.client.get("/admin/shipping-zones", headers=admin)
    assert listed.status_code == 200
    assert listed.json() == [zone]

    gone = await orders.client.delete(f"/admin/shipping-zones/{zone['id']}", headers=admin)
    assert gone.status_code == 204
    assert (await orders.client.get("/admin/shipping-zones", headers=admin)).json() == []
    again = await orders.client.delete(f"/admin/shipping-zones/{zone['id']}", headers=admin)
    _problem(again, 404, "shipping-zone-not-found")


async def test_an_admin_manages_tax_rates_and_a_key_exists_once(orders: Orders) -> None:
    admin = orders.admin()

    async def create(**body: Any) -> Response:
        return await orders.client.post("/admin/tax-rates", json=body, headers=admin)

    vat = await create(country="IS", rate_bp=2400, name="VAT")
    assert vat.status_code == 201, vat.text
    assert vat.json() | {"id": None, "created_at": None} == {
        "id": None,
        "country": "IS",
        "region": None,
        "tax_class": "standard",
        "rate_bp": 2400,
        "name": "VAT",
        "created_at": None,
    }
    # The same key again, country-wide (no region): refused, though NULLs are never equal.
    duplicate = _problem(
        await create(country="IS", rate_bp=1100, name="VAT"), 409, "duplicate-tax-rate"
    )
    assert duplicate["country"] == "IS"
    assert (
        await create(country="IS", rate_bp=1100, name="VAT", tax_class="reduced")
    ).status_code == 201
    assert (await create(country="CL", region="RM", rate_bp=100, name="Local")).status_code == 201
    _problem(
        await create(country="CL", region="RM", rate_bp=200, name="Local"),
        409,
        "duplicate-tax-rate",
    )
    assert (await create(country="CL", rate_bp=1900, name="Local")).status_code == 201

    chile = await orders.client.get("/admin/tax-rates", params={"country": "CL"}, headers=admin)
    assert [(r["region"], r["name"], r["rate_bp"]) for r in chile.json()] == [
        (None, "Local", 1900),
        ("RM", "Local", 100),
    ]
    everything = await orders.client.get("/admin/tax-rates", headers=admin)
    assert len(everything.json()) == 4

    first = vat.json()["id"]
    assert (
        await orders.client.delete(f"/admin/tax-rates/{first}", headers=admin)
    ).status_code == 204
    _problem(
        await orders.client.delete(f"/admin/tax-rates/{first}", headers=admin),
        404,
        "tax-rate-not-found",
    )
    # Deleted, the key is free again.
    assert (await create(country="IS", rate_bp=2400, name="VAT")).status_code == 201


async def test_an_admin_creates_changes_and_deletes_promotions(orders: Orders) -> None:
    admin = orders.admin()
    product = str(uuid.uuid4())
    body = {
        "name": "Spring",
        "kind": "fixed",
        "value": 500,
        "currency": "EUR",
        "code": "spring-5",
        "applies_to": {"products": [product]},
        "starts_at": "2026-03-01T00:00:00+01:00",
        "ends_at": "2026-06-01T00:00:00Z",
        "usage_limit": 100,
        "per_customer_limit": 1,
        "min_subtotal": 2000,
    }
    created = await orders.client.post("/admin/promotions", json=body, headers=admin)
    assert created.status_code == 201, created.text
    promotion = created.json()
    assert promotion["code"] == "SPRING-5"  # stored upper case
    assert promotion["applies_to"] == {"categories": [], "products": [product]}
    assert promotion["starts_at"] == "2026-02-28T23:00:00Z"
    assert promotion["used_count"] == 0
    for field in ("kind", "value", "currency", "usage_limit", "per_customer_limit", "min_subtotal"):
        assert promotion[field] == body[field]

    # Codes are matched case-insensitively, so another case is the same code.
    taken = await orders.client.post(
        "/admin/promotions", json=body | {"code": "Spring-5"}, headers=admin
    )
    _problem(taken, 409, "duplicate-promotion-code")

    url = f"/admin/promotions/{promotion['id']}"
    changed = await orders.client.patch(url, json={"value": 750, "ends_at": None}, headers=admin)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["value"], changed.json()["ends_at"]) == (750, None)
    assert changed.json()["code"] == "SPRING-5"
    assert changed.json()["updated_at"] >= promotion["updated_at"]
    # A change that would leave it invalid conflicts with it, naming what; nothing changes.
    invalid = _problem(
        await orders.client.patch(url, json={"kind": "percentage"}, headers=admin),
        409,
        "promotion-conflict",
    )
    assert {e["field"] for e in invalid["errors"]} == {"body.value", "body.currency"}
    automatic = {"name": "Everything", "kind": "percentage", "value": 10}
    other = await orders.client.post("/admin/promotions", json=automatic, headers=admin)
    assert other.status_code == 201
    assert other.json()["code"] is None
    _problem(
        await orders.client.patch(url, json={"code": None}, headers=admin),
        409,
        "promotion-conflict",
    )  # limits without a code
    kept = await orders.client.get(url, headers=admin)
    assert kept.json() == changed.json()
    clash = await orders.client.patch(
        f"/admin/promotions/{other.json()['id']}", json={"code": "spring-5"}, headers=admin
    )
    _problem(clash, 409, "duplicate-promotion-code")

    page = await orders.client.get("/admin/promotions", params={"limit": 1}, headers=admin)
    assert [p["name"] for p in page.json()["items"]] == ["Everything"]  # newest first
    rest = await orders.client.get(
        "/admin/promotions", params={"cursor": page.json()["next_cursor"]}, headers=admin
    )
    assert rest.json()["items"] == [changed.json()]
    assert rest.json()["next_cursor"] is None

    assert (await orders.client.delete(url, headers=admin)).status_code == 204
    _problem(await orders.client.delete(url, headers=admin), 404, "promotion-not-found")
    _problem(
        await orders.client.patch(url, json={"value": 1}, headers=admin), 404, "promotion-not-found"
    )
    listed = await orders.client.get("/admin/promotions", headers=admin)
    assert [p["name"] for p in listed.json()["items"]] == ["Everything"]
    # Its code is free for a new promotion.
    again = await orders.client.post("/admin/promotions", json=body, headers=admin)
    assert again.status_code == 201


CALLS = [
    ("POST", "/admin/shipping-zones", ZONE),
    ("GET", "/admin/shipping-zones", None),
    ("DELETE", f"/admin/shipping-zones/{uuid.uuid4()}", None),
    ("POST", "/admin/tax-rates", {"country": "IS", "rate_bp": 2400, "name": "VAT"}),
    ("GET", "/admin/tax-rates", None),
    ("DELETE", f"/admin/tax-rates/{uuid.uuid4()}", None),
    ("POST", "/admin/promotions", {"name": "All", "kind": "percentage", "value": 5}),
    ("GET", "/admin/promotions", None),
    ("PATCH", f"/admin/promotions/{uuid.uuid4()}", {"value": 5}),
    ("DELETE", f"/admin/promotions/{uuid.uuid4()}", None),
]


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)  # no storage involved
async def test_only_an_admin_reads_or_changes_the_rules(orders: Orders) -> None:
    customer = orders.auth(uuid.uuid4())
    for method, path, body in CALLS:
        refused = await orders.client.request(method, path, json=body, headers=customer)
        _problem(refused, 403, "forbidden")
        anonymous = await orders.client.request(method, path, json=body)
        _problem(anonymous, 401, "unauthorized")
    admin = orders.admin()
    assert (await orders.client.get("/admin/shipping-zones", headers=admin)).json() == []
    assert (await orders.client.get("/admin/tax-rates", headers=admin)).json() == []
    assert (await orders.client.get("/admin/promotions", headers=admin)).json()["items"] == []


BAD_BODIES = [
    ("/admin/shipping-zones", ZONE | {"countries": ["UK"]}, "body.countries.0"),
    ("/admin/shipping-zones", ZONE | {"countries": []}, "body.countries"),
    ("/admin/shipping-zones", ZONE | {"rates": []}, "body.rates"),
    ("/admin/shipping-zones", ZONE | {"name": ""}, "body.name"),
    ("/admin/shipping-zones", ZONE | {"name": "x" * 101}, "body.name"),
    (
        "/admin/shipping-zones",
        ZONE | {"rates": [{"name": "A", "amount": 2**53, "currency": "EUR"}]},
        "body.rates.0.amount",
    ),
    (
        "/admin/shipping-zones",
        ZONE | {"rates": [{"name": "A", "amount": 1, "currency": "eur"}]},
        "body.rates.0.currency",
    ),
    ("/admin/tax-rates", {"country": "IS", "rate_bp": 10001, "name": "VAT"}, "body.rate_bp"),
    ("/admin/tax-rates", {"country": "is", "rate_bp": 1, "name": "VAT"}, "body.country"),
    (
        "/admin/promotions",
        {"name": "A", "kind": "percentage", "value": 101},
        "body.percentage.value",
    ),
    ("/admin/promotions", {"name": "A", "kind": "fixed", "value": 100}, "body.fixed.currency"),
    (
        "/admin/promotions",
        {"name": "A", "kind": "fixed", "value": "100", "currency": "EUR"},
        "body.fixed.value",
    ),
    ("/admin/promotions", {"name": "A", "kind": "bogus", "value": 1}, "body"),
    (
        "/admin/promotions",
        {"name": "A", "kind": "percentage", "value": 5, "code": "X", "usage_limit": 0},
        "body.percentage.usage_limit",
    ),
    (
        "/admin/promotions",
        {
            "name": "A",
            "kind": "percentage",
            "value": 5,
            "starts_at": "2026-02-01T00:00:00Z",
            "ends_at": "2026-01-01T00:00:00Z",
        },
        "body.percentage",
    ),
    (
        "/admin/promotions",
        {"name": "A", "kind": "percentage", "value": 5, "starts_at": "2026-02-01T00:00:00"},
        "body.percentage.starts_at",
    ),
]


async def test_bad_input_is_a_422_naming_the_field_and_stores_nothing(orders: Orders) -> None:
    admin = orders.admin()
    for path, body, field in BAD_BODIES:
        response = await orders.client.post(path, json=body, headers=admin)
        problem = _problem(response, 422, "validation-error")
        assert field in [error["field"] for error in problem["errors"]], (body, problem)
    assert (await orders.client.get("/admin/shipping-zones", headers=admin)).json() == []
    assert (await orders.client.get("/admin/tax-rates", headers=admin)).json() == []
    assert (await orders.client.get("/admin/promotions", headers=admin)).json()["items"] == []
