"""The people of the admin's browser tests, and what they make through the public API.

Loaded once by ``conftest.py`` (by path, as ``emporium_browser_people``), which gives it to
the tests as the ``people`` fixture. Everything is made through ``/api/v1`` with unique names,
so the tests find their own products and orders whatever else the shop holds (``make dev``'s
demo data, another test's). Each person calls from an address of their own
(``X-Forwarded-For``; the gateway trusts it from loopback in dev and in the e2e platform),
so the per-address limits of one do not count another's sign-ins.
"""

from __future__ import annotations

import io
import random
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

__all__ = [
    "ADDRESS",
    "Person",
    "Rules",
    "adds_up",
    "admin",
    "as_address",
    "breakdown",
    "clear_country",
    "customer",
    "euros",
    "jpeg",
    "known_to_orders",
    "make_product",
    "make_tee",
    "place_order",
    "pricing_rules",
    "remove_rules",
    "sign_in",
    "until_status",
]

ADDRESS = {"line1": "1 Test Street", "city": "Berlin", "postal_code": "10115", "country": "DE"}


def _ip() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


@dataclass
class Person:
    """An account and an API client signed in as it, from an address of its own."""

    email: str
    password: str
    id: str
    ip: str
    http: httpx.Client


def _client(shop: Any, ip: str) -> httpx.Client:
    return httpx.Client(
        base_url=shop.base_url + "/api/v1", timeout=30, headers={"X-Forwarded-For": ip}
    )


def _signed_in(shop: Any, email: str, password: str, ip: str) -> Person:
    http = _client(shop, ip)
    token = http.post("/auth/token", json={"email": email, "password": password})
    assert token.status_code == 200, token.text
    http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    me = http.get("/me")
    assert me.status_code == 200, me.text
    return Person(email, password, str(me.json()["id"]), ip, http)


def admin(shop: Any) -> Person:
    """The platform's admin account."""
    return _signed_in(shop, shop.admin_email, shop.admin_password, _ip())


def customer(shop: Any, name: str = "Brow Ser") -> Person:
    """A newly registered customer."""
    ip, email = _ip(), f"shopper-{uuid.uuid4().hex[:10]}@browser.emporium.test"
    with _client(shop, ip) as http:
        answer = http.post(
            "/auth/register", json={"email": email, "password": "a-long-password-1", "name": name}
        )
        assert answer.status_code == 201, answer.text
    return _signed_in(shop, email, "a-long-password-1", ip)


def jpeg(folder: Path, name: str = "upload.jpg", size: tuple[int, int] = (640, 480)) -> Path:
    """A JPEG file to upload (stripes, so no codec flattens it away)."""
    picture = Image.new("RGB", size, (180, 90, 40))
    for x in range(0, size[0], 32):
        for y in range(size[1]):
            picture.putpixel((x, y), (250, 240, 200))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    target = folder / name
    target.write_bytes(out.getvalue())
    return target


def make_product(
    boss: Person,
    *,
    name: str,
    price: int = 1990,
    on_hand: int = 20,
    image: bool = True,
    weight_grams: int = 0,
) -> dict[str, Any]:
    """A product with stock (and an image), once the orders service knows it."""
    tag = uuid.uuid4().hex[:8]
    created = boss.http.post(
        "/admin/products",
        json={
            "sku": f"BRA-{tag}",
            "name": f"{name} {tag}",
            "description": "Made by the admin's browser tests.",
            "price": {"amount": price, "currency": "EUR"},
            "weight_grams": weight_grams,
        },
    )
    assert created.status_code == 201, created.text
    product: dict[str, Any] = created.json()
    stock = boss.http.put(f"/admin/products/{product['id']}/stock", json={"on_hand": on_hand})
    assert stock.status_code == 200, stock.text
    if image:
        upload = boss.http.post(
            f"/admin/products/{product['id']}/images",
            files={"file": ("p.jpg", jpeg_bytes(), "image/jpeg")},
        )
        assert upload.status_code == 201, upload.text
    known_to_orders(boss, str(product["id"]))
    return product


