"""axe-core finds no serious or critical violation on the shop's and the admin's pages.

axe-core comes from npm at the version pinned in ``tests/browser/axe/package.json``
(``scripts/test-axe-tools.sh`` installs it into ``var/cache/npm/``) and is injected into
each page after it loaded; nothing of it is served by the shop. The pages are the ones a
shopper and an admin go through, with real content (a product with an image, a cart, an
order) and with a form showing its problems.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BLOCKING = ("serious", "critical")


def _people() -> Any:
    name = "emporium_browser_people"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("people.py"))
        assert spec is not None
        assert spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


people = _people()


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """axe.min.js, installed (once) by scripts/test-axe-tools.sh."""
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "test-axe-tools.sh")],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        message = f"axe-core could not be installed: {done.stderr.strip()[-500:]}"
        if os.environ.get("EMPORIUM_REQUIRE_INFRA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def boss(shop: Any) -> Iterator[Any]:
    person = people.admin(shop)
    yield person
    person.http.close()


def _blocking(page: Any, script: Path) -> list[str]:
    """axe-core's serious and critical violations on ``page`` as it is now."""
    page.wait_for_load_state()
    # Through the DevTools protocol, not add_script_tag: an inline <script> is refused by
    # the storefront's Content-Security-Policy (and should be).
    session = page.context.new_cdp_session(page)
    try:
        session.send("Runtime.evaluate", {"expression": script.read_text()})
    finally:
        session.detach()
    violations = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]}))
            .violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                   nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}))"""
    )
    return [
        f"{v['impact']} {v['id']} ({v['help']}) at {v['nodes']}"
        for v in violations
        if v["impact"] in BLOCKING
    ]


@pytest.fixture
def audit(axe_script: Path) -> Iterator[Callable[[Any, str], None]]:
    """``audit(page, name)`` runs axe on the page as it is; the test fails at its end with
    every blocking violation of every page it audited."""
    found: list[str] = []

    def run(page: Any, name: str) -> None:
        found.extend(f"{name}: {problem}" for problem in _blocking(page, axe_script))

    yield run
    assert not found, "axe-core violations:\n" + "\n".join(found)


def test_the_audit_catches_what_it_should(browser: Any, axe_script: Path) -> None:
    # A page with an unlabelled input and an image without alt text: both are reported.
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content(
            '<html lang="en"><head><title>t</title></head><body><main>'
            '<input type="text"><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
            "</main></body></html>"
        )
        found = " ".join(_blocking(page, axe_script))
        assert "label" in found
        assert "image-alt" in found
    finally:
        context.close()


def test_the_shoppers_pages_have_no_serious_violation(
    page: Any, shop: Any, boss: Any, audit: Callable[[Any, str], None]
) -> None:
    product = people.make_product(boss, name="Accessible lamp")
    shopper = people.customer(shop)
    try:
        order_id = people.place_order(shopper, str(product["id"]))
        page.goto("/")
        audit(page, "home (signed out)")
        page.goto("/signin")
        audit(page, "sign-in")
        people.sign_in(page, shopper)
        page.goto(f"/search?q={product['name'].split()[-1]}")
        audit(page, "search")
        page.goto(f"/products/{product['id']}")
        audit(page, "product")
        page.get_by_role("button", name="Add to cart").click()
        page.wait_for_url("**/cart")
        audit(page, "cart")
        page.goto("/checkout")
        audit(page, "checkout")
        page.goto(f"/orders/{order_id}")
        audit(page, "order")
        page.goto("/orders")
        audit(page, "order history")
    finally:
        shopper.http.close()


def test_the_admins_pages_have_no_serious_violation(
    page: Any, boss: Any, shop: Any, audit: Callable[[Any, str], None]
) -> None:
    product = people.make_product(boss, name="Accessible kettle")
    shopper = people.customer(shop)
    try:
        order_id = people.place_order(shopper, str(product["id"]))
        people.sign_in(page, boss, "/admin/")
        audit(page, "admin overview")
        for path, name in [
            ("/admin/products", "admin products"),
            ("/admin/products/new", "admin new product"),
            (f"/admin/products/{product['id']}", "admin product"),
            ("/admin/orders", "admin orders"),
            (f"/admin/orders/{order_id}", "admin order"),
            (f"/admin/customers?q={shopper.email}", "admin customers"),
            (f"/admin/customers/{shopper.id}", "admin customer"),
        ]:
            page.goto(path)
            audit(page, name)
        # A form showing its problems: messages tied to their fields.
        page.goto("/admin/products/new")
        page.get_by_label("Price (EUR)").fill("twelve")
        page.get_by_role("button", name="Create product").click()
        audit(page, "admin new product with problems")
    finally:
        shopper.http.close()
