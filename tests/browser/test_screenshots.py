"""The main pages at 1280 and 390 px wide: none scrolls sideways (360 px either), and each
is photographed. ``docs/screenshots/`` holds a set (shown in the README), regenerated with

    EMPORIUM_E2E_BASE_URL=http://localhost:8000 EMPORIUM_SCREENSHOTS_DIR=docs/screenshots \\
        uv run --frozen pytest -q tests/browser/test_screenshots.py

against ``make dev`` (its demo data makes the pictures); otherwise they go to a temporary
folder and only the widths are checked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from emporium.storefront.seed.data import DEMO_ADDRESS

pytestmark = pytest.mark.e2e

WIDTHS = {1280: 800, 390: 844}  # width -> height of the viewport photographed
NARROWEST = 360


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    chosen = os.environ.get("EMPORIUM_SCREENSHOTS_DIR")
    target = Path(chosen) if chosen else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    return target


def _demo_product(boss: Any) -> dict[str, Any] | None:
    """The seed's copper kettle (``make dev``'s demo data), if the shop has it and it sells."""
    found = boss.http.get("/products", params={"q": "copper kettle", "limit": 20}).json()
    for product in found.get("items", []):
        if product["sku"] == "DEMO-004" and product["availability"]["available"] > 2:
            return dict(product)
    return None


# Every image in view has its pixels (lazy ones load once scrolled into view).
_SHOWN_IMAGES_LOADED = """() => [...document.images].filter(i => {
    const r = i.getBoundingClientRect();
    return r.width > 0 && r.bottom > 0 && r.top < window.innerHeight;
}).every(i => i.complete && i.naturalWidth > 0)"""


def _overflow(page: Any) -> int:
    """How many pixels the page is wider than the viewport (0: no sideways scrolling)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def _photograph(page: Any, folder: Path, name: str, problems: list[str], people: Any) -> None:
    for width, height in (*WIDTHS.items(), (NARROWEST, 780)):
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate("window.scrollTo(0, 0)")
        people.wait_until(page, _SHOWN_IMAGES_LOADED)
        extra = _overflow(page)
        if extra > 0:
            problems.append(f"{name} at {width} px scrolls sideways by {extra} px")
        if width in WIDTHS:
            page.screenshot(path=str(folder / f"{name}-{width}.png"))
    page.set_viewport_size({"width": 1280, "height": 800})


def test_the_main_pages_fit_every_width_and_are_photographed(
    new_page: Any, boss: Any, shop: Any, folder: Path, people: Any
) -> None:
    problems: list[str] = []
    product = _demo_product(boss) or people.make_product(boss, name="Copper kettle")
    shopper = people.customer(shop, name="Dana Shopper")
    try:
        order_id = people.place_order(shopper, str(product["id"]))
        people.until_status(shopper, order_id, "confirmed")

        page = new_page()
        people.as_address(page, shopper)
        page.goto("/")
        _photograph(page, folder, "home", problems, people)
        categories = page.locator("a[href^='/categories/']")
        if categories.count():
            categories.first.click()
            page.wait_for_url("**/categories/*")
            _photograph(page, folder, "category", problems, people)
        people.sign_in(page, shopper)
        page.goto(f"/products/{product['id']}")
        _photograph(page, folder, "product", problems, people)
        page.get_by_role("button", name="Add to cart").click()
        page.wait_for_url("**/cart")
        _photograph(page, folder, "cart", problems, people)
        # The checkout at its shipping step: to the demo customer's address, which
        # `make dev`'s seed prices (shipping methods, tax); elsewhere it has no charge.
        shipped = shopper.http.put("/cart/shipping-address", json=DEMO_ADDRESS)
        assert shipped.status_code == 200, shipped.text
        page.goto("/checkout")
        _photograph(page, folder, "checkout", problems, people)
        page.goto(f"/orders/{order_id}")
        _photograph(page, folder, "order", problems, people)

        staff = new_page()
        people.sign_in(staff, boss, "/admin/")
        _photograph(staff, folder, "admin", problems, people)
        for path, name in [
            ("/admin/products", "admin-products"),
            (f"/admin/products/{product['id']}", "admin-product"),
            ("/admin/orders?status=confirmed", "admin-orders"),
            (f"/admin/orders/{order_id}", "admin-order"),
            ("/admin/customers", "admin-customers"),
            ("/admin/shipping-zones", "admin-shipping"),
            ("/admin/promotions", "admin-promotions"),
        ]:
            staff.goto(path)
            _photograph(staff, folder, name, problems, people)
    finally:
        shopper.http.close()
    assert not problems, "\n".join(problems)
    assert len(list(folder.glob("*-390.png"))) >= 10
