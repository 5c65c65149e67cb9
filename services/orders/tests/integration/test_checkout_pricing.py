"""Checkout pricing through the orders app, on SQLite and on PostgreSQL + Kafka: the cart
shows the breakdown at every step, drops what stops applying with a notice, and the order
keeps exactly the breakdown the cart last showed; a code with a usage limit of one goes to
one order however many checkouts race for it, and comes back when that order fails."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from httpx import Response
from sqlalchemy import func, select

from emporium.contracts.catalog import ProductCreatedV2, StockReservationRejected, StockReserved
from emporium.contracts.customers import CustomerDeleted
from emporium.kit.events import Envelope
from emporium.kit.testing.polling import eventually
from emporium.orders.app import OUTBOX
from emporium.orders.common import EventPublisher
from emporium.orders.models import CustomerOrder
from emporium.orders.rules.models import Promotion
from emporium.orders.saga.sweeper import Sweeper

#: The ``orders`` fixture (``tests/conftest.py``): the app on SQLite or PostgreSQL + Kafka.
Orders = Any
PROBLEM = "application/problem+json"
BERLIN = {"line1": "1 Unter den Linden", "city": "Berlin", "postal_code": "10117", "country": "DE"}
PARIS = {"line1": "1 Rue de Rivoli", "city": "Paris", "postal_code": "75001", "country": "FR"}
BREAKDOWN = ("subtotal", "discounts", "shipping", "tax", "total")


@pytest.fixture
def app_settings() -> dict[str, Any]:
    # The race below runs 50 checkouts at once: enough connections that none waits its turn.
    return {"database_pool_size": 30}


async def _product(orders: Orders, *, price: int, weight: int = 0, currency: str = "EUR") -> UUID:
    product_id = uuid.uuid4()
    await orders.publish(
        ProductCreatedV2(
            product_id=product_id,
            product_version=1,
            sku=f"SKU-{product_id.hex[:6]}",
            name="Sencha, 100 g",
            price_amount=price,
            currency=currency,
            weight_grams=weight,
        ),
        product_id,
    )
    await orders.until_product(product_id, lambda p: p is not None)
    return product_id


async def _admin_post(orders: Orders, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await orders.client.post(path, json=body, headers=orders.admin())
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _zone(orders: Orders, country: str, *rates: dict[str, Any]) -> list[str]:
    """A shipping zone for ``country``; the ids of its rates, in order."""
    body = {"name": f"Zone {country}", "countries": [country], "rates": list(rates)}
    zone = await _admin_post(orders, "/admin/shipping-zones", body)
    return [rate["id"] for rate in zone["rates"]]


def _rate(name: str, amount: int, **extra: Any) -> dict[str, Any]:
    return {"name": name, "amount": amount, "currency": "EUR", "estimated_days": 2, **extra}


async def _code(orders: Orders, code: str, **extra: Any) -> dict[str, Any]:
    body = {"name": f"Promotion {code}", "kind": "percentage", "value": 10, "code": code}
    return await _admin_post(orders, "/admin/promotions", body | extra)


async def _cart(orders: Orders, customer: UUID) -> dict[str, Any]:
    response = await orders.client.get("/cart", headers=orders.auth(customer))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _put(orders: Orders, customer: UUID, path: str, body: dict[str, Any]) -> Response:
    return await orders.client.put(path, json=body, headers=orders.auth(customer))


async def _ok(response: Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _place(
    orders: Orders, customer: UUID, *, token: str = "tok_visa", **body: Any
) -> Response:
    return await orders.client.post(
        "/orders",
        json={"payment": {"card_token": token}, **body},
        headers={**orders.auth(customer), "Idempotency-Key": uuid.uuid4().hex},
    )


def _problem(response: Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/" + kind), body
    return body


def _eur(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "EUR"}


def _adds_up(priced: dict[str, Any]) -> None:
    shipping = priced["shipping"]["amount"]["amount"] if priced["shipping"] else 0
    discounts = sum(d["amount"]["amount"] for d in priced["discounts"])
    assert (
        priced["subtotal"]["amount"] - discounts + shipping + priced["tax"]["amount"]["amount"]
        == priced["total"]["amount"]
    )


async def test_address_options_method_and_code_price_the_cart_and_the_order_keeps_it(
    orders: Orders,
) -> None:
    customer = uuid.uuid4()
    standard, express = await _zone(
        orders, "DE", _rate("Standard", 490, estimated_days=3), _rate("Express", 990)
    )
    vat = await _admin_post(
        orders, "/admin/tax-rates", {"country": "DE", "rate_bp": 1900, "name": "VAT"}
    )
    await _code(orders, "WELCOME10")
    tea = await _product(orders, price=1290, weight=100)
    cart = await _ok(await orders.add(customer, tea, 2))
    assert (cart["total"], cart["shipping_options"], cart["shipping_address"]) == (
        _eur(2580),
        [],
        None,
    )

    cart = await _ok(await _put(orders, customer, "/cart/shipping-address", BERLIN))
    assert cart["shipping_address"]["city"] == "Berlin"
    options = [
        (o["id"], o["name"], o["amount"], o["estimated_days"]) for o in cart["shipping_options"]
    ]
    assert options == [(standard, "Standard", _eur(490), 3), (express, "Express", _eur(990), 2)]
    listed = await orders.client.get("/cart/shipping-options", headers=orders.auth(customer))
    assert listed.json() == cart["shipping_options"]
    # The prices hold the German VAT (EUR is tax-inclusive): the total stays, the tax shows.
    assert cart["total"] == _eur(2580)
    assert cart["tax"]["amount"] == _eur(412)

    cart = await _ok(await _put(orders, customer, "/cart/shipping-method", {"id": standard}))
    assert cart["shipping"] == {"id": standard, "name": "Standard", "amount": _eur(412)}
    cart = await _ok(
        await orders.client.post(
            "/cart/codes", json={"code": "welcome10"}, headers=orders.auth(customer)
        )
    )
    assert cart["codes"] == ["WELCOME10"]
    assert cart["discounts"] == [
        {"code": "WELCOME10", "name": "Promotion WELCOME10", "amount": _eur(217)}
    ]
    assert cart["subtotal"] == _eur(2168)
    assert cart["tax"] == {
        "amount": _eur(449),
        "lines": [{"name": "VAT", "rate_bp": 1900, "amount": _eur(449)}],
    }
    assert cart["total"] == _eur(2812)  # 2580 - 258 off the lines, + 490 shipping
    assert cart["notices"] == []
    _adds_up(cart)
    shown = await _cart(orders, customer)
    assert shown == cart

    placed = await _place(orders, customer)  # no address in the body: the cart's
    assert placed.status_code == 202, placed.text
    order = placed.json()
    assert {k: order[k] for k in BREAKDOWN} == {k: shown[k] for k in BREAKDOWN}
    assert order["shipping_address"]["city"] == "Berlin"
    [line] = order["lines"]
    assert (line["line_total"], line["discount"], line["tax"]) == (_eur(2580), _eur(258), _eur(371))

    # The cart is empty, its code and method gone with the order; the address stays.
    after = await _cart(orders, customer)
    assert (after["items"], after["codes"], after["shipping"]) == ([], [], None)
    assert after["shipping_address"]["city"] == "Berlin"

    # The event carries the same breakdown.
    assert await orders.events(order["id"], count=1) == ["OrderPlaced"]
    [event] = [e for e in orders.seen if e.key == order["id"]]
    assert isinstance(event, Envelope)
    assert event.type == "orders.OrderPlaced.v2"
    breakdown = event.data["breakdown"]
    assert (breakdown["subtotal_amount"], breakdown["tax_amount"], breakdown["total_amount"]) == (
        2168,
        449,
        2812,
    )
    assert event.data["total_amount"] == 2812
    assert breakdown["lines"][0]["discount_amount"] == 258

    # The rules change; the order's breakdown does not.
    gone = await orders.client.delete(f"/admin/tax-rates/{vat['id']}", headers=orders.admin())
    assert gone.status_code == 204
    again = await orders.order(customer, order["id"])
    assert {k: again[k] for k in BREAKDOWN} == {k: shown[k] for k in BREAKDOWN}


async def test_an_exclusive_currency_adds_the_tax_of_the_address_region(orders: Orders) -> None:
    customer = uuid.uuid4()
    admin = "/admin/tax-rates"
    await _admin_post(orders, admin, {"country": "US", "rate_bp": 0, "name": "Federal"})
    await _admin_post(
        orders, admin, {"country": "US", "region": "CA", "rate_bp": 725, "name": "CA"}
    )
    await _admin_post(
        orders, admin, {"country": "US", "region": "NY", "rate_bp": 400, "name": "NY"}
    )
    gadget = await _product(orders, price=1999, currency="USD")
    await orders.add(customer, gadget, 1)
    address = {"line1": "1 Market St", "city": "San Francisco", "postal_code": "94105"}
    cart = await _ok(
        await _put(
            orders, customer, "/cart/shipping-address", address | {"country": "US", "region": "CA"}
        )
    )
    assert cart["subtotal"] == {"amount": 1999, "currency": "USD"}
    assert [(t["name"], t["amount"]["amount"]) for t in cart["tax"]["lines"]] == [
        ("Federal", 0),
        ("CA", 145),  # 1999 * 7.25 % = 144.93
    ]
    assert cart["total"] == {"amount": 2144, "currency": "USD"}
    assert cart["shipping_options"] == []  # no zone ships to the US: no shipping charge
    order = await _place(orders, customer)
    assert order.status_code == 202, order.text
    assert order.json()["total"] == {"amount": 2144, "currency": "USD"}


async def test_a_chosen_rate_is_dropped_when_the_address_moves_to_another_country(
    orders: Orders,
) -> None:
    customer = uuid.uuid4()
    [standard] = await _zone(orders, "DE", _rate("Standard", 490))
    await orders.add(customer, await _product(orders, price=1000), 1)
    await _put(orders, customer, "/cart/shipping-address", BERLIN)
    await _ok(await _put(orders, customer, "/cart/shipping-method", {"id": standard}))

    cart = await _ok(await _put(orders, customer, "/cart/shipping-address", PARIS))
    assert (cart["shipping"], cart["shipping_options"]) == (None, [])
    [notice] = cart["notices"]
    assert notice["reason"] == "shipping_method_unavailable"
    assert "does not ship to FR" in notice["detail"]
    assert (await _cart(orders, customer))["notices"] == cart["notices"]  # until the next change
    # No zone covers France: the order ships without a shipping charge.
    placed = await _place(orders, customer)
    assert placed.status_code == 202, placed.text
    assert (placed.json()["shipping"], placed.json()["total"]) == (None, _eur(1000))


async def test_a_chosen_rate_is_dropped_when_the_contents_change_weight_band(
    orders: Orders,
) -> None:
    customer = uuid.uuid4()
    light, heavy = await _zone(
        orders,
        "DE",
        _rate("Standard", 490, max_weight_grams=1000),
        _rate("Standard", 890, max_weight_grams=5000),
    )
    flour = await _product(orders, price=300, weight=400)
    await orders.add(customer, flour, 2)  # 800 g
    cart = await _ok(await _put(orders, customer, "/cart/shipping-address", BERLIN))
    assert [o["id"] for o in cart["shipping_options"]] == [light]  # the cheapest "Standard"
    await _ok(await _put(orders, customer, "/cart/shipping-method", {"id": light}))

    cart = await _ok(await orders.add(customer, flour, 3))  # 1200 g
    assert cart["shipping"] is None
    assert [o["id"] for o in cart["shipping_options"]] == [heavy]
    [notice] = cart["notices"]
    assert notice["reason"] == "shipping_method_unavailable"
    assert "up to 1000 g; the cart weighs 1200 g" in notice["detail"]
    # A zone covers Germany: no order until a method is chosen again.
    _problem(await _place(orders, customer), 409, "shipping-method-required")
    cart = await _ok(await _put(orders, customer, "/cart/shipping-method", {"id": heavy}))
    assert cart["notices"] == []
    assert cart["total"] == _eur(900 + 890)


async def test_a_code_is_dropped_when_the_cart_falls_under_its_minimum_subtotal(
    orders: Orders,
) -> None:
    customer = uuid.uuid4()
    await _code(orders, "BIG10", min_subtotal=5000)
    tea = await _product(orders, price=3000)
    await orders.add(customer, tea, 2)
    headers = orders.auth(customer)
    cart = await _ok(
        await orders.client.post("/cart/codes", json={"code": "BIG10"}, headers=headers)
    )
    assert (cart["codes"], cart["total"]) == (["BIG10"], _eur(5400))

    cart = await _ok(await orders.add(customer, tea, 1))
    assert (cart["codes"], cart["discounts"], cart["total"]) == ([], [], _eur(3000))
    [notice] = cart["notices"]
    assert notice["reason"] == "min_subtotal"
    assert notice["detail"].startswith("BIG10 was removed")
    # Dropped for good: back over the minimum, the shopper applies it again.
    cart = await _ok(await orders.add(customer, tea, 2))
    assert (cart["codes"], cart["notices"]) == ([], [])
    reapplied = await orders.client.post("/cart/codes", json={"code": "BIG10"}, headers=headers)
    assert (await _ok(reapplied))["codes"] == ["BIG10"]
    removed = await orders.client.delete("/cart/codes/big10", headers=headers)
    assert (await _ok(removed))["codes"] == []


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_a_refused_code_says_why(orders: Orders) -> None:
    customer = uuid.uuid4()
    now = datetime.now(UTC)
    await _code(orders, "OLD", ends_at=(now - timedelta(days=1)).isoformat())
    await _code(orders, "SOON", starts_at=(now + timedelta(days=1)).isoformat())
    await _code(orders, "ONLY", applies_to={"products": [str(uuid.uuid4())]})
    await _code(orders, "FIVEK", min_subtotal=500000)
    await _code(orders, "DOLLARS", kind="fixed", value=500, currency="USD")
    await orders.add(customer, await _product(orders, price=1000), 1)
    for code, reason in [
        ("NOPE", "unknown"),
        ("OLD", "expired"),
        ("SOON", "not_started"),
        ("ONLY", "not_eligible"),
        ("FIVEK", "min_subtotal"),
        ("DOLLARS", "not_eligible"),
    ]:
        response = await orders.client.post(
            "/cart/codes", json={"code": code}, headers=orders.auth(customer)
        )
        problem = _problem(response, 422, "code-refused")
        assert problem["reason"] == reason, (code, problem)
        assert problem["detail"]
    assert (await _cart(orders, customer))["codes"] == []
    bad = await orders.client.post(
        "/cart/codes", json={"code": "no spaces"}, headers=orders.auth(customer)
    )
    _problem(bad, 422, "validation-error")


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_a_method_must_be_offered_and_an_order_needs_an_address(orders: Orders) -> None:
    customer = uuid.uuid4()
    await orders.add(customer, await _product(orders, price=1000), 1)
    _problem(await _place(orders, customer), 422, "shipping-address-required")
    not_offered = await _put(orders, customer, "/cart/shipping-method", {"id": str(uuid.uuid4())})
    _problem(not_offered, 422, "shipping-method-not-offered")
    [standard] = await _zone(orders, "DE", _rate("Standard", 490))
    await _put(orders, customer, "/cart/shipping-address", BERLIN)
    _problem(await _place(orders, customer), 409, "shipping-method-required")
    # The body's address counts as the cart's would: Paris has no zone, so no method needed.
    paris = await _place(orders, customer, shipping_address=PARIS)
    assert paris.status_code == 202, paris.text
    assert paris.json()["shipping_address"]["city"] == "Paris"
    assert standard


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_the_same_key_without_an_address_gives_the_same_order(orders: Orders) -> None:
    customer = uuid.uuid4()
    await orders.add(customer, await _product(orders, price=1000), 1)
    await _put(orders, customer, "/cart/shipping-address", BERLIN)
    headers = {**orders.auth(customer), "Idempotency-Key": "pricing-1"}
    body = {"payment": {"card_token": "tok_visa"}}
    first = await orders.client.post("/orders", json=body, headers=headers)
    second = await orders.client.post("/orders", json=body, headers=headers)
    assert first.status_code == second.status_code == 202, first.text
    assert first.json()["id"] == second.json()["id"]
    other = await orders.client.post(
        "/orders", json=body | {"shipping_address": BERLIN}, headers=headers
    )
    _problem(other, 409, "idempotency-key-reused")


async def _used_count(orders: Orders, code: str) -> int:
    async with orders.database.session() as session:
        count = await session.scalar(select(Promotion.used_count).where(Promotion.code == code))
    return int(count or 0)


async def _orders_with_code(orders: Orders) -> int:
    async with orders.database.session() as session:
        count = await session.scalar(select(func.count()).select_from(CustomerOrder))
    return int(count or 0)


@pytest.mark.parametrize("ending", ["declined", "cancelled", "rejected"])
async def test_a_code_of_one_use_goes_to_one_of_fifty_racing_checkouts_and_comes_back(
    orders: Orders, ending: str
) -> None:
    await _code(orders, "ONCE", usage_limit=1)
    tea = await _product(orders, price=2000)
    customers = [uuid.uuid4() for _ in range(50)]

    # The carts are filled one after another: the race under test is the checkout's, and
    # ten writers at once on the embedded SQLite can outwait its lock on a loaded machine.
    for customer in customers:
        await _ok(await orders.add(customer, tea, 1))
        cart = await _ok(
            await orders.client.post(
                "/cart/codes", json={"code": "ONCE"}, headers=orders.auth(customer)
            )
        )
        assert cart["total"] == _eur(1800)
    token = "tok_decline" if ending == "declined" else "tok_visa"
    answers = await asyncio.gather(
        *(_place(orders, c, token=token, shipping_address=PARIS) for c in customers)
    )
    placed = [(c, a) for c, a in zip(customers, answers, strict=True) if a.status_code == 202]
    refused = [a for a in answers if a.status_code != 202]
    assert len(placed) == 1, [a.text for a in answers if a.status_code not in (202, 422)]
    assert all(_problem(a, 422, "code-refused")["reason"] == "used_up" for a in refused)
    assert await _orders_with_code(orders) == 1  # nothing placed for the 49 refused
    assert await _used_count(orders, "ONCE") == 1
    [(winner, answer)] = placed
    order = answer.json()
    assert [d["code"] for d in order["discounts"]] == ["ONCE"]
    assert order["total"] == _eur(1800)

    # A loser's cart now says the code is used up.
    loser = next(c for c in customers if c != winner)
    cart = await _cart(orders, loser)
    assert cart["codes"] == []
    assert [n["reason"] for n in cart["notices"]] == ["used_up"]

    # The winner's order fails: the use comes back, once.
    final = "cancelled"
    if ending == "declined":  # the card is declined once stock is reserved
        await orders.publish(StockReserved(order_id=order["id"]), UUID(order["id"]))
    elif ending == "rejected":  # no stock
        rejected = StockReservationRejected(order_id=order["id"], short_lines=[])
        await orders.publish(rejected, UUID(order["id"]))
        final = "rejected"
    else:
        cancelled = await orders.client.post(
            f"/orders/{order['id']}/cancel", headers=orders.auth(winner)
        )
        assert cancelled.status_code == 200, cancelled.text
    await orders.until_status(winner, order["id"], final)
    assert await _used_count(orders, "ONCE") == 0

    applied = await orders.client.post(
        "/cart/codes", json={"code": "once"}, headers=orders.auth(loser)
    )
    assert (await _ok(applied))["codes"] == ["ONCE"]
    again = await _place(orders, loser, shipping_address=PARIS)
    assert again.status_code == 202, again.text
    assert [d["code"] for d in again.json()["discounts"]] == ["ONCE"]
    assert await _used_count(orders, "ONCE") == 1


async def test_an_order_the_sweeper_times_out_gives_its_code_back(orders: Orders) -> None:
    customer = uuid.uuid4()
    await _code(orders, "PATIENT", usage_limit=1)
    await orders.add(customer, await _product(orders, price=1000), 1)
    applied = await orders.client.post(
        "/cart/codes", json={"code": "PATIENT"}, headers=orders.auth(customer)
    )
    assert applied.status_code == 200, applied.text
    placed = await _place(orders, customer, shipping_address=PARIS)
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["id"]
    assert await _used_count(orders, "PATIENT") == 1

    # Catalog never answers: the sweeper cancels the order, and the code is free again. (The
    # deadline runs once the relay has recorded OrderPlaced as published.)
    sweeper = Sweeper(orders.database, EventPublisher(OUTBOX), timeout_seconds=60)

    async def swept() -> bool:
        return await sweeper.sweep(now=datetime.now(UTC) + timedelta(hours=1)) == 1

    await eventually(swept, timeout=30)
    cancelled = await orders.order(customer, order_id)
    assert cancelled["status"] == "cancelled"
    assert cancelled["total"] == _eur(900)  # the breakdown stays as it was placed
    assert await _used_count(orders, "PATIENT") == 0


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_a_deleted_customer_s_cart_forgets_the_address(orders: Orders) -> None:
    customer = uuid.uuid4()
    await orders.add(customer, await _product(orders, price=1000), 1)
    await _ok(await _put(orders, customer, "/cart/shipping-address", BERLIN))
    await orders.publish(CustomerDeleted(customer_id=customer), customer, source="customers")

    async def forgotten() -> bool:
        cart = await _cart(orders, customer)
        assert (cart["items"], cart["shipping_address"]) == ([], None), cart
        return True

    await eventually(forgotten, timeout=30)
    # DELETE /cart forgets it as well.
    await _ok(await _put(orders, customer, "/cart/shipping-address", BERLIN))
    cleared = await orders.client.delete("/cart", headers=orders.auth(customer))
    assert cleared.status_code == 204
    assert (await _cart(orders, customer))["shipping_address"] is None
