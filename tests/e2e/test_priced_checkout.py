"""Checkout pricing through the gateway on the real platform: an admin sets a shipping zone,
a tax rate and a code; a shopper gives an address, is offered the zone's methods, chooses
one, applies the code and orders; the order and its confirmation carry exactly the breakdown
the cart showed, and the customer's lifetime spend counts what was paid.

Pricing rules are global to a shop, so this module prices a country no other suite ships to
(``COUNTRY``) and scopes its code to a product of its own; it deletes what it made (and what
an interrupted earlier run left for that country) so that runs against one database agree.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from emporium.kit.testing.polling import eventually

pytestmark = pytest.mark.e2e

COUNTRY = "NZ"  # priced by this module's rules only
ADDRESS = {"line1": "1 Queen St", "city": "Auckland", "postal_code": "1010", "country": COUNTRY}
BREAKDOWN = ("subtotal", "discounts", "shipping", "tax", "total")


def _ip() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


@pytest.fixture
async def http(live: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.api, timeout=30) as client:
        yield client


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


class Admin:
    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": "10.250.0.1"}

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        return _ok(await self.http.post(path, json=body, headers=self.headers), 201)

    async def get(self, path: str, **params: str) -> Any:
        return _ok(await self.http.get(path, params=params, headers=self.headers))

    async def delete(self, path: str) -> None:
        response = await self.http.delete(path, headers=self.headers)
        assert response.status_code in (204, 404), response.text

    async def forget_country(self) -> None:
        """Delete every zone and tax rate of ``COUNTRY`` (this module's alone)."""
        for zone in await self.get("/admin/shipping-zones"):
            if COUNTRY in zone["countries"]:
                await self.delete(f"/admin/shipping-zones/{zone['id']}")
        for rate in await self.get("/admin/tax-rates", country=COUNTRY):
            await self.delete(f"/admin/tax-rates/{rate['id']}")


@pytest.fixture
async def admin(http: httpx.AsyncClient, admin_token: str) -> AsyncIterator[Admin]:
    boss = Admin(http, admin_token)
    await boss.forget_country()
    yield boss
    await boss.forget_country()


class Shopper:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.ip = _ip()
        self.id = ""
        self.headers: dict[str, str] = {"X-Forwarded-For": self.ip}

    async def register(self) -> None:
        email = f"pricing-{uuid.uuid4().hex[:12]}@e2e.emporium.test"
        body = {"email": email, "password": "correct horse 1", "name": "Kiri Shopper"}
        self.id = _ok(await self.http.post("/auth/register", json=body, headers=self.headers), 201)[
            "id"
        ]
        pair = _ok(
            await self.http.post(
                "/auth/token",
                json={"email": email, "password": body["password"]},
                headers=self.headers,
            )
        )
        self.headers["Authorization"] = f"Bearer {pair['access_token']}"

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.http.request(method, path, headers=headers, **kwargs)


async def test_the_order_and_its_confirmation_carry_the_breakdown_the_cart_showed(
    http: httpx.AsyncClient, admin: Admin
) -> None:
    sku = f"E2E-PRICED-{uuid.uuid4().hex[:8]}"
    product = await admin.post(
        "/admin/products",
        {
            "sku": sku,
            "name": f"Priced kettle {sku}",
            "description": "made by the e2e pricing suite",
            "price": {"amount": 3450, "currency": "EUR"},
            "weight_grams": 900,
        },
    )
    stock = await http.put(
        f"/admin/products/{product['id']}/stock", json={"on_hand": 5}, headers=admin.headers
    )
    assert stock.status_code == 200, stock.text
    zone = await admin.post(
        "/admin/shipping-zones",
        {
            "name": "New Zealand (e2e)",
            "countries": [COUNTRY],
            "rates": [
                {"name": "Standard", "amount": 1200, "currency": "EUR", "estimated_days": 9},
                {"name": "Courier", "amount": 2500, "currency": "EUR", "estimated_days": 4},
            ],
        },
    )
    standard = zone["rates"][0]["id"]
    await admin.post("/admin/tax-rates", {"country": COUNTRY, "rate_bp": 1500, "name": "GST"})
    code = f"KIWI{uuid.uuid4().hex[:8].upper()}"
    promotion = await admin.post(
        "/admin/promotions",
        {
            "name": "Kiwi welcome",
            "kind": "percentage",
            "value": 10,
            "code": code,
            "applies_to": {"products": [product["id"]]},
            "usage_limit": 5,
        },
    )
    try:
        shopper = Shopper(http)
        await shopper.register()

        async def added() -> bool:
            put = await shopper.call("PUT", f"/cart/items/{product['id']}", json={"quantity": 2})
            assert put.status_code == 200, put.text
            return True

        await eventually(added, timeout=60, interval=0.2)  # orders hears of it by an event

        cart = _ok(await shopper.call("PUT", "/cart/shipping-address", json=ADDRESS))
        assert cart["shipping_address"]["country"] == COUNTRY
        offered = _ok(await shopper.call("GET", "/cart/shipping-options"))
        assert offered == cart["shipping_options"]
        assert {o["id"]: o["amount"]["amount"] for o in offered} == {
            standard: 1200,
            zone["rates"][1]["id"]: 2500,
        }
        cart = _ok(await shopper.call("PUT", "/cart/shipping-method", json={"id": standard}))
        assert cart["shipping"]["id"] == standard
        cart = _ok(await shopper.call("POST", "/cart/codes", json={"code": code.lower()}))
        assert cart["codes"] == [code]
        shown = _ok(await shopper.call("GET", "/cart"))
        # EUR prices hold the tax: 6900 - 690 off = 6210 for the kettles, 1200 shipping.
        assert shown["total"] == {"amount": 7410, "currency": "EUR"}
        assert [t["rate_bp"] for t in shown["tax"]["lines"]] == [1500]
        discounts = sum(d["amount"]["amount"] for d in shown["discounts"])
        assert (
            shown["subtotal"]["amount"]
            - discounts
            + shown["shipping"]["amount"]["amount"]
            + shown["tax"]["amount"]["amount"]
            == shown["total"]["amount"]
        )

        placed = _ok(
            await shopper.call(
                "POST",
                "/orders",
                json={"payment": {"card_token": "tok_visa"}},
                headers={"Idempotency-Key": uuid.uuid4().hex},
            ),
            202,
        )
        assert {k: placed[k] for k in BREAKDOWN} == {k: shown[k] for k in BREAKDOWN}

        async def confirmed() -> Any:
            order = _ok(await shopper.call("GET", f"/orders/{placed['id']}"))
            assert order["status"] == "confirmed", order
            return order

        order = await eventually(confirmed, timeout=60, interval=0.3)
        assert {k: order[k] for k in BREAKDOWN} == {k: shown[k] for k in BREAKDOWN}

        async def spent() -> bool:
            row = await admin.get(f"/admin/customers/{shopper.id}")
            assert (row["order_count"], row["lifetime_spend"]["amount"]) == (1, 7410), row
            return True

        await eventually(spent, timeout=60, interval=0.5)
    finally:
        await admin.delete(f"/admin/promotions/{promotion['id']}")
