"""Every row of the storefront API (``/work/shared/API.md``), through the gateway only.

The platform runs as separate processes on the real infrastructure (``conftest.live``) or is
the gateway named by ``EMPORIUM_E2E_BASE_URL`` (``make dev``). Nothing here reads a
database or calls a service directly: a storefront's view of the shop.

Each simulated customer comes from an address of their own (``X-Forwarded-For``), as real
shoppers do, so no per-IP limit of one shopper counts another's calls.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import string
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from PIL import Image

from emporium.kit.testing.polling import eventually

pytestmark = pytest.mark.e2e

ADDRESS = {"line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}
FINAL = {"confirmed", "rejected", "cancelled", "shipped"}


def _ip() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def _word(length: int = 10) -> str:
    """A random lowercase word (text search tokenises it as one term)."""
    return "".join(random.choices(string.ascii_lowercase, k=length))


@dataclass
class Shopper:
    """A registered customer with a signed-in session, calling from an address of their own."""

    http: httpx.AsyncClient
    id: str
    email: str
    password: str
    ip: str
    access: str = ""
    refresh: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}", "X-Forwarded-For": self.ip}

    async def sign_in(self) -> httpx.Response:
        response = await self.http.post(
            "/auth/token",
            json={"email": self.email, "password": self.password},
            headers={"X-Forwarded-For": self.ip},
        )
        if response.status_code == 200:
            self.access = response.json()["access_token"]
            self.refresh = response.json()["refresh_token"]
        return response

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.get(path, headers=self.headers, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.http.post(path, headers=headers, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.put(path, headers=self.headers, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.patch(path, headers=self.headers, **kwargs)

    async def delete(self, path: str) -> httpx.Response:
        return await self.http.delete(path, headers=self.headers)

    async def add(self, product_id: str, quantity: int) -> dict[str, Any]:
        """Put it in the cart, once orders has heard of the product (an event away)."""

        async def probe() -> dict[str, Any]:
            response = await self.put(f"/cart/items/{product_id}", json={"quantity": quantity})
            assert response.status_code == 200, response.text
            cart: dict[str, Any] = response.json()
            return cart

        return await eventually(probe, timeout=60, interval=0.2)

    async def checkout(self, *, token: str = "tok_visa", key: str | None = None) -> httpx.Response:
        return await self.post(
            "/orders",
            json={"shipping_address": ADDRESS, "payment": {"card_token": token}},
            headers={"Idempotency-Key": key or uuid.uuid4().hex},
        )

    async def until(self, order_id: str, status: str, timeout: float = 60) -> dict[str, Any]:
        async def probe() -> dict[str, Any]:
            response = await self.get(f"/orders/{order_id}")
            assert response.status_code == 200, response.text
            order: dict[str, Any] = response.json()
            assert order["status"] == status, order
            return order

        return await eventually(probe, timeout=timeout, interval=0.2)


@dataclass
class Admin:
    """The admin account's calls (catalog management, customers, orders)."""

    http: httpx.AsyncClient
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Forwarded-For": "10.250.0.1"}

    async def category(self, *, parent_id: str | None = None) -> dict[str, Any]:
        slug = f"e2e-{_word(8)}"
        response = await self.http.post(
            "/admin/categories",
            json={"slug": slug, "name": slug.title(), "parent_id": parent_id},
            headers=self.headers,
        )
        assert response.status_code == 201, response.text
        category: dict[str, Any] = response.json()
        return category

    async def product(
        self,
        *,
        on_hand: int = 10,
        price: int = 1500,
        name: str | None = None,
        category_id: str | None = None,
    ) -> dict[str, Any]:
        sku = f"E2E-{uuid.uuid4().hex[:12]}"
        response = await self.http.post(
            "/admin/products",
            json={
                "sku": sku,
                "name": name or f"Product {sku}",
                "description": "made by the e2e suite",
                "price": {"amount": price, "currency": "EUR"},
                "category_id": category_id,
                "attributes": {"colour": "teal"},
            },
            headers=self.headers,
        )
        assert response.status_code == 201, response.text
        product: dict[str, Any] = response.json()
        stock = await self.http.put(
            f"/admin/products/{product['id']}/stock",
            json={"on_hand": on_hand},
            headers=self.headers,
        )
        assert stock.status_code == 200, stock.text
        assert stock.json() == {"on_hand": on_hand, "reserved": 0, "available": on_hand}
        return product


