"""The shop and the admin work under their Content-Security-Policy: the browser reports no
violation (a blocked script, style, image or form) on their pages."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def test_no_page_breaks_the_policy(page: Any, boss: Any, people: Any) -> None:
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    home = page.goto("/")
    assert home is not None
    policy = home.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    for path in ("/search?q=a", "/cart", "/signin", "/register"):
        assert page.goto(path).ok, path
    # A product with options: the pickers' htmx swap, facets in the listing, its cart line.
    tee = people.make_tee(boss, name="Policy tee")
    assert page.goto(f"/products/{tee['id']}").ok
    page.get_by_label("Size").select_option("M")
    page.wait_for_load_state("networkidle")
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_url("**/cart")
    assert page.goto(f"/search?q={tee['name'].split()[-1]}").ok
    people.sign_in(page, boss, "/admin/")
    for path in (
        f"/admin/products/{tee['id']}",
        f"/admin/products/{tee['id']}/variants/{tee['id']}",
        "/admin/locations",
        "/admin/products",
        "/admin/shipping-zones",
        "/admin/tax-rates",
        "/admin/promotions",
        "/admin/promotions/new",
    ):
        assert page.goto(path).ok, path
        page.wait_for_load_state("networkidle")
    violations = [m for m in messages if "Content Security Policy" in m]
    assert not violations, violations
    # And the check sees one: an inline style is refused, and reported.
    page.evaluate(
        "() => { const s = document.createElement('style');"
        " s.textContent = 'p { color: red }'; document.head.appendChild(s); }"
    )
    page.wait_for_timeout(200)
    assert any("Content Security Policy" in m for m in messages), messages
