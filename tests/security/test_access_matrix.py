"""Who may call what: every operation of the public API, for anonymous, customer A, B, admin.

``MATRIX`` has one row per operation of the merged OpenAPI document with the status each
caller gets. The rows are checked against the live document first: a new route without
a row fails the test, so nobody adds an endpoint without deciding who may call it.

The resources are A's (A's order, A's address): B must get 404 there, exactly as for an
order that does not exist (no "403: it exists but is not yours"). The admin is a customer
too on the customer routes (its own cart, its own orders: A's order is 404 for it as well).
Each call sets up what it needs itself (an item in the cart before checking out), so a
row's answer does not depend on another row's; the phases order the destructive calls
(delete, sign out) after everything else.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import pytest
from emporium_security import (
    ADDRESS,
    PASSWORD,
    Account,
    Secure,
    admin,
    client,
    is_problem,
    order_status,
    place_order,
    register,
    stocked_product,
)

pytestmark = pytest.mark.e2e

Who = Literal["anonymous", "a", "b", "admin"]
#: A last: its own resources are deleted by its own calls after the others tried them.
CALLERS: tuple[Who, ...] = ("anonymous", "b", "admin", "a")


@dataclass
class World:
    a: Account
    b: Account
    boss: Account
    victim: str  # a customer the admin renames and deletes
    product: str
    category: str
    doomed_product: str
    image: str
    media_path: str
    order: str  # A's, pending or confirmed: cancelled by A
    shippable: str  # A's, confirmed: shipped by the admin
    address: str  # A's

    def account(self, who: Who) -> Account | None:
        return {"a": self.a, "b": self.b, "admin": self.boss}.get(who)


Call = Callable[[httpx.AsyncClient, World, Who], Awaitable[httpx.Response]]


def _auth(world: World, who: Who) -> dict[str, str]:
    account = world.account(who)
    return account.headers if account is not None else {}


def call(method: str, path: str, **kwargs: Any) -> Call:
    """The request ``method path`` (``{a}``, ``{product}``... from the world) as ``who``."""

    async def send(http: httpx.AsyncClient, world: World, who: Who) -> httpx.Response:
        url = path.format(**vars(world))
        body = kwargs.get("json")
        if callable(body):
            body = body(world, who)
        headers = kwargs.get("headers", dict)()
        return await http.request(
            method,
            url,
            json=body,
            files=kwargs.get("files"),
            headers={**_auth(world, who), **headers},
        )

    return send


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def _with_item(then: Call) -> Call:
    """``then``, once the caller's cart holds one unit of the product."""

    async def send(http: httpx.AsyncClient, world: World, who: Who) -> httpx.Response:
        if who != "anonymous":
            put = await http.put(
                f"/cart/items/{world.product}", json={"quantity": 1}, headers=_auth(world, who)
            )
            assert put.status_code == 200, put.text
        return await then(http, world, who)

    return send


async def _events(http: httpx.AsyncClient, world: World, who: Who) -> httpx.Response:
    async with http.stream("GET", f"/orders/{world.order}/events", headers=_auth(world, who)) as s:
        return s  # the status and headers are enough: the stream is closed unread


def _fresh_email(world: World, who: Who) -> dict[str, str]:
    return {"email": f"sec-{uuid.uuid4().hex[:12]}@e2e.emporium.test", "password": PASSWORD}


def _register(world: World, who: Who) -> dict[str, str]:
    return {**_fresh_email(world, who), "name": "Matrix"}


def _sign_in(world: World, who: Who) -> dict[str, str]:
    account = world.account(who) or world.a
    return {"email": account.email, "password": account.password}


def _refresh(world: World, who: Who) -> dict[str, str]:
    account = world.account(who)
    return {"refresh_token": account.refresh_token if account else "not-a-refresh-token"}


def _delete_me(world: World, who: Who) -> dict[str, str] | None:
    # The admin sends no password (422, the service judged it): the suite keeps its admin.
    return None if who == "admin" else {"password": PASSWORD}


def _product(world: World, who: Who) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    return {
        "sku": f"MX-{tag}",
        "name": f"Matrix {tag}",
        "description": "",
        "price": {"amount": 500, "currency": "EUR"},
        "category_id": world.category,
        "attributes": {},
    }


def _variant(world: World, who: Who) -> dict[str, Any]:
    return {
        "sku": f"MXV-{uuid.uuid4().hex[:10]}",
        "options": {},
        "prices": [{"amount": 500, "currency": "EUR"}],
    }


def _location(world: World, who: Who) -> dict[str, Any]:
    return {"code": f"mx-{uuid.uuid4().hex[:8]}", "name": "Matrix", "priority": 5}