@pytest.fixture
async def http(live: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.api, timeout=30) as client:
        yield client


@pytest.fixture
def admin(http: httpx.AsyncClient, admin_token: str) -> Admin:
    return Admin(http, admin_token)


async def register(http: httpx.AsyncClient, name: str = "Ada Shopper") -> Shopper:
    """A new customer, registered and signed in."""
    email = f"{_word(12)}@e2e.emporium.test"
    ip = _ip()
    response = await http.post(
        "/auth/register",
        json={"email": email, "password": "correct horse 1", "name": name},
        headers={"X-Forwarded-For": ip},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["email"], body["name"]) == (email, name)
    shopper = Shopper(http, body["id"], email, "correct horse 1", ip)
    signed_in = await shopper.sign_in()
    assert signed_in.status_code == 200, signed_in.text
    return shopper


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


# -- platform -----------------------------------------------------------------------------


async def test_health_readiness_openapi_and_docs(live: Any, http: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as root:
        assert (await root.get("/healthz")).status_code == 200
        ready = await root.get("/readyz")
        assert ready.status_code == 200, ready.text
        docs = await root.get("/docs")
        assert docs.status_code == 200
        assert "text/html" in docs.headers["content-type"]
    spec = (await http.get("/openapi.json")).json()
    expected = {
        ("post", "/auth/register"), ("post", "/auth/token"), ("post", "/auth/refresh"),
        ("post", "/auth/logout"), ("get", "/auth/jwks"), ("get", "/me"), ("patch", "/me"),
        ("delete", "/me"), ("get", "/me/addresses"), ("post", "/me/addresses"),
        ("patch", "/me/addresses/{address_id}"), ("delete", "/me/addresses/{address_id}"),
        ("get", "/admin/customers"), ("get", "/admin/customers/{customer_id}"),
        ("patch", "/admin/customers/{customer_id}"), ("delete", "/admin/customers/{customer_id}"),
        ("get", "/categories"), ("get", "/products"), ("get", "/products/{product_id}"),
        ("post", "/admin/categories"), ("post", "/admin/products"),
        ("patch", "/admin/products/{product_id}"), ("delete", "/admin/products/{product_id}"),
        ("put", "/admin/products/{product_id}/stock"),
        ("post", "/admin/products/{product_id}/images"),
        ("delete", "/admin/products/{product_id}/images/{image_id}"),
        ("get", "/cart"), ("put", "/cart/items/{product_id}"),
        ("delete", "/cart/items/{product_id}"), ("delete", "/cart"), ("post", "/orders"),
        ("get", "/orders"), ("get", "/orders/{order_id}"), ("post", "/orders/{order_id}/cancel"),
        ("get", "/orders/{order_id}/events"), ("get", "/admin/orders"),
        ("post", "/admin/orders/{order_id}/ship"),
    }  # fmt: skip
    served = {(m, p.removeprefix("/api/v1")) for p, ops in spec["paths"].items() for m in ops}
    assert expected <= served, expected - served


async def test_past_the_rate_limit_a_client_gets_429_with_retry_after(
    http: httpx.AsyncClient,
) -> None:
    ip = _ip()
    first = await http.get("/auth/jwks", headers={"X-Forwarded-For": ip})
    assert first.status_code == 200
    limit = int(first.headers["RateLimit-Limit"])
    assert int(first.headers["RateLimit-Remaining"]) == limit - 1
    if limit > 1000:
        pytest.skip(f"/auth/* allows {limit} calls per window here: too many to reach")

    async def call() -> httpx.Response:
        return await http.get("/auth/jwks", headers={"X-Forwarded-For": ip})

    answers: list[httpx.Response] = []
    for _ in range(0, limit + 1, 50):
        answers += await asyncio.gather(*(call() for _ in range(50)))
    limited = [r for r in answers if r.status_code == 429]
    assert limited, [r.status_code for r in answers]
    assert all(r.status_code in {200, 429} for r in answers)
    _problem(limited[0], 429)
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert limited[0].headers["RateLimit-Remaining"] == "0"
    # Another client is not affected.
    assert (await http.get("/auth/jwks", headers={"X-Forwarded-For": _ip()})).status_code == 200


async def test_an_unknown_route_is_a_problem(http: httpx.AsyncClient) -> None:
    _problem(await http.get("/no-such-thing"), 404)


# -- accounts -----------------------------------------------------------------------------


async def test_register_sign_in_refresh_and_logout(http: httpx.AsyncClient) -> None:
    shopper = await register(http)
    duplicate = await http.post(
        "/auth/register",
        json={"email": shopper.email, "password": "another pass 2", "name": "Copy"},
        headers={"X-Forwarded-For": shopper.ip},
    )
    _problem(duplicate, 409)
    signed_in = await shopper.sign_in()
    pair = signed_in.json()
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] > 0
    wrong = await http.post(
        "/auth/token",
        json={"email": shopper.email, "password": "not the password"},
        headers={"X-Forwarded-For": shopper.ip},
    )
    _problem(wrong, 401)

    jwks = (await http.get("/auth/jwks")).json()
    assert jwks["keys"]
    assert all({"kid", "kty"} <= set(key) for key in jwks["keys"])

    old_refresh = shopper.refresh
    refreshed = await http.post("/auth/refresh", json={"refresh_token": old_refresh})
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refresh_token"] != old_refresh
    shopper.access, shopper.refresh = (
        refreshed.json()["access_token"],
        refreshed.json()["refresh_token"],
    )
    assert (await shopper.get("/me")).status_code == 200
    # The used-up token again: a leak, so its whole family is revoked (customers README).
    _problem(await http.post("/auth/refresh", json={"refresh_token": old_refresh}), 401)
    _problem(await http.post("/auth/refresh", json={"refresh_token": shopper.refresh}), 401)
    _problem(await shopper.get("/me"), 401)

    assert (await shopper.sign_in()).status_code == 200
    assert (await shopper.post("/auth/logout")).status_code == 204
    _problem(await shopper.get("/me"), 401)
    _problem(await http.post("/auth/refresh", json={"refresh_token": shopper.refresh}), 401)
    _problem(await http.get("/me"), 401)


