"""A shopper in a real browser (Debian's chromium through Playwright), on the whole platform.

Against ``make dev`` (``EMPORIUM_E2E_BASE_URL=http://localhost:8000``) or the real stack
(the e2e platform, storefront included). Each test makes the products it needs through the
public admin API, with unique names, so it finds them whatever else the catalog holds.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.sync_api import expect

# Long: the first run of the suite's consumer groups on a machine reads the topics' history.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

LIVE = 120_000  # ms: an order's saga on two busy cores, events through Kafka


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    word: str
    price: int
    category_slug: str
    category_name: str


def _png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    picture = Image.new("RGB", (width, height), colour)
    for x in range(0, width, 40):  # stripes: not one flat colour a codec could shrink away
        for y in range(height):
            picture.putpixel((x, y), (255, 255, 255))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def admin_api(shop: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shop.base_url + "/api/v1", timeout=30) as http:
        token = http.post(
            "/auth/token", json={"email": shop.admin_email, "password": shop.admin_password}
        )
        assert token.status_code == 200, token.text
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield http


def _make_product(http: httpx.Client, *, price: int, on_hand: int, image: bool) -> Product:
    tag = uuid.uuid4().hex[:8]
    word = f"zq{tag}"  # one word no other product has: search finds this one only
    category = http.post(
        "/admin/categories", json={"slug": f"browser-{tag}", "name": f"Browser {tag}"}
    )
    assert category.status_code == 201, category.text
    created = http.post(
        "/admin/products",
        json={
            "sku": f"BR-{tag}",
            "name": f"Lamp {word}",
            "description": "A lamp of the browser suite.",
            "price": {"amount": price, "currency": "EUR"},
            "category_id": category.json()["id"],
            "attributes": {"colour": "teal"},
        },
    )
    assert created.status_code == 201, created.text
    product_id = created.json()["id"]
    stock = http.put(f"/admin/products/{product_id}/stock", json={"on_hand": on_hand})
    assert stock.status_code == 200, stock.text
    if image:
        upload = http.post(
            f"/admin/products/{product_id}/images",
            files={"file": ("lamp.png", _png(480, 360, (20, 110, 120)), "image/png")},
        )
        assert upload.status_code == 201, upload.text
    # The orders service learns of the product from the catalog's events: wait until it
    # has (a cart line for it answers 200, not 404), so the shopper's cart can take it. The
    # suite's consumer groups are its own: the first run on a machine reads the topics'
    # history first (minutes after other suites); later runs start where the last stopped.
    deadline = time.monotonic() + 300
    while True:
        put = http.put(f"/cart/items/{product_id}", json={"quantity": 1})
        if put.status_code != 404 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert put.status_code == 200, put.text
    http.delete(f"/cart/items/{product_id}")
    return Product(product_id, f"Lamp {word}", word, price, f"browser-{tag}", f"Browser {tag}")


@pytest.fixture(scope="module")
def lamp(admin_api: httpx.Client) -> Product:
    return _make_product(admin_api, price=2490, on_hand=40, image=True)


def _register(page: Any) -> str:
    """On the sign-in page: follow "Create an account" and register a new shopper."""
    email = f"shopper-{uuid.uuid4().hex[:10]}@browser.emporium.test"
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Name").fill("Brow Ser")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("a-long-enough-password")
    page.get_by_role("button", name="Create account").click()
    return email


def _checkout(page: Any, card: str) -> str:
    """On the checkout page: a new address (unless the cart has one), the shipping method
    if its country asks for one, the test card ``card``; the order's id."""
    if page.locator("#chosen-address").count() == 0:
        if page.locator("#addr-new").count():
            page.check("#addr-new")
        page.get_by_label("Street and number").fill("1 Test Street")
        page.get_by_label("Postal code").fill("10115")
        page.get_by_label("City").fill("Berlin")
        page.get_by_label("Country").select_option("DE")
        page.get_by_role("button", name="Use this address").click()
        expect(page.locator("#chosen-address")).to_contain_text("Berlin")
    if page.locator("input[name=shipping]").count():
        page.locator("input[name=shipping]").first.check()
        page.get_by_role("button", name="Use this shipping method").click()
        expect(page.locator("#checkout-shipping")).not_to_have_text("Not chosen yet")
    page.check(f"#card-{card}")
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url("**/orders/*")
    return str(page.url.rsplit("/", 1)[-1])


