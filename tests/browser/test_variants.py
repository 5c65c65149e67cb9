"""Variants in a real browser: a shopper picks a T-shirt's size and colour, sees that
variant's price and availability and puts it in the cart, which names its options; the
admin adds a variant and stocks it at two locations.

The products come from the public admin API (``people.make_tee``), with unique names and
SKUs; a location made here has a code of its own, so nothing another suite counts changes.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def test_a_shopper_picks_options_and_the_cart_names_them(page: Any, boss: Any, people: Any) -> None:
    tee = people.make_tee(boss)
    page.goto(f"/products/{tee['id']}")
    size, colour = page.get_by_label("Size"), page.get_by_label("Colour")
    # Nothing chosen yet: the first variant that can be bought, its values in the pickers.
    expect(size).to_have_value("S")
    expect(colour).to_have_value("red")
    expect(page.locator("#price")).to_have_text("€19.00")

    # Keyboard only: focus the size picker and choose with the arrow keys.
    size.focus()
    size.select_option("M")
    expect(page.locator("#price")).to_have_text("€24.00")
    expect(page.locator("#availability")).to_have_text("In stock: only 4 left")
    expect(page.locator("#variant-sku")).to_contain_text(tee["by_options"]["M/red"]["sku"])

    # A sold-out variant is said so and cannot be added.
    size.select_option("L")
    colour.select_option("blue")
    expect(page.locator("#availability")).to_have_text("Sold out")
    expect(page.get_by_role("button", name="Add to cart")).to_have_count(0)

    # A combination nobody made.
    colour.select_option("red")
    expect(page.locator("#availability")).to_contain_text("not made")

    size.select_option("M")
    expect(page.locator("#price")).to_have_text("€24.00")
    page.get_by_label("Quantity").fill("2")
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_url(re.compile(r"/cart$"))
    line = page.locator(f"#line-{tee['by_options']['M/red']['id']}")
    expect(line).to_contain_text("Size M, Colour red")
    expect(line).to_contain_text(f"SKU {tee['by_options']['M/red']['sku']}")
    expect(line).to_contain_text("€48.00")


def test_the_pickers_work_without_javascript(
    browser: Any, shop: Any, boss: Any, people: Any
) -> None:
    tee = people.make_tee(boss)
    context = browser.new_context(base_url=shop.base_url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"/products/{tee['id']}")
        page.get_by_label("Size").select_option("M")
        page.get_by_role("button", name="Show this choice").click()
        expect(page.locator("#price")).to_have_text("€24.00")
        assert "option.Size=M" in page.url
        page.get_by_role("button", name="Add to cart").click()
        expect(page.locator("main")).to_contain_text("Size M, Colour red")
    finally:
        context.close()


def test_the_admin_adds_a_variant_and_stocks_it_at_two_locations(
    new_page: Any, boss: Any, people: Any, shop: Any
) -> None:
    tee = people.make_tee(boss, name="Admin tee")
    page = new_page()
    people.sign_in(page, boss, "/admin/locations")
    code = f"bt-{uuid.uuid4().hex[:8]}"
    page.goto("/admin/locations")
    page.get_by_label("Code").fill(code)
    page.get_by_label("Name").fill(f"Browser hall {code}")
    page.get_by_label("Priority").fill("900")
    page.get_by_role("button", name="Add location").click()
    expect(page.locator("main")).to_contain_text(f"Browser hall {code}")

    page.goto(f"/admin/products/{tee['id']}#variants")
    form = page.locator("#new-variant")
    form.get_by_label("SKU").fill(tee["by_options"]["M/red"]["sku"])  # taken: said beside it
    form.get_by_label("Size").select_option("S")
    form.get_by_label("Colour").select_option("blue")
    form.get_by_label("Price (EUR)").fill("22.50")
    form.get_by_role("button", name="Add variant").click()
    expect(page.locator("#new-variant")).to_contain_text("Another product already has this SKU")

    sku = f"BRT-NEW-{uuid.uuid4().hex[:8]}"
    form = page.locator("#new-variant")
    form.get_by_label("SKU").fill(sku)
    form.get_by_label("Colour").select_option("red")  # S/red exists: said beside the options
    form.get_by_role("button", name="Add variant").click()
    expect(page.locator("#new-variant")).to_contain_text(
        "Another variant already has these options"
    )

    form = page.locator("#new-variant")
    form.get_by_label("Colour").select_option("blue")
    form.get_by_role("button", name="Add variant").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Size S, Colour blue")

    table = page.locator("#stock")
    table.get_by_label("On hand at default").fill("3")
    table.get_by_label(f"On hand at {code}").fill("5")
    page.get_by_role("button", name="Save stock").click()
    expect(page.locator("#stock")).to_contain_text("8 available in all")

    page.goto(f"/admin/products/{tee['id']}#variants")
    row = page.locator("#variants tr", has_text=sku)
    expect(row).to_contain_text("Size S, Colour blue")
    expect(row).to_contain_text("€22.50")
    expect(row).to_contain_text("8")
    levels = {
        s["location"]: s
        for s in boss.http.get(f"/admin/variants/{_variant_id(boss, tee, sku)}/stock").json()
    }
    assert levels["default"]["on_hand"] == 3
    assert levels[code]["on_hand"] == 5


def _variant_id(boss: Any, tee: dict[str, Any], sku: str) -> str:
    product = boss.http.get(f"/products/{tee['id']}").json()
    return str(next(v["id"] for v in product["variants"] if v["sku"] == sku))


def test_the_listing_counts_option_values_and_filters_by_them(
    page: Any, boss: Any, people: Any
) -> None:
    word = f"facet{uuid.uuid4().hex[:8]}"
    first = people.make_tee(boss, name=f"Tee {word} one")
    second = people.make_tee(boss, name=f"Tee {word} two")
    gone = boss.http.delete(f"/admin/variants/{second['by_options']['L/blue']['id']}")
    assert gone.status_code == 204, gone.text

    page.goto(f"/search?q={word}")
    facets = page.locator("nav.facets")
    expect(page.locator("#results .card")).to_have_count(2)
    expect(facets.get_by_role("link", name=re.compile(r"^M \(2\)"))).to_be_visible()
    large = facets.get_by_role("link", name=re.compile(r"^L \(1\)"))
    large.click()
    page.wait_for_url(re.compile(r"option\.Size=L"))
    expect(page.locator("#results .card")).to_have_count(1)
    expect(page.locator("#results")).to_contain_text(first["name"])
    assert f"q={word}" in page.url  # the other filters stay
    chosen = facets.get_by_role("link", name=re.compile(r"^L \(1\).*chosen: remove"))
    expect(chosen).to_have_attribute("aria-current", "true")
    chosen.click()
    expect(page.locator("#results .card")).to_have_count(2)


def test_a_signed_in_shopper_orders_a_variant_and_the_order_names_it(
    page: Any, shop: Any, boss: Any, people: Any
) -> None:
    tee = people.make_tee(boss, name="Ordered tee")
    chosen = tee["by_options"]["M/red"]
    shopper = people.customer(shop)
    try:
        people.known_to_orders(shopper, str(chosen["id"]))
        people.sign_in(page, shopper, f"/products/{tee['id']}")
        page.goto(f"/products/{tee['id']}?option.Size=M&option.Colour=red")
        expect(page.locator("#price")).to_have_text("€24.00")
        page.get_by_role("button", name="Add to cart").click()
        page.wait_for_url(re.compile(r"/cart$"))
        line = page.locator(f"#line-{chosen['id']}")
        expect(line).to_contain_text("Size M, Colour red")
        expect(line).to_contain_text(f"SKU {chosen['sku']}")
        cart = shopper.http.get("/cart").json()
        assert [(i["variant_id"], i["sku"]) for i in cart["items"]] == [
            (chosen["id"], chosen["sku"])
        ]
    finally:
        shopper.http.close()