async def test_profile_and_addresses(http: httpx.AsyncClient) -> None:
    shopper, other = await asyncio.gather(register(http), register(http, "Other"))
    me = (await shopper.get("/me")).json()
    assert (me["id"], me["email"], me["name"]) == (shopper.id, shopper.email, "Ada Shopper")
    patched = await shopper.patch("/me", json={"name": "Ada Lovelace"})
    assert patched.status_code == 200
    assert (await shopper.get("/me")).json()["name"] == "Ada Lovelace"
    _problem(await shopper.patch("/me", json={"name": ""}), 422)

    created = await shopper.post("/me/addresses", json={**ADDRESS, "line2": "Floor 2"})
    assert created.status_code == 201, created.text
    address = created.json()
    assert address["country"] == "DE"
    assert address["line2"] == "Floor 2"
    _problem(await shopper.post("/me/addresses", json={**ADDRESS, "country": "Germany"}), 422)
    listed = (await shopper.get("/me/addresses")).json()
    assert [a["id"] for a in listed] == [address["id"]]
    updated = await shopper.patch(f"/me/addresses/{address['id']}", json={"city": "Hamburg"})
    assert updated.status_code == 200
    assert updated.json()["city"] == "Hamburg"

    # Another customer's address does not exist for them.
    _problem(await other.patch(f"/me/addresses/{address['id']}", json={"city": "X"}), 404)
    _problem(await other.delete(f"/me/addresses/{address['id']}"), 404)
    assert (await other.get("/me/addresses")).json() == []

    assert (await shopper.delete(f"/me/addresses/{address['id']}")).status_code == 204
    assert (await shopper.get("/me/addresses")).json() == []

    # Deleting the account asks for the current password, then erases it and signs out.
    async def delete_me(**body: Any) -> httpx.Response:
        return await shopper.http.request("DELETE", "/me", headers=shopper.headers, **body)

    assert "password" in _problem(await delete_me(), 422)["detail"]
    _problem(await delete_me(json={"password": "not-the-password"}), 401)
    assert (await delete_me(json={"password": shopper.password})).status_code == 204
    _problem(await shopper.get("/me"), 401)
    assert (await shopper.sign_in()).status_code == 401