def _mark_no_reload(page: Any) -> None:
    page.evaluate("window.__sameDocument = true")


def _still_same_document(page: Any) -> bool:
    return bool(page.evaluate("window.__sameDocument === true"))


def test_a_shopper_browses_searches_buys_and_sees_the_order_confirmed_live(
    page: Any, lamp: Product
) -> None:
    # Home: categories and products.
    page.goto("/")
    assert page.locator("h1").inner_text() == "Welcome to Emporium"
    assert page.get_by_role("link", name=lamp.category_name).count() == 1

    # A category page lists its products.
    page.get_by_role("link", name=lamp.category_name).click()
    page.wait_for_url(f"**/categories/{lamp.category_slug}")
    assert page.locator("h1").inner_text() == lamp.category_name
    assert page.locator(".card", has_text=lamp.name).count() == 1

    # Search from the header finds it by a word of its name.
    page.get_by_label("Search products").fill(lamp.word)
    page.get_by_label("Search products").press("Enter")
    page.wait_for_url("**/search?q=*")
    assert page.locator("#results .card", has_text=lamp.name).count() == 1

    # Filters: a price range around it keeps it; a range below its price leaves it out.
    page.get_by_label("Lowest price (€)").fill("20")
    page.get_by_label("Highest price (€)").fill("30")
    page.get_by_label("In stock only").check()
    page.get_by_label("Sort by").select_option("-price")
    # The results are swapped in by htmx: the checks wait for the new ones (under load the
    # swap can land after the click returns).
    page.get_by_role("button", name="Show products").click()
    page.wait_for_url("**max_price=30**")
    expect(page.locator("#results .card", has_text=lamp.name)).to_have_count(1)
    page.get_by_label("Highest price (€)").fill("24")
    page.get_by_role("button", name="Show products").click()
    expect(page.locator("#results")).to_contain_text("No products match")
    assert page.locator("#results .card", has_text=lamp.name).count() == 0
    # A price that is not a number is named next to its field, not a broken page.
    page.get_by_label("Highest price (€)").fill("cheap")
    page.get_by_role("button", name="Show products").click()
    expect(page.locator("#filter-max_price-error")).to_contain_text("as a number")

    # The product page: images in their derived sizes, all loaded; price; availability.
    page.goto(f"/products/{lamp.id}")
    assert page.locator("h1").inner_text() == lamp.name
    gallery = page.locator(".gallery img")
    assert gallery.count() == 1
    assert "320w" in (gallery.first.get_attribute("srcset") or "")
    # Polled with evaluate, not wait_for_function: that one needs eval, which the shop's
    # Content-Security-Policy refuses.
    deadline = time.monotonic() + 30
    while not page.evaluate(
        "() => [...document.querySelectorAll('.gallery img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    ):
        assert time.monotonic() < deadline, "the gallery's image did not load"
        page.wait_for_timeout(100)
    assert page.locator("#price").inner_text() == "€24.90"
    assert page.locator("#availability").inner_text().startswith("In stock")

    # Into the cart (not signed in yet), change the quantity.
    page.get_by_label("Quantity").fill("3")
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_url("**/cart")
    assert page.locator(f"#line-{lamp.id}").count() == 1
    page.get_by_label(f"Quantity of {lamp.name}").fill("2")
    page.get_by_role("button", name=f"Update {lamp.name}").click()
    expect(page.locator("#cart-total")).to_have_text("€49.80")

    # Checkout asks to sign in; the shopper registers instead and lands back at checkout
    # with the cart they filled before.
    page.get_by_role("link", name="Sign in or register to check out").click()
    page.wait_for_url("**/signin?next=/checkout")
    _register(page)
    page.wait_for_url("**/checkout")
    assert page.locator("#checkout-total").inner_text() == "€49.80"

    # The approve card: the order page shows pending, then confirmed without a reload.
    order_id = _checkout(page, "tok_visa")
    _mark_no_reload(page)
    expect(page.locator("#order-status")).to_have_text("confirmed", timeout=LIVE)
    assert _still_same_document(page), "the page reloaded instead of updating itself"

    # Order history lists it.
    page.goto("/orders")
    assert page.locator(f"a[href='/orders/{order_id}']").count() == 1

    # Cancelling works.
    page.goto(f"/orders/{order_id}")
    page.get_by_role("button", name="Cancel this order").click()
    page.wait_for_url(f"**/orders/{order_id}")
    assert page.locator("#order-status").inner_text() == "cancelled"
    assert page.get_by_role("button", name="Cancel this order").count() == 0

    # A declined card: the order turns cancelled, with its reason, live.
    page.goto(f"/products/{lamp.id}")
    page.get_by_role("button", name="Add to cart").click()
    page.goto("/checkout")
    _checkout(page, "tok_decline")
    _mark_no_reload(page)
    expect(page.locator("#order-status")).to_have_text("cancelled", timeout=LIVE)
    assert _still_same_document(page)
    assert "declined" in page.locator("#order-reason").inner_text()

    # Signing out ends the session: the orders page asks to sign in again.
    page.get_by_role("button", name="Sign out").click()
    page.goto("/orders")
    page.wait_for_url("**/signin?next=/orders")


def test_a_form_posted_without_its_csrf_token_is_refused(page: Any, shop: Any) -> None:
    page.goto("/signin")
    # The form as a forged page would send it: everything but the token.
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    page.get_by_label("Email").fill(shop.admin_email)
    page.get_by_label("Password").fill(shop.admin_password)
    with page.expect_response(
        lambda r: r.url.endswith("/signin") and r.request.method == "POST"
    ) as sent:
        page.get_by_role("button", name="Sign in").click()
    assert sent.value.status == 403
    assert page.locator("h1").inner_text() == "This form could not be sent"
    # Not signed in by it.
    assert page.get_by_role("link", name="Sign in").count() == 1
    # A token of another session is refused the same way.
    answer = page.request.post(
        "/cart/items",
        form={"csrf_token": "not-this-sessions-token", "product_id": str(uuid.uuid4())},
    )
    assert answer.status == 403


def test_problems_are_shown_in_plain_words_next_to_their_field(page: Any) -> None:
    page.goto("/signin")
    page.get_by_label("Email").fill("nobody-" + uuid.uuid4().hex[:8] + "@browser.emporium.test")
    page.get_by_label("Password").fill("wrong-password-1")
    page.get_by_role("button", name="Sign in").click()
    assert page.locator("#form-error").inner_text() == "The email or password is not right."
    page.goto("/register")
    page.get_by_label("Name").fill("Short")
    page.get_by_label("Email").fill("short-" + uuid.uuid4().hex[:8] + "@browser.emporium.test")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    assert page.locator("#f-password-error").inner_text() == "Use at least 8 characters."
    assert page.get_by_label("Password").get_attribute("aria-invalid") == "true"


def test_the_shop_fits_a_360_px_screen_and_works_from_the_keyboard(
    new_page: Any, lamp: Product
) -> None:
    page = new_page(viewport={"width": 360, "height": 740})
    for url in ("/", f"/search?q={lamp.word}", f"/products/{lamp.id}", "/cart", "/signin"):
        page.goto(url)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{url} is {width} px wide: it scrolls sideways on a phone"
    # The keyboard alone: the first Tab reaches "Skip to content", Enter moves to the page;
    # a product is added to the cart with Tab and Enter only.
    page.goto(f"/products/{lamp.id}")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Add to cart":
            break
    else:
        pytest.fail("Add to cart cannot be reached with the Tab key")
    page.keyboard.press("Enter")
    page.wait_for_url("**/cart")
    expect(page.locator(f"#line-{lamp.id}")).to_have_count(1)
    # Every control of the pages has a label (its accessible name is not empty).
    for url in ("/", f"/search?q={lamp.word}", "/cart", "/signin", "/register"):
        page.goto(url)
        unnamed = page.evaluate(
            """[...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
               .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                            && !(e.textContent || '').trim())
               .map(e => e.outerHTML)"""
        )
        assert unnamed == [], f"{url}: controls without a label: {unnamed}"