def make_tee(boss: Person, *, name: str = "Variant tee") -> dict[str, Any]:
    """A T-shirt in sizes S/M/L and colours red/blue with three variants, stocked at the
    ``default`` location: S/red (the first, €19.00, 10 on hand), M/red (€24.00, 4) and
    L/blue (€21.00, sold out). The product as the shop sees it, variants by ``Size/colour``
    under ``by_options``."""
    tag = uuid.uuid4().hex[:8]
    created = boss.http.post(
        "/admin/products",
        json={
            "sku": f"BRT-{tag}-S-RED",
            "name": f"{name} {tag}",
            "description": "Made by the variant browser tests.",
            "price": {"amount": 1900, "currency": "EUR"},
            "options": [
                {"name": "Size", "values": ["S", "M", "L"]},
                {"name": "Colour", "values": ["red", "blue"]},
            ],
        },
    )
    assert created.status_code == 201, created.text
    product_id = str(created.json()["id"])
    stocks = {product_id: 10}
    for size, colour, amount, on_hand in (("M", "red", 2400, 4), ("L", "blue", 2100, 0)):
        added = boss.http.post(
            f"/admin/products/{product_id}/variants",
            json={
                "sku": f"BRT-{tag}-{size}-{colour.upper()}",
                "options": {"Size": size, "Colour": colour},
                "prices": [{"amount": amount, "currency": "EUR"}],
            },
        )
        assert added.status_code == 201, added.text
        stocks[str(added.json()["id"])] = on_hand
    for variant_id, on_hand in stocks.items():
        put = boss.http.put(
            f"/admin/variants/{variant_id}/stock/default", json={"on_hand": on_hand}
        )
        assert put.status_code == 200, put.text
    product: dict[str, Any] = boss.http.get(f"/products/{product_id}").json()
    product["by_options"] = {
        f"{v['options']['Size']}/{v['options']['Colour']}": v for v in product["variants"]
    }
    return product


def jpeg_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (400, 400), (30, 120, 160)).save(out, "JPEG")
    return out.getvalue()


def known_to_orders(person: Person, product_id: str) -> None:
    """Wait until the orders service knows the product or variant (it hears of them from
    the catalog's events: a cart line for one answers 404 until then)."""
    deadline = time.monotonic() + 60
    while True:
        put = person.http.put(f"/cart/items/{product_id}", json={"quantity": 1})
        if put.status_code != 404 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert put.status_code == 200, put.text
    person.http.delete(f"/cart/items/{product_id}")


