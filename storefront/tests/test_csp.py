"""Every storefront answer carries its Content-Security-Policy, and the templates need no
more than it allows (no inline script, style or event handler)."""

from __future__ import annotations

import re

import httpx

from emporium.storefront.app import create_storefront_app
from emporium.storefront.csp import POLICY
from emporium.storefront.settings import Settings
from emporium.storefront.web import STATIC_DIR

KEY = "a-test-secret-key-that-is-long-enough-0123"
TEMPLATES = STATIC_DIR.parent


def test_the_policy_allows_only_the_storefronts_own_resources() -> None:
    directives = dict(d.split(" ", 1) for d in POLICY.split("; "))
    assert directives["default-src"] == "'self'"
    assert "unsafe-inline" not in POLICY
    assert "unsafe-eval" not in POLICY
    assert directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert directives["base-uri"] == "'none'"


async def test_every_answer_carries_the_policy() -> None:
    app = create_storefront_app(Settings(secret_key=KEY, environment="dev"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        for path in ("/static/shop.css", "/static/shop.js"):
            answer = await client.get(path)
            assert answer.status_code == 200, path
            assert answer.headers.get_list("content-security-policy") == [POLICY], path


def test_the_templates_have_no_inline_script_style_or_handler() -> None:
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
    inline_style = re.compile(r"<style\b|\sstyle=", re.IGNORECASE)
    handler = re.compile(r"\son[a-z]+\s*=|javascript:|hx-on", re.IGNORECASE)
    templates = sorted(TEMPLATES.rglob("*.html"))
    assert templates
    for template in templates:
        text = template.read_text()
        for pattern in (inline_script, inline_style, handler):
            found = pattern.search(text)
            assert found is None, f"{template.name}: {found.group(0) if found else ''}"
