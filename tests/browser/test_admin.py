"""The admin in a real browser: images, stock, shipping, and who may come in.

Against ``make dev`` (``EMPORIUM_E2E_BASE_URL``) or the real stack (the e2e platform with
the storefront). The products and orders are the tests' own (``people.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

LIVE = 45_000  # ms: an order's events through the saga (Kafka on the real stack)


@pytest.fixture
def someone(shop: Any, people: Any) -> Iterator[Callable[..., Any]]:
    """Registers new customers (their API clients closed after the test)."""
    made: list[Any] = []

    def register(name: str = "Brow Ser") -> Any:
        made.append(people.customer(shop, name))
        return made[-1]

    yield register
    for person in made:
        person.http.close()


@pytest.fixture
def admin_page(page: Any, boss: Any, people: Any) -> Any:
    people.sign_in(page, boss, "/admin/")
    return page


def _loaded(page: Any, selector: str, people: Any) -> None:
    """Every image ``selector`` finds has loaded with real pixels."""
    people.wait_until(
        page,
        f"() => [...document.querySelectorAll({selector!r})]"
        ".some(i => i.complete && i.naturalWidth > 0)",
    )


def test_an_admin_creates_a_product_uploads_an_image_and_the_shop_shows_it(
    admin_page: Any, tmp_path: Path, people: Any
) -> None:
    page = admin_page
    tag = uuid.uuid4().hex[:8]
    page.get_by_role("link", name="Products", exact=True).click()
    page.get_by_role("link", name="New product").click()
    page.get_by_label("SKU").fill(f"ADM-{tag}")
    page.get_by_label("Name").fill(f"Teapot {tag}")
    page.get_by_label("Price (EUR)").fill("24.50")
    page.get_by_label("Stock on hand").fill("7")
    page.get_by_role("button", name="Create product").click()
    page.wait_for_url("**/admin/products/*")
    product_id = page.url.rsplit("/", 1)[-1]
    assert f"Created Teapot {tag}" in page.locator(".flash").inner_text()

    # The chosen file is previewed before it is sent.
    page.get_by_label("Add an image").set_input_files(people.jpeg(tmp_path))
    assert page.locator("#image-preview-box").is_visible()
    _loaded(page, "#image-preview", people)
    page.get_by_role("button", name="Upload image").click()
    page.wait_for_url(f"**/admin/products/{product_id}*")
    assert page.locator(".flash").inner_text() == "Image added."
    assert page.locator(".image-list img").count() == 1
    _loaded(page, ".image-list img", people)

    # The shop's product page shows it, loaded, with the price and the stock.
    page.goto(f"/products/{product_id}")
    assert page.locator("h1").inner_text() == f"Teapot {tag}"
    _loaded(page, ".gallery img", people)
    assert page.locator("#price").inner_text() == "€24.50"
    assert page.locator("#availability").inner_text().startswith("In stock")

    # Stock 0: the shop shows it sold out.
    page.goto(f"/admin/products/{product_id}")
    page.get_by_label("On hand").fill("0")
    page.get_by_role("button", name="Set stock").click()
    assert "0 available" in page.locator(".flash").inner_text()
    page.goto(f"/products/{product_id}")
    assert page.locator("#availability").inner_text() == "Sold out"
    assert page.get_by_role("button", name="Add to cart").count() == 0


def test_problems_are_told_beside_the_field_that_caused_them(
    admin_page: Any, boss: Any, people: Any
) -> None:
    page = admin_page
    taken = people.make_product(boss, name="Taken", image=False)
    page.goto("/admin/products/new")
    page.get_by_label("SKU").fill("not a sku!")
    page.get_by_label("Name").fill("Anything")
    page.get_by_label("Price (EUR)").fill("twelve")
    page.get_by_label("Stock on hand").fill("1")
    page.get_by_role("button", name="Create product").click()
    assert "letters, digits" in page.locator("#f-sku-error").inner_text()
    assert page.locator("#f-price-error").inner_text() == (
        "Enter the price as a number, for example 12.50."
    )
    assert page.get_by_label("Price (EUR)").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Name").input_value() == "Anything"  # what was typed stays

    # The API's own refusal (409 duplicate SKU) lands on the SKU field too.
    page.get_by_label("SKU").fill(taken["sku"])
    page.get_by_label("Price (EUR)").fill("12")
    page.get_by_role("button", name="Create product").click()
    assert page.locator("#f-sku-error").inner_text() == "Another product already has this SKU."
    assert page.locator("#f-price-error").count() == 0

    # Not an image: refused beside the file input, nothing uploaded.
    page.goto(f"/admin/products/{taken['id']}")
    page.get_by_label("Add an image").set_input_files(
        files=[{"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"not a picture"}]
    )
    page.get_by_role("button", name="Upload image").click()
    assert "JPEG, PNG or WebP" in page.locator("#f-file-error").inner_text()
    assert page.locator(".image-list img").count() == 0


def test_shipping_turns_the_shoppers_open_order_page_shipped_live(
    admin_page: Any, new_page: Any, boss: Any, someone: Any, people: Any
) -> None:
    product = people.make_product(boss, name="Kettle")
    shopper = someone()
    order_id = people.place_order(shopper, str(product["id"]))
    people.until_status(shopper, order_id, "confirmed")

    # The shopper looks at the order in a browser of their own and leaves it open.
    theirs = new_page()
    people.sign_in(theirs, shopper, f"/orders/{order_id}")
    theirs.wait_for_url(f"**/orders/{order_id}")
    assert theirs.locator("#order-status").inner_text() == "confirmed"
    theirs.evaluate("window.__sameDocument = true")

    # The admin finds it among the confirmed orders and ships it.
    page = admin_page
    page.goto("/admin/orders?status=confirmed")
    page.get_by_role("link", name=order_id[-12:]).click()
    page.wait_for_url(f"**/admin/orders/{order_id}")
    assert shopper.email in page.locator("main").inner_text()
    page.get_by_role("button", name="Ship this order").click()
    assert page.locator("#admin-order-status").inner_text() == "shipped"
    assert page.get_by_role("button", name="Ship this order").count() == 0

    expect(theirs.locator("#order-status")).to_have_text("shipped", timeout=LIVE)
    assert theirs.evaluate("window.__sameDocument === true"), "the page reloaded itself"


def test_an_admin_finds_a_customer_and_disables_them(admin_page: Any, someone: Any) -> None:
    shopper = someone("Mallory Browser")
    page = admin_page
    page.goto("/admin/customers")
    page.get_by_label("Find customers by email or name").fill(shopper.email)
    page.get_by_role("button", name="Search").last.click()
    page.get_by_role("link", name=shopper.email).click()
    assert page.locator("#customer-state").inner_text() == "active"
    page.get_by_role("button", name="Disable account").click()
    assert "cannot sign in" in page.locator(".flash").inner_text()
    assert page.locator("#customer-state").inner_text() == "disabled: cannot sign in"
    refused = shopper.http.post(
        "/auth/token", json={"email": shopper.email, "password": shopper.password}
    )
    assert refused.status_code == 401
    page.get_by_label("Their role").select_option("admin")
    page.get_by_role("button", name="Change role").click()
    assert page.locator("#customer-role").inner_text() == "admin"


def test_a_customer_cannot_open_the_admin(page: Any, someone: Any, boss: Any, people: Any) -> None:
    # Signed out: sent to sign in, and back to the admin after.
    page.goto("/admin/products")
    page.wait_for_url("**/signin?next=/admin/products")

    shopper = someone()
    people.sign_in(page, shopper)
    answer = page.goto("/admin/")
    assert answer is not None
    assert answer.status == 403
    assert page.locator("h1").inner_text() == "You cannot open this page"
    assert page.get_by_role("link", name="Admin").count() == 0  # not offered in the header
    for path in ("/admin/orders", "/admin/customers", f"/admin/customers/{shopper.id}"):
        assert page.request.get(path).status == 403

    # Nor can they act as one, even with their own session's valid CSRF token.
    product = people.make_product(boss, name="Guarded", image=False)
    token = page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    changed = page.request.post(
        f"/admin/products/{product['id']}/stock", form={"csrf_token": token, "on_hand": "0"}
    )
    assert changed.status == 403
    after = boss.http.get(f"/products/{product['id']}").json()
    assert after["availability"]["available"] == 20


def test_an_admin_form_without_its_csrf_token_is_refused(
    admin_page: Any, boss: Any, people: Any
) -> None:
    product = people.make_product(boss, name="Forged", image=False)
    page = admin_page
    page.goto(f"/admin/products/{product['id']}")
    answer = page.request.post(f"/admin/products/{product['id']}/stock", form={"on_hand": "0"})
    assert answer.status == 403
    assert boss.http.get(f"/products/{product['id']}").json()["availability"]["available"] == 20