def _zone(world: World, who: Who) -> dict[str, Any]:
    return {
        "name": f"Matrix {uuid.uuid4().hex[:8]}",
        "countries": ["AQ"],
        "rates": [{"name": "Standard", "amount": 500, "currency": "EUR"}],
    }


def _tax(world: World, who: Who) -> dict[str, Any]:
    return {"country": "AQ", "rate_bp": 1000, "name": f"Matrix {uuid.uuid4().hex[:8]}"}


def _promotion(world: World, who: Who) -> dict[str, Any]:
    return {
        "name": "Matrix",
        "kind": "percentage",
        "value": 5,
        "code": f"MX{uuid.uuid4().hex[:10].upper()}",
    }


def _checkout(world: World, who: Who) -> dict[str, Any]:
    return {"shipping_address": ADDRESS, "payment": {"card_token": "tok_visa"}}


def _key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


@dataclass(frozen=True)
class Row:
    phase: int
    send: Call
    anonymous: int
    a: int
    b: int
    admin: int

    def expected(self, who: Who) -> int:
        status: int = getattr(self, who)
        return status


def admin_only(phase: int, send: Call, status: int) -> Row:
    return Row(phase, send, 401, 403, 403, status)


def anyone(phase: int, send: Call, status: int) -> Row:
    return Row(phase, send, status, status, status, status)


def customer(phase: int, send: Call, status: int) -> Row:
    return Row(phase, send, 401, status, status, status)


def owner_only(phase: int, send: Call, status: int) -> Row:
    return Row(phase, send, 401, status, 404, 404)