def place_order(shopper: Person, product_id: str, *, card: str = "tok_visa") -> str:
    """The shopper orders one of the product through the API; the order's id."""
    known_to_orders(shopper, product_id)
    put = shopper.http.put(f"/cart/items/{product_id}", json={"quantity": 1})
    assert put.status_code == 200, put.text
    placed = shopper.http.post(
        "/orders",
        json={"shipping_address": ADDRESS, "payment": {"card_token": card}},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert placed.status_code == 202, placed.text
    return str(placed.json()["id"])


def until_status(person: Person, order_id: str, status: str, timeout: float = 60) -> None:
    """Wait until the order (the person's own) has ``status``."""
    deadline = time.monotonic() + timeout
    while True:
        found = person.http.get(f"/orders/{order_id}").json()["status"]
        if found == status:
            return
        assert time.monotonic() < deadline, f"order {order_id} is {found}, not {status}"
        time.sleep(0.3)


def as_address(page: Any, person: Person) -> None:
    """The browser page calls from the person's address (see the module)."""
    page.context.set_extra_http_headers({"X-Forwarded-For": person.ip})


def sign_in(page: Any, person: Person, next_path: str = "/") -> None:
    """Sign in through the shop's sign-in page, from the person's address."""
    as_address(page, person)
    page.goto(f"/signin?next={next_path}")
    page.fill("#f-email", person.email)
    page.fill("#f-password", person.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert "/signin" not in page.url, page.locator("main").inner_text()


def wait_until(page: Any, predicate: str, *, timeout_ms: float = 30_000) -> None:
    """Poll ``predicate`` (a JavaScript function's source) in ``page`` until it is truthy.

    Not ``page.wait_for_function``: Playwright runs its predicate through ``eval`` inside
    the page, which the storefront's Content-Security-Policy (no ``'unsafe-eval'``)
    refuses. ``page.evaluate`` of a function goes through the DevTools protocol instead,
    which the policy does not bind.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(predicate):
        assert time.monotonic() < deadline, f"still false after {timeout_ms} ms: {predicate}"
        page.wait_for_timeout(100)


@dataclass
class Rules:
    """A country's checkout pricing made for one test: a zone (Standard 4.90 in 3 days,
    Express 12.90 in 1 day), a tax rate and two codes on one product (10 % off, and one
    that expired); ``remove_rules`` takes them all away again."""

    country: str
    zone_id: str
    tax_rate_id: str
    code: str
    expired_code: str
    promotion_ids: list[str]


def _created(answer: httpx.Response) -> str:
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def clear_country(boss: Person, country: str) -> None:
    """Every zone covering ``country`` and its tax rates deleted (what an earlier run that
    died before its teardown left)."""
    for zone in boss.http.get("/admin/shipping-zones").json():
        if country in zone["countries"]:
            boss.http.delete(f"/admin/shipping-zones/{zone['id']}")
    for rate in boss.http.get("/admin/tax-rates").json():
        if rate["country"] == country:
            boss.http.delete(f"/admin/tax-rates/{rate['id']}")


def pricing_rules(boss: Person, country: str, product_id: str, *, rate_bp: int = 2300) -> Rules:
    """Shipping, tax and codes for ``country`` (one no other test ships to) and the product.

    The codes apply to that product only, and the zone and rate to that country only, so
    no other test's cart changes.
    """
    clear_country(boss, country)
    tag = uuid.uuid4().hex[:8].upper()
    zone = boss.http.post(
        "/admin/shipping-zones",
        json={
            "name": f"Browser {country} {tag}",
            "countries": [country],
            "rates": [
                {"name": "Standard", "amount": 490, "currency": "EUR", "estimated_days": 3},
                {"name": "Express", "amount": 1290, "currency": "EUR", "estimated_days": 1},
            ],
        },
    )
    tax = boss.http.post(
        "/admin/tax-rates", json={"country": country, "rate_bp": rate_bp, "name": "VAT"}
    )
    only_this = {"categories": [], "products": [product_id]}
    code, expired = f"BRW{tag}", f"OLD{tag}"
    promotions = [
        boss.http.post(
            "/admin/promotions",
            json={"name": f"Ten off {tag}", "kind": "percentage", "value": 10, "code": code,
                  "applies_to": only_this},
        ),
        boss.http.post(
            "/admin/promotions",
            json={"name": f"Gone {tag}", "kind": "fixed", "value": 500, "currency": "EUR",
                  "code": expired, "applies_to": only_this,
                  "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2021-01-01T00:00:00Z"},
        ),
    ]  # fmt: skip
    return Rules(
        country, _created(zone), _created(tax), code, expired, [_created(p) for p in promotions]
    )


def remove_rules(boss: Person, rules: Rules) -> None:
    """Delete what ``pricing_rules`` made (already gone is fine)."""
    for promotion_id in rules.promotion_ids:
        boss.http.delete(f"/admin/promotions/{promotion_id}")
    boss.http.delete(f"/admin/tax-rates/{rules.tax_rate_id}")
    boss.http.delete(f"/admin/shipping-zones/{rules.zone_id}")


def euros(text: str) -> int:
    """``"€1,234.56"`` as minor units; a discount (its hidden "minus") below zero."""
    found = re.search(r"([\d,]+)\.(\d{2})", text)
    assert found is not None, f"no amount in {text!r}"
    cents = int(found.group(1).replace(",", "")) * 100 + int(found.group(2))
    return -cents if "minus" in text or "\u2212" in text else cents


def breakdown(page: Any, box: str) -> list[tuple[str, str, int | None]]:
    """The totals box ``#<box>-breakdown`` as (row kind, label, amount or None) rows."""
    rows = []
    for row in page.locator(f"#{box}-breakdown > div").all():
        kind = (row.get_attribute("class") or "").split()[0].removeprefix("row-")
        label = row.locator("dt").inner_text().strip()
        shown = row.locator("dd").inner_text().strip()
        rows.append((kind, label, euros(shown) if re.search(r"\d\.\d{2}", shown) else None))
    return rows


def adds_up(rows: list[tuple[str, str, int | None]]) -> bool:
    """subtotal - discounts + shipping + tax == total, as the page shows them."""
    parts = sum(amount or 0 for kind, _, amount in rows if kind != "total")
    return parts == next(amount for kind, _, amount in rows if kind == "total")