async def test_admin_manages_customers(http: httpx.AsyncClient, admin: Admin) -> None:
    shopper, victim = await asyncio.gather(register(http, "Grace"), register(http, "Mallory"))
    found = await http.get("/admin/customers", params={"q": shopper.email}, headers=admin.headers)
    assert found.status_code == 200, found.text
    [row] = found.json()["items"]
    assert row["id"] == shopper.id
    assert row["order_count"] == 0
    assert "lifetime_spend" in row
    page = (await http.get("/admin/customers", params={"limit": 1}, headers=admin.headers)).json()
    assert len(page["items"]) == 1
    assert page["next_cursor"]
    second = await http.get(
        "/admin/customers",
        params={"limit": 1, "cursor": page["next_cursor"]},
        headers=admin.headers,
    )
    assert second.json()["items"][0]["id"] != page["items"][0]["id"]

    view = await http.get(f"/admin/customers/{shopper.id}", headers=admin.headers)
    assert view.json()["email"] == shopper.email
    renamed = await http.patch(
        f"/admin/customers/{shopper.id}", json={"name": "Grace H."}, headers=admin.headers
    )
    assert renamed.status_code == 200
    assert (await shopper.get("/me")).json()["name"] == "Grace H."

    # Customers and strangers are kept out.
    _problem(await shopper.get("/admin/customers"), 403)
    _problem(await http.get("/admin/customers"), 401)

    disabled = await http.patch(
        f"/admin/customers/{victim.id}", json={"disabled": True}, headers=admin.headers
    )
    assert disabled.status_code == 200
    assert disabled.json()["disabled"] is True
    _problem(await victim.get("/me"), 401)
    assert (await victim.sign_in()).status_code in {401, 403}

    assert (
        await http.delete(f"/admin/customers/{victim.id}", headers=admin.headers)
    ).status_code == 204
    _problem(await http.get(f"/admin/customers/{uuid.uuid4()}", headers=admin.headers), 404)


# -- catalog ------------------------------------------------------------------------------


async def test_browse_search_filter_sort_and_page(http: httpx.AsyncClient, admin: Admin) -> None:
    parent = await admin.category()
    child = await admin.category(parent_id=parent["id"])
    categories = (await http.get("/categories")).json()
    by_id = {c["id"]: c for c in categories}
    assert by_id[child["id"]]["parent_id"] == parent["id"]
    assert by_id[parent["id"]]["slug"] == parent["slug"]

    word = _word()
    cheap, middle, dear = [
        await admin.product(name=f"{word} {label}", price=price, category_id=child["id"], on_hand=n)
        for label, price, n in (("alpha", 500, 3), ("bravo", 1500, 0), ("charlie", 2500, 7))
    ]

    async def names(**params: Any) -> list[str]:
        response = await http.get("/products", params=params)
        assert response.status_code == 200, response.text
        return [p["name"].split()[1] for p in response.json()["items"]]

    assert await names(category=child["slug"], sort="price") == ["alpha", "bravo", "charlie"]
    assert await names(category=child["id"], sort="-price") == ["charlie", "bravo", "alpha"]
    assert await names(category=child["slug"], sort="name") == ["alpha", "bravo", "charlie"]
    assert await names(category=child["slug"], sort="newest") == ["charlie", "bravo", "alpha"]
    assert await names(q=word, sort="price") == ["alpha", "bravo", "charlie"]
    assert await names(q=word, min_price=1000, max_price=2000) == ["bravo"]
    assert await names(q=word, in_stock="true", sort="price") == ["alpha", "charlie"]

    first = (await http.get("/products", params={"q": word, "sort": "price", "limit": 2})).json()
    assert [p["id"] for p in first["items"]] == [cheap["id"], middle["id"]]
    assert first["next_cursor"]
    last = (
        await http.get(
            "/products",
            params={"q": word, "sort": "price", "limit": 2, "cursor": first["next_cursor"]},
        )
    ).json()
    assert [p["id"] for p in last["items"]] == [dear["id"]]
    assert last["next_cursor"] is None
    _problem(await http.get("/products", params={"limit": 101}), 422)

    detail = (await http.get(f"/products/{cheap['id']}")).json()
    assert detail["price"] == {"amount": 500, "currency": "EUR"}
    assert detail["availability"] == {"in_stock": True, "available": 3}
    assert detail["attributes"] == {"colour": "teal"}
    assert detail["category_id"] == child["id"]
    _problem(await http.get(f"/products/{uuid.uuid4()}"), 404)


