"""The shop's currency in a real browser: a shopper switches the header's picker to USD,
sees USD prices on the listing and a product page (a variant with no USD price says so and
cannot be bought), buys a variant priced in USD, and the order is in USD.

The product comes from the public admin API (``priced_tee`` below), with a unique name and
SKUs: a T-shirt whose red variant is priced in EUR and USD and whose blue one in EUR only,
so nothing depends on the demo data. It ships to the United States, a country no other
suite prices (no zone, no tax), so the total is the line's.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def _until_sold_in(person: Any, variant_id: str, currency: str) -> None:
    """Wait until the orders service has the variant's price in ``currency`` (it hears of
    prices from the catalog's events), then empty the person's cart again. ``person`` must
    have an empty cart: one with lines in another currency refuses every other line."""
    deadline = time.monotonic() + 60
    while True:
        put = person.http.put(
            f"/cart/items/{variant_id}", json={"quantity": 1, "currency": currency}
        )
        if put.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert put.status_code == 200, put.text
    person.http.delete(f"/cart/items/{variant_id}")


@pytest.fixture
def priced_tee(boss: Any, shop: Any, people: Any) -> dict[str, Any]:
    """A tee in red (€19.00 / $21.00, the first variant) and blue (€20.00, no USD price),
    10 of each at the ``default`` location; the product as the shop sees it in USD, with
    ``red`` and ``blue`` its variants and ``word`` its unique name part."""
    word = f"dollar{uuid.uuid4().hex[:8]}"
    created = boss.http.post(
        "/admin/products",
        json={
            "sku": f"BRC-{word}-RED",
            "name": f"Currency tee {word}",
            "description": "Made by the currency browser test.",
            "price": {"amount": 1900, "currency": "EUR"},
            "options": [{"name": "Colour", "values": ["red", "blue"]}],
        },
    )
    assert created.status_code == 201, created.text
    product_id = str(created.json()["id"])
    # The first variant has the product's id; it gets its USD price as a variant does.
    priced = boss.http.patch(
        f"/admin/variants/{product_id}",
        json={"prices": [{"amount": 1900, "currency": "EUR"}, {"amount": 2100, "currency": "USD"}]},
    )
    assert priced.status_code == 200, priced.text
    blue = boss.http.post(
        f"/admin/products/{product_id}/variants",
        json={
            "sku": f"BRC-{word}-BLUE",
            "options": {"Colour": "blue"},
            "prices": [{"amount": 2000, "currency": "EUR"}],
        },
    )
    assert blue.status_code == 201, blue.text
    for variant_id in (product_id, str(blue.json()["id"])):
        put = boss.http.put(f"/admin/variants/{variant_id}/stock/default", json={"on_hand": 10})
        assert put.status_code == 200, put.text
    # A new customer probes: the admin's own cart may hold other suites' EUR lines.
    prober = people.customer(shop, name="Currency Probe")
    try:
        _until_sold_in(prober, product_id, "USD")
    finally:
        prober.http.close()
    product: dict[str, Any] = boss.http.get(
        f"/products/{product_id}", params={"currency": "USD"}
    ).json()
    by_colour = {v["options"]["Colour"]: v for v in product["variants"]}
    return {**product, "red": by_colour["red"], "blue": by_colour["blue"], "word": word}


def test_a_shopper_switches_to_usd_and_orders_in_usd(
    page: Any, shop: Any, boss: Any, people: Any, priced_tee: dict[str, Any]
) -> None:
    tee, red = priced_tee, priced_tee["red"]
    shopper = people.customer(shop)
    try:
        people.sign_in(page, shopper, f"/search?q={tee['word']}")
        page.goto(f"/search?q={tee['word']}")
        card = page.locator("#results .card", has_text=tee["name"])
        expect(card).to_contain_text("€19.00")  # nothing picked: the base currency

        # The picker, from the keyboard: focus it, choose, press the button.
        picker = page.get_by_label("Currency")
        picker.focus()
        picker.select_option("USD")
        page.get_by_role("button", name="Change currency").click()
        page.wait_for_url(re.compile(rf"/search\?q={tee['word']}$"))
        expect(page.get_by_label("Currency")).to_have_value("USD")
        expect(card).to_contain_text("$21.00")
        expect(page.get_by_label("Lowest price ($)")).to_be_visible()

        # The product page asks in USD too; blue has no USD price: said, not buyable.
        card.get_by_role("link").click()
        expect(page.locator("#price")).to_have_text("$21.00")
        page.get_by_label("Colour").select_option("blue")
        expect(page.locator("#availability")).to_have_text("Not sold in USD")
        expect(page.get_by_role("button", name="Add to cart")).to_have_count(0)
        page.get_by_label("Colour").select_option("red")
        expect(page.locator("#price")).to_have_text("$21.00")
        page.get_by_role("button", name="Add to cart").click()
        page.wait_for_url(re.compile(r"/cart$"))

        # The cart is in USD now, and the header says its currency is fixed by it.
        expect(page.locator(f"#line-{red['id']}")).to_contain_text("$21.00")
        expect(page.locator("#cart-currency")).to_contain_text("Prices in USD")
        expect(page.locator("#site-currency")).to_contain_text("Prices in USD")
        expect(page.get_by_role("button", name="Change currency")).to_have_count(0)
        cart = shopper.http.get("/cart").json()
        assert cart["total"] == {"amount": 2100, "currency": "USD"}, cart

        page.goto("/checkout")
        if page.locator("#addr-new").count():
            page.check("#addr-new")
        page.get_by_label("Street and number").fill("1 Main Street")
        page.get_by_label("Postal code").fill("10001")
        page.get_by_label("City").fill("New York")
        page.get_by_label("Country").select_option("US")
        page.get_by_role("button", name="Use this address").click()
        expect(page.locator("#chosen-address")).to_contain_text("New York")
        expect(page.locator("#checkout-currency")).to_contain_text("USD")
        expect(page.locator("#checkout-total")).to_have_text("$21.00")
        page.check("#card-tok_visa")
        page.get_by_role("button", name="Place order").click()
        page.wait_for_url("**/orders/*")

        order_id = page.url.rsplit("/", 1)[-1]
        expect(page.locator("main")).to_contain_text("$21.00")
        expect(page.locator("#order-currency")).to_contain_text("USD")
        order = shopper.http.get(f"/orders/{order_id}").json()
        assert order["total"] == {"amount": 2100, "currency": "USD"}, order
        assert [(line["variant_id"], line["unit_price"]) for line in order["lines"]] == [
            (red["id"], {"amount": 2100, "currency": "USD"})
        ]

        # Ordered, the cart fixes nothing: the picker is back, still on USD.
        page.goto("/")
        expect(page.get_by_label("Currency")).to_have_value("USD")
    finally:
        shopper.http.close()