A = "/api/v1"
MATRIX: dict[str, Row] = {
    # customers: accounts, tokens, profiles, addresses, admin
    f"POST {A}/auth/register": anyone(0, call("POST", "/auth/register", json=_register), 201),
    f"POST {A}/auth/token": anyone(0, call("POST", "/auth/token", json=_sign_in), 200),
    f"POST {A}/auth/refresh": Row(
        0, call("POST", "/auth/refresh", json=_refresh), 401, 200, 200, 200
    ),
    f"GET {A}/auth/jwks": anyone(0, call("GET", "/auth/jwks"), 200),
    f"GET {A}/me": customer(0, call("GET", "/me"), 200),
    f"PATCH {A}/me": customer(
        0, call("PATCH", "/me", json=lambda w, who: {"name": "Renamed"}), 200
    ),
    f"GET {A}/me/addresses": customer(0, call("GET", "/me/addresses"), 200),
    f"POST {A}/me/addresses": customer(
        0, call("POST", "/me/addresses", json=lambda w, who: ADDRESS), 201
    ),
    f"GET {A}/me/addresses/{{address_id}}": owner_only(
        0, call("GET", "/me/addresses/{address}"), 200
    ),
    f"PATCH {A}/me/addresses/{{address_id}}": owner_only(
        0, call("PATCH", "/me/addresses/{address}", json=lambda w, who: {"city": "Hamburg"}), 200
    ),
    f"DELETE {A}/me/addresses/{{address_id}}": owner_only(
        5, call("DELETE", "/me/addresses/{address}"), 204
    ),
    f"GET {A}/admin/customers": admin_only(0, call("GET", "/admin/customers"), 200),
    f"GET {A}/admin/customers/{{customer_id}}": admin_only(
        0, call("GET", "/admin/customers/{victim}"), 200
    ),
    f"PATCH {A}/admin/customers/{{customer_id}}": admin_only(
        0, call("PATCH", "/admin/customers/{victim}", json=lambda w, who: {"name": "Renamed"}), 200
    ),
    f"DELETE {A}/admin/customers/{{customer_id}}": admin_only(
        5, call("DELETE", "/admin/customers/{victim}"), 204
    ),
    f"GET {A}/admin/customers/{{customer_id}}/audit": admin_only(
        0, call("GET", "/admin/customers/{victim}/audit"), 200
    ),
    # catalog
    f"GET {A}/categories": anyone(0, call("GET", "/categories"), 200),
    f"GET {A}/products": anyone(0, call("GET", "/products"), 200),
    f"GET {A}/products/{{product_id}}": anyone(0, call("GET", "/products/{product}"), 200),
    f"GET {A}/media/{{key}}": anyone(0, call("GET", "{media_path}"), 200),
    f"POST {A}/admin/categories": admin_only(
        0,
        call(
            "POST",
            "/admin/categories",
            json=lambda w, who: {"slug": f"mx-{uuid.uuid4().hex[:10]}", "name": "Matrix"},
        ),
        201,
    ),
    f"POST {A}/admin/products": admin_only(0, call("POST", "/admin/products", json=_product), 201),
    f"PATCH {A}/admin/products/{{product_id}}": admin_only(
        0, call("PATCH", "/admin/products/{product}", json=lambda w, who: {"name": "Renamed"}), 200
    ),
    f"PUT {A}/admin/products/{{product_id}}/stock": admin_only(
        0,
        call("PUT", "/admin/products/{product}/stock", json=lambda w, who: {"on_hand": 1000}),
        200,
    ),
    f"POST {A}/admin/products/{{product_id}}/images": admin_only(
        0,
        call(
            "POST",
            "/admin/products/{product}/images",
            files={"file": ("p.png", _png(), "image/png")},
        ),
        201,
    ),
    f"DELETE {A}/admin/products/{{product_id}}/images/{{image_id}}": admin_only(
        5, call("DELETE", "/admin/products/{product}/images/{image}"), 204
    ),
    f"DELETE {A}/admin/products/{{product_id}}": admin_only(
        5, call("DELETE", "/admin/products/{doomed_product}"), 204
    ),
    # orders
    f"GET {A}/cart": customer(0, call("GET", "/cart"), 200),
    f"PUT {A}/cart/items/{{product_id}}": customer(
        1, call("PUT", "/cart/items/{product}", json=lambda w, who: {"quantity": 2}), 200
    ),
    f"DELETE {A}/cart/items/{{product_id}}": customer(
        2, _with_item(call("DELETE", "/cart/items/{product}")), 200
    ),
    f"DELETE {A}/cart": customer(3, _with_item(call("DELETE", "/cart")), 204),
    f"PUT {A}/cart/shipping-address": customer(
        1, call("PUT", "/cart/shipping-address", json=lambda w, who: ADDRESS), 200
    ),
    f"GET {A}/cart/shipping-options": customer(0, call("GET", "/cart/shipping-options"), 200),
    f"PUT {A}/cart/shipping-method": customer(
        1, call("PUT", "/cart/shipping-method", json=lambda w, who: {"id": str(uuid.uuid4())}), 422
    ),
    f"POST {A}/cart/codes": customer(
        1, call("POST", "/cart/codes", json=lambda w, who: {"code": "NO-SUCH-CODE"}), 422
    ),
    f"DELETE {A}/cart/codes/{{code}}": customer(1, call("DELETE", "/cart/codes/NO-SUCH-CODE"), 200),
    f"POST {A}/orders": customer(
        4, _with_item(call("POST", "/orders", json=_checkout, headers=_key)), 202
    ),
    f"GET {A}/orders": customer(0, call("GET", "/orders"), 200),
    f"GET {A}/orders/{{order_id}}": owner_only(0, call("GET", "/orders/{order}"), 200),
    f"GET {A}/orders/{{order_id}}/events": owner_only(0, _events, 200),
    f"POST {A}/orders/{{order_id}}/cancel": owner_only(
        5, call("POST", "/orders/{order}/cancel"), 200
    ),
    # catalog: variants and stock locations (made-up ids: the admin's answer is their 404)
    f"POST {A}/admin/products/{{product_id}}/variants": admin_only(
        0, call("POST", f"/admin/products/{uuid.uuid4()}/variants", json=_variant), 404
    ),
    f"PATCH {A}/admin/variants/{{variant_id}}": admin_only(
        0, call("PATCH", f"/admin/variants/{uuid.uuid4()}", json=lambda w, who: {"sku": "MX"}), 404
    ),
    f"DELETE {A}/admin/variants/{{variant_id}}": admin_only(
        0, call("DELETE", f"/admin/variants/{uuid.uuid4()}"), 404
    ),
    f"GET {A}/admin/locations": admin_only(0, call("GET", "/admin/locations"), 200),
    f"POST {A}/admin/locations": admin_only(
        0, call("POST", "/admin/locations", json=_location), 201
    ),
    f"PUT {A}/admin/variants/{{variant_id}}/stock/{{location_code}}": admin_only(
        0,
        call(
            "PUT",
            f"/admin/variants/{uuid.uuid4()}/stock/default",
            json=lambda w, who: {"on_hand": 1},
        ),
        404,
    ),
    f"GET {A}/admin/variants/{{variant_id}}/stock": admin_only(
        0, call("GET", f"/admin/variants/{uuid.uuid4()}/stock"), 404
    ),
    # orders: the checkout's pricing rules (this suite's own platform: they price no other
    # suite's carts)
    f"POST {A}/admin/shipping-zones": admin_only(
        0, call("POST", "/admin/shipping-zones", json=_zone), 201
    ),
    f"GET {A}/admin/shipping-zones": admin_only(0, call("GET", "/admin/shipping-zones"), 200),
    f"DELETE {A}/admin/shipping-zones/{{zone_id}}": admin_only(
        0, call("DELETE", f"/admin/shipping-zones/{uuid.uuid4()}"), 404
    ),
    f"POST {A}/admin/tax-rates": admin_only(0, call("POST", "/admin/tax-rates", json=_tax), 201),
    f"GET {A}/admin/tax-rates": admin_only(0, call("GET", "/admin/tax-rates"), 200),
    f"DELETE {A}/admin/tax-rates/{{tax_rate_id}}": admin_only(
        0, call("DELETE", f"/admin/tax-rates/{uuid.uuid4()}"), 404
    ),
    f"POST {A}/admin/promotions": admin_only(
        0, call("POST", "/admin/promotions", json=_promotion), 201
    ),
    f"GET {A}/admin/promotions": admin_only(0, call("GET", "/admin/promotions"), 200),
    f"GET {A}/admin/promotions/{{promotion_id}}": admin_only(
        0, call("GET", f"/admin/promotions/{uuid.uuid4()}"), 404
    ),
    f"PATCH {A}/admin/promotions/{{promotion_id}}": admin_only(
        0,
        call("PATCH", f"/admin/promotions/{uuid.uuid4()}", json=lambda w, who: {"name": "X"}),
        404,
    ),
    f"DELETE {A}/admin/promotions/{{promotion_id}}": admin_only(
        0, call("DELETE", f"/admin/promotions/{uuid.uuid4()}"), 404
    ),
    f"GET {A}/admin/orders": admin_only(0, call("GET", "/admin/orders"), 200),
    f"GET {A}/admin/orders/{{order_id}}": admin_only(0, call("GET", "/admin/orders/{order}"), 200),
    f"POST {A}/admin/orders/{{order_id}}/ship": admin_only(
        0, call("POST", "/admin/orders/{shippable}/ship"), 200
    ),
    # last: the callers delete themselves, then sign out (gone already: 401)
    f"DELETE {A}/me": Row(8, call("DELETE", "/me", json=_delete_me), 401, 204, 204, 422),
    f"POST {A}/auth/logout": Row(9, call("POST", "/auth/logout"), 401, 401, 401, 204),
}