async def test_admin_edits_products_and_customers_cannot(
    http: httpx.AsyncClient, admin: Admin
) -> None:
    product = await admin.product(price=990)
    duplicate = await http.post(
        "/admin/products",
        json={"sku": product["sku"], "name": "x", "price": {"amount": 1, "currency": "EUR"}},
        headers=admin.headers,
    )
    _problem(duplicate, 409)
    patched = await http.patch(
        f"/admin/products/{product['id']}",
        json={"name": "Renamed", "price": {"amount": 1290, "currency": "EUR"}},
        headers=admin.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["price"]["amount"] == 1290
    detail = (await http.get(f"/products/{product['id']}")).json()
    assert (detail["name"], detail["price"]["amount"]) == ("Renamed", 1290)

    shopper = await register(http)
    _problem(await shopper.post("/admin/products", json={"sku": "X", "name": "x"}), 403)
    _problem(await shopper.post("/admin/categories", json={"slug": "x", "name": "x"}), 403)
    _problem(await http.put(f"/admin/products/{product['id']}/stock", json={"on_hand": 1}), 401)


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_an_uploaded_image_loads_through_its_url_and_can_be_deleted(
    live: Any, http: httpx.AsyncClient, admin: Admin
) -> None:
    product = await admin.product()
    upload = await http.post(
        f"/admin/products/{product['id']}/images",
        files={"file": ("photo.png", _png(), "image/png")},
        headers=admin.headers,
    )
    assert upload.status_code == 201, upload.text
    image = upload.json()
    async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as browser:
        for url in (image["url"], image["thumbnail_url"]):
            loaded = await browser.get(url)
            assert loaded.status_code == 200, (url, loaded.text[:200])
            assert loaded.headers["content-type"] == "image/webp"
            assert Image.open(io.BytesIO(loaded.content)).format == "WEBP"
    detail = (await http.get(f"/products/{product['id']}")).json()
    assert [i["id"] for i in detail["images"]] == [image["id"]]

    not_an_image = await http.post(
        f"/admin/products/{product['id']}/images",
        files={"file": ("notes.png", b"just some text", "image/png")},
        headers=admin.headers,
    )
    _problem(not_an_image, 415)

    deleted = await http.delete(
        f"/admin/products/{product['id']}/images/{image['id']}", headers=admin.headers
    )
    assert deleted.status_code == 204
    assert (await http.get(f"/products/{product['id']}")).json()["images"] == []


# -- cart and orders ----------------------------------------------------------------------


async def test_cart(http: httpx.AsyncClient, admin: Admin) -> None:
    shopper = await register(http)
    one, two = await admin.product(price=700), await admin.product(price=300)
    await shopper.add(one["id"], 2)
    cart = await shopper.add(two["id"], 1)
    lines = {i["product_id"]: i for i in cart["items"]}
    assert lines[one["id"]]["line_total"]["amount"] == 1400
    assert lines[one["id"]]["unit_price"]["amount"] == 700
    assert lines[one["id"]]["name"] == one["name"]
    assert cart["total"]["amount"] == 1700
    changed = await shopper.put(f"/cart/items/{one['id']}", json={"quantity": 5})
    assert changed.json()["total"]["amount"] == 3800
    _problem(await shopper.put(f"/cart/items/{one['id']}", json={"quantity": 100}), 422)
    _problem(await shopper.put(f"/cart/items/{uuid.uuid4()}", json={"quantity": 1}), 404)

    removed = await shopper.delete(f"/cart/items/{two['id']}")
    assert removed.status_code == 200
    assert [i["product_id"] for i in removed.json()["items"]] == [one["id"]]
    assert (await shopper.delete("/cart")).status_code == 204
    assert (await shopper.get("/cart")).json()["items"] == []
    _problem(await http.get("/cart"), 401)
    _problem(await shopper.checkout(), 409)  # empty cart


async def test_checkout_confirms_and_the_same_key_gives_the_same_order(
    http: httpx.AsyncClient, admin: Admin
) -> None:
    shopper = await register(http)
    product = await admin.product(on_hand=5, price=1200)
    await shopper.add(product["id"], 2)
    key = uuid.uuid4().hex
    placed = await shopper.checkout(key=key)
    assert placed.status_code == 202, placed.text
    order = placed.json()
    assert order["status"] == "pending"
    assert order["total"] == {"amount": 2400, "currency": "EUR"}
    [line] = order["lines"]
    assert (line["product_id"], line["sku"], line["quantity"]) == (
        product["id"],
        product["sku"],
        2,
    )
    assert order["shipping_address"]["city"] == "Berlin"
    confirmed = await shopper.until(order["id"], "confirmed")
    assert confirmed["updated_at"] >= confirmed["created_at"]
    again = await shopper.checkout(key=key)
    assert again.json()["id"] == order["id"]
    listed = (await shopper.get("/orders")).json()
    assert [o["id"] for o in listed["items"]] == [order["id"]]
    assert listed["next_cursor"] is None

    async def stock_shows() -> bool:
        detail = (await http.get(f"/products/{product['id']}")).json()
        assert detail["availability"]["available"] == 3
        return True

    await eventually(stock_shows, timeout=30, interval=0.5)


async def test_out_of_stock_is_rejected_and_a_declined_card_cancelled(
    http: httpx.AsyncClient, admin: Admin
) -> None:
    greedy, declined = await asyncio.gather(register(http), register(http))
    scarce, plenty = await admin.product(on_hand=1), await admin.product(on_hand=5)
    await asyncio.gather(greedy.add(scarce["id"], 2), declined.add(plenty["id"], 1))
    rejected, cancelled = await asyncio.gather(
        greedy.checkout(), declined.checkout(token="tok_decline")
    )
    order = await greedy.until(rejected.json()["id"], "rejected")
    assert order["status_reason"]
    order = await declined.until(cancelled.json()["id"], "cancelled")
    assert "declined" in order["status_reason"]


async def test_cancel_and_the_status_stream(http: httpx.AsyncClient, admin: Admin) -> None:
    shopper = await register(http)
    product = await admin.product(on_hand=5)
    await shopper.add(product["id"], 1)
    placed = (await shopper.checkout()).json()

    statuses: list[str] = []
    async with http.stream("GET", f"/orders/{placed['id']}/events", headers=shopper.headers) as s:
        assert s.status_code == 200
        assert s.headers["content-type"].startswith("text/event-stream")
        async for line in s.aiter_lines():
            if line.startswith("data:"):
                statuses.append(json.loads(line.removeprefix("data:"))["status"])
                if statuses[-1] in FINAL:
                    break
    assert statuses == ["pending", "confirmed"]

    cancelled = await shopper.post(f"/orders/{placed['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"


async def test_admin_ships_and_customers_see_only_their_orders(
    http: httpx.AsyncClient, admin: Admin
) -> None:
    shopper, other = await asyncio.gather(register(http), register(http))
    product = await admin.product(on_hand=5)
    await shopper.add(product["id"], 1)
    order_id = (await shopper.checkout()).json()["id"]
    await shopper.until(order_id, "confirmed")

    _problem(await other.get(f"/orders/{order_id}"), 404)
    _problem(await other.post(f"/orders/{order_id}/cancel"), 404)
    assert (await other.get("/orders")).json()["items"] == []
    _problem(await shopper.get("/admin/orders"), 403)
    _problem(await shopper.post(f"/admin/orders/{order_id}/ship"), 403)

    listed = await http.get(
        "/admin/orders", params={"customer_id": shopper.id}, headers=admin.headers
    )
    assert listed.status_code == 200, listed.text
    assert [o["id"] for o in listed.json()["items"]] == [order_id]
    shipped = await http.post(f"/admin/orders/{order_id}/ship", headers=admin.headers)
    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["status"] == "shipped"
    _problem(await shopper.post(f"/orders/{order_id}/cancel"), 409)

    async def counted() -> bool:
        row = (await http.get(f"/admin/customers/{shopper.id}", headers=admin.headers)).json()
        assert row["order_count"] == 1
        return True

    await eventually(counted, timeout=30, interval=0.5)


async def test_a_deleted_product_leaves_listings_and_orders_keep_their_copy(
    http: httpx.AsyncClient, admin: Admin
) -> None:
    shopper = await register(http)
    word = _word()
    product = await admin.product(name=f"{word} keepsake", on_hand=3)
    await shopper.add(product["id"], 1)
    order_id = (await shopper.checkout()).json()["id"]
    await shopper.until(order_id, "confirmed")

    deleted = await http.delete(f"/admin/products/{product['id']}", headers=admin.headers)
    assert deleted.status_code == 204
    _problem(await http.get(f"/products/{product['id']}"), 404)
    assert (await http.get("/products", params={"q": word})).json()["items"] == []
    order = (await shopper.get(f"/orders/{order_id}")).json()
    assert [(line["sku"], line["name"]) for line in order["lines"]] == [
        (product["sku"], product["name"])
    ]
