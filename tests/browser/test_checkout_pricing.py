"""Checkout pricing in a real browser: codes, shipping methods, tax, the order's breakdown,
and the admin's pages for zones, tax rates and promotions.

Pricing rules are global to a shop, so each test prices a country no other suite ships to
(the others ship to Germany; ``make dev``'s seed prices Austria) and scopes its codes to a
product of its own; everything it made is deleted after it (``people.pricing_rules``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

COUNTRY = "PT"  # the shopper's: priced by this module's rules only
ADMIN_COUNTRY = "FI"  # the admin's page test makes and deletes its own


@pytest.fixture(scope="module")
def lamp(boss: Any, people: Any) -> dict[str, Any]:
    return people.make_product(boss, name="Priced lamp", price=4000, on_hand=60, image=False)


@pytest.fixture
def rules(boss: Any, people: Any, lamp: dict[str, Any]) -> Iterator[Any]:
    made = people.pricing_rules(boss, COUNTRY, str(lamp["id"]))
    yield made
    people.remove_rules(boss, made)


@pytest.fixture
def shopper(shop: Any, people: Any) -> Iterator[Any]:
    person = people.customer(shop, name="Paula Price")
    yield person
    person.http.close()


def _policy_violations(page: Any) -> list[str]:
    found: list[str] = []
    page.on(
        "console", lambda m: found.append(m.text) if "Content Security Policy" in m.text else None
    )
    return found


def _apply(page: Any, code: str) -> None:
    page.get_by_label("Discount code").fill(code)
    page.get_by_role("button", name="Apply code").click()
    page.wait_for_load_state()


def _ship_to_lisbon(page: Any) -> None:
    if page.locator("#addr-new").count():
        page.check("#addr-new")
    page.get_by_label("Street and number").fill("Rua Augusta 1")
    page.get_by_label("Postal code").fill("1100-048")
    page.get_by_label("City").fill("Lisboa")
    page.get_by_label("Country").select_option(COUNTRY)
    page.get_by_role("button", name="Use this address").click()
    expect(page.locator("#chosen-address")).to_contain_text("Lisboa")


def test_a_shopper_applies_a_code_chooses_shipping_and_the_order_keeps_the_breakdown(
    page: Any, people: Any, rules: Any, lamp: dict[str, Any], shopper: Any
) -> None:
    violations = _policy_violations(page)
    people.sign_in(page, shopper, f"/products/{lamp['id']}")
    page.goto(f"/products/{lamp['id']}")
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_url("**/cart")
    assert page.locator("#cart-total").inner_text() == "€40.00"
    assert page.locator("#cart-shipping").inner_text() == "Chosen at checkout"

    # Refused codes are said in plain words beside the field, what was typed kept.
    _apply(page, "NOPE" + uuid.uuid4().hex[:6])
    assert (
        page.locator("#f-code-error").inner_text() == "There is no such code. Check its spelling."
    )
    assert page.get_by_label("Discount code").get_attribute("aria-invalid") == "true"
    _apply(page, rules.expired_code)
    assert page.locator("#f-code-error").inner_text() == "This code has expired."
    assert page.get_by_label("Discount code").input_value() == rules.expired_code

    # The code (typed in lower case: codes are matched case-insensitively) takes 10 % off.
    _apply(page, rules.code.lower())
    assert page.locator("#f-code-error").count() == 0
    rows = people.breakdown(page, "cart")
    discount = [r for r in rows if r[0] == "discount"]
    assert len(discount) == 1
    assert rules.code in discount[0][1]
    assert discount[0][2] < 0
    assert page.locator("#cart-total").inner_text() == "€36.00"
    assert people.adds_up(rows)

    # Checkout: the address first, then the methods its country offers, with price and days.
    page.get_by_role("link", name="Go to checkout").click()
    page.wait_for_url("**/checkout")
    _ship_to_lisbon(page)
    assert page.get_by_label("Standard: €4.90, about 3 days").count() == 1
    assert page.locator("#checkout-shipping").inner_text() == "Not chosen yet"
    page.get_by_label("Express: €12.90, about 1 day").check()
    page.get_by_role("button", name="Use this shipping method").click()
    expect(page.locator("#checkout-breakdown")).to_contain_text("Shipping: Express")
    rows = people.breakdown(page, "checkout")
    assert [r[1] for r in rows if r[0] == "tax"] == ["VAT 23 %"]
    assert people.adds_up(rows)
    # EUR prices include the tax: the shopper pays 40.00 - 10 % + 12.90.
    assert page.locator("#checkout-total").inner_text() == "€48.90"

    # The order keeps the breakdown the checkout showed, line for line.
    page.check("#card-tok_visa")
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url("**/orders/*")
    assert people.breakdown(page, "order") == rows
    assert page.locator("#order-total").inner_text() == "€48.90"
    assert not violations, violations


def test_a_dropped_shipping_method_is_told(
    page: Any, people: Any, rules: Any, lamp: dict[str, Any], shopper: Any
) -> None:
    # The cart ships to Lisbon by Standard (set through the API) ...
    people.sign_in(page, shopper, "/checkout")
    assert shopper.http.put(f"/cart/items/{lamp['id']}", json={"quantity": 1}).status_code == 200
    lisbon = {"line1": "Rua Augusta 1", "city": "Lisboa", "postal_code": "1100-048"}
    cart = shopper.http.put("/cart/shipping-address", json={**lisbon, "country": COUNTRY}).json()
    standard = next(o for o in cart["shipping_options"] if o["name"] == "Standard")
    chosen = shopper.http.put("/cart/shipping-method", json={"id": standard["id"]})
    assert chosen.status_code == 200, chosen.text
    # ... then the shopper moves it to Germany, where no method is offered.
    page.goto("/checkout")
    page.locator("details.change summary").click()
    page.get_by_label("Street and number").fill("1 Test Street")
    page.get_by_label("Postal code").fill("10115")
    page.get_by_label("City").fill("")
    page.get_by_label("Country").select_option("DE")
    page.get_by_role("button", name="Use this address").click()
    # A missing field is said beside it (htmx swaps the refused form in, as a reload would).
    expect(page.locator("#f-city-error")).to_have_text("Enter the city.")
    assert page.get_by_label("Street and number").input_value() == "1 Test Street"
    page.get_by_label("City").fill("Berlin")
    page.get_by_role("button", name="Use this address").click()
    expect(page.locator("#chosen-address")).to_contain_text("Berlin")
    assert "Your shipping method was removed" in page.locator(".flash-warning").inner_text()
    assert page.locator("#checkout-shipping").inner_text() == "No charge"
    assert page.locator("#no-shipping").count() == 1


def test_an_admin_makes_a_zone_a_tax_rate_and_a_promotion_through_the_pages(
    page: Any, boss: Any, people: Any, lamp: dict[str, Any]
) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    people.clear_country(boss, ADMIN_COUNTRY)  # what an earlier run left, if it died
    people.sign_in(page, boss, "/admin/")
    violations = _policy_violations(page)
    nav = page.get_by_role("navigation", name="Admin")

    # A shipping zone: a problem in a rate row is said beside that row's field.
    nav.get_by_role("link", name="Shipping").click()
    page.wait_for_url("**/admin/shipping-zones")
    page.get_by_label("Zone name").fill(f"Finland {tag}")
    page.get_by_label("Countries").fill(ADMIN_COUNTRY.lower())
    page.get_by_label("Method name (rate 1)").fill("Standard")
    page.get_by_label("Price (rate 1)").fill("five")
    page.get_by_role("button", name="Create zone").click()
    assert "as a number" in page.locator("#f-rate-0-amount-error").inner_text()
    assert page.get_by_label("Zone name").input_value() == f"Finland {tag}"
    page.get_by_label("Price (rate 1)").fill("5.90")
    page.get_by_label("Estimated days (rate 1, optional)").fill("4")
    page.get_by_role("button", name="Create zone").click()
    zone = page.locator(".rule", has_text=f"Finland {tag}")
    expect(zone).to_contain_text("€5.90")
    assert ADMIN_COUNTRY in zone.locator(".countries").inner_text()

    # A tax rate.
    nav.get_by_role("link", name="Taxes").click()
    page.get_by_label("Name").fill("ALV")
    page.get_by_label("Country").select_option(ADMIN_COUNTRY)
    page.get_by_label("Rate (%)").fill("25,5")
    page.get_by_role("button", name="Create tax rate").click()
    rate = page.locator("#tax-rates tr", has_text="ALV")
    expect(rate).to_contain_text("25.5 %")

    # A promotion by code, then changed, then a second one with the same code is refused.
    code = f"ADM{tag}"
    nav.get_by_role("link", name="Promotions").click()
    page.get_by_role("link", name="New promotion").click()
    page.get_by_label("Name").fill(f"Admin ten {tag}")
    page.get_by_label("A percentage off").check()
    page.get_by_label("Discount", exact=True).fill("10")
    page.get_by_label("Code (optional)").fill(code.lower())
    page.get_by_label("Or on these products (optional)").fill(str(lamp["id"]))
    page.get_by_label("Orders in all (codes only, optional)").fill("5")
    page.get_by_role("button", name="Create promotion").click()
    row = page.locator("#promotions tr", has_text=code)
    expect(row).to_contain_text("10 %")
    expect(row).to_contain_text("0 of 5")
    row.get_by_role("link", name=f"Admin ten {tag}").click()
    page.get_by_label("Discount", exact=True).fill("15")
    page.get_by_role("button", name="Save promotion").click()
    expect(page.locator("#promotions tr", has_text=code)).to_contain_text("15 %")
    page.get_by_role("link", name="New promotion").click()
    page.get_by_label("Name").fill(f"Copy {tag}")
    page.get_by_label("A percentage off").check()
    page.get_by_label("Discount", exact=True).fill("5")
    page.get_by_label("Code (optional)").fill(code)
    page.get_by_role("button", name="Create promotion").click()
    assert page.locator("#f-code-error").inner_text() == "Another promotion already has this code."

    # The API holds what the pages made; then the pages delete it all again.
    zones = [
        z for z in boss.http.get("/admin/shipping-zones").json() if z["name"] == f"Finland {tag}"
    ]
    assert [(r["name"], r["amount"], r["estimated_days"]) for r in zones[0]["rates"]] == [
        ("Standard", 590, 4)
    ]
    taxes = [r for r in boss.http.get("/admin/tax-rates").json() if r["country"] == ADMIN_COUNTRY]
    assert [(t["name"], t["rate_bp"]) for t in taxes] == [("ALV", 2550)]
    page.goto("/admin/promotions")
    page.locator("#promotions tr", has_text=code).get_by_role("button", name="Delete").click()
    expect(page.locator(".flash")).to_have_text("The promotion is deleted.")
    assert page.locator("#promotions tr", has_text=code).count() == 0
    page.goto("/admin/tax-rates")
    page.locator("#tax-rates tr", has_text="ALV").get_by_role("button", name="Delete").click()
    expect(page.locator(".flash")).to_have_text("The tax rate is deleted.")
    page.goto("/admin/shipping-zones")
    page.locator(".rule", has_text=f"Finland {tag}").get_by_role("button", name="Delete").click()
    expect(page.locator(".flash")).to_have_text("The shipping zone is deleted.")
    assert page.locator(".rule", has_text=f"Finland {tag}").count() == 0
    assert not violations, violations