async def _world(http: httpx.AsyncClient, secure: Secure) -> World:
    boss = await admin(http, secure)
    a = await register(http, "A")
    b = await register(http, "B")
    victim = await register(http, "Victim")
    product = await stocked_product(http, boss)
    doomed = await stocked_product(http, boss)
    upload = await http.post(
        f"/admin/products/{product}/images",
        files={"file": ("p.png", _png(), "image/png")},
        headers=boss.headers,
    )
    assert upload.status_code == 201, upload.text
    image = upload.json()
    media = httpx.URL(image["url"]).path
    category = (await http.get(f"/products/{product}")).json()["category_id"]
    assert media.startswith(A + "/media/"), image
    shippable = await place_order(http, a, product)
    await order_status(http, a, shippable, "confirmed")
    order = await place_order(http, a, product)
    address = await http.post("/me/addresses", json=ADDRESS, headers=a.headers)
    assert address.status_code == 201, address.text
    return World(
        a=a,
        b=b,
        boss=boss,
        victim=victim.id,
        product=product,
        category=category,
        doomed_product=doomed,
        image=image["id"],
        media_path=media.removeprefix(A),
        order=order,
        shippable=shippable,
        address=address.json()["id"],
    )


def _operations(document: dict[str, Any]) -> set[str]:
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    return {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in methods
    }


async def test_every_operation_has_an_entry_in_the_matrix(secure: Secure) -> None:
    async with client(secure) as http:
        document = (await http.get("/openapi.json")).json()
    assert "x-emporium-missing" not in document, document.get("x-emporium-missing")
    operations = _operations(document)
    assert operations - MATRIX.keys() == set(), "operations nobody decided the access of"
    assert MATRIX.keys() - operations == set(), "rows of operations the API does not have"


async def test_each_caller_gets_the_status_of_the_matrix(secure: Secure) -> None:
    async with client(secure) as http:
        world = await _world(http, secure)
        wrong: list[str] = []
        for operation, row in sorted(MATRIX.items(), key=lambda item: item[1].phase):
            for who in CALLERS:
                answer = await row.send(http, world, who)
                expected = row.expected(who)
                if answer.status_code != expected:
                    wrong.append(f"{operation} as {who}: {answer.status_code}, not {expected}")
                elif answer.status_code >= 400 and not is_problem(answer):
                    wrong.append(f"{operation} as {who}: {answer.status_code} is not problem+json")
    assert wrong == [], "\n".join(wrong)
