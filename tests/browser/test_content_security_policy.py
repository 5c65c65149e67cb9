"""The shop and the admin work under their Content-Security-Policy: the browser reports no
violation (a blocked script, style, image or form) on their pages."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e


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


def test_no_page_breaks_the_policy(page: Any, shop: Any) -> None:
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    boss = people.admin(shop)
    try:
        home = page.goto("/")
        assert home is not None
        policy = home.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        for path in ("/search?q=a", "/cart", "/signin", "/register"):
            assert page.goto(path).ok, path
        people.sign_in(page, boss, "/admin/")
        page.goto("/admin/products")
        page.wait_for_load_state("networkidle")
    finally:
        boss.http.close()
    violations = [m for m in messages if "Content Security Policy" in m]
    assert not violations, violations
    # And the check sees one: an inline style is refused, and reported.
    page.evaluate(
        "() => { const s = document.createElement('style');"
        " s.textContent = 'p { color: red }'; document.head.appendChild(s); }"
    )
    page.wait_for_timeout(200)
    assert any("Content Security Policy" in m for m in messages), messages
