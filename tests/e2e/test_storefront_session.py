"""The web shop's session against the real API: the access token is refreshed server-side
before it expires, a refresh picks up what an admin changed, and signing out revokes.

The storefront runs in this process (its ASGI app, as a browser's requests reach it) and is
a client of the platform's gateway like the real one. Its refresh margin is set above the
tokens' lifetime, so every signed-in page refreshes: what would happen once a quarter of an
hour happens on every click, without waiting for a token to expire.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from emporium.storefront.app import create_storefront_app
from emporium.storefront.session import Sealer
from emporium.storefront.settings import Settings

pytestmark = pytest.mark.e2e

KEY = "a-storefront-session-test-key-long-enough-0123"
#: Above any access token's lifetime (at most an hour): every signed-in page refreshes.
ALWAYS = 7200
PASSWORD = "a long passphrase 1"


@dataclass
class Browser:
    """One shopper's browser on the in-process storefront."""

    shop: httpx.AsyncClient
    settings: Settings

    def tokens(self) -> dict[str, Any]:
        """What the sealed session cookie holds now (the browser itself cannot read it)."""
        sealed = self.shop.cookies.get(self.settings.session_cookie)
        assert sealed, "no session cookie"
        opened = Sealer(KEY, max_age_seconds=3600).open(sealed)
        assert opened is not None
        tokens: dict[str, Any] = opened["tokens"]
        return tokens

    async def post_form(self, path: str, data: dict[str, str]) -> httpx.Response:
        page = await self.shop.get(path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found is not None, page.text[:500]
        return await self.shop.post(path, data={**data, "csrf_token": found.group(1)})


def _ip() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


async def _browser(live: Any, refresh_margin_seconds: int) -> AsyncIterator[Browser]:
    settings = Settings(
        secret_key=KEY,
        environment="dev",
        api_url=live.api,
        refresh_margin_seconds=refresh_margin_seconds,
    )
    app = create_storefront_app(settings)
    async with LifespanManager(app):
        # The shopper's own address: the storefront passes it on as X-Forwarded-For.
        transport = httpx.ASGITransport(app=app, client=(_ip(), 50000))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://shop", follow_redirects=True, timeout=30
        ) as shop:
            yield Browser(shop, settings)


@pytest.fixture
async def browser(live: Any) -> AsyncIterator[Browser]:
    """A storefront that refreshes the token on every signed-in page."""
    async for one in _browser(live, ALWAYS):
        yield one


@pytest.fixture
async def plain_browser(live: Any) -> AsyncIterator[Browser]:
    """A storefront with the default refresh margin (a fresh token is kept as it is)."""
    async for one in _browser(live, Settings.model_fields["refresh_margin_seconds"].default):
        yield one


async def _register(browser: Browser) -> tuple[str, str]:
    email = f"session-{uuid.uuid4().hex[:12]}@example.com"
    answer = await browser.post_form(
        "/register", {"name": "Sam Session", "email": email, "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text[:500]
    assert "you are signed in" in answer.text
    return email, browser.tokens()["access"]


def _api(live: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=live.api, timeout=30, headers={"X-Forwarded-For": "10.250.0.2"}
    )


async def _customer_id(live: Any, access: str) -> str:
    async with _api(live) as api:
        me = await api.get("/me", headers={"Authorization": f"Bearer {access}"})
    assert me.status_code == 200, me.text
    return str(me.json()["id"])


async def _patch_customer(live: Any, admin_token: str, customer_id: str, **fields: Any) -> None:
    async with _api(live) as api:
        answer = await api.patch(
            f"/admin/customers/{customer_id}",
            json=fields,
            headers={"Authorization": f"Bearer {admin_token}"},
        )
    assert answer.status_code == 200, answer.text


async def test_a_shopper_stays_signed_in_while_each_page_refreshes_the_token(
    live: Any, browser: Browser
) -> None:
    email, _ = await _register(browser)
    seen = []
    for _ in range(3):
        account = await browser.shop.get("/account")
        assert account.status_code == 200
        assert email in account.text
        seen.append(browser.tokens())
    assert len({tokens["access"] for tokens in seen}) == 3
    assert len({tokens["refresh"] for tokens in seen}) == 3

    # The refresh tokens rotate: one used already, presented again (stolen from a backup,
    # say), is refused and ends the whole session, so the shop signs the shopper out.
    async with _api(live) as api:
        reused = await api.post("/auth/refresh", json={"refresh_token": seen[0]["refresh"]})
    assert reused.status_code == 401
    assert reused.json()["type"].endswith("/refresh-token-reused")
    after = await browser.shop.get("/account")
    assert after.url.path == "/signin"
    assert "Your session has ended. Please sign in again." in after.text


async def test_a_new_role_ends_the_session_and_the_next_sign_in_carries_it(
    live: Any, browser: Browser, admin_token: str
) -> None:
    email, access = await _register(browser)
    refused = await browser.shop.get("/admin/")
    assert refused.status_code == 403
    # The API revokes every token carrying the old role; the shop notices at its next
    # refresh and asks the shopper to sign in again, which gives them the new one.
    await _patch_customer(live, admin_token, await _customer_id(live, access), role="admin")
    after = await browser.shop.get("/admin/")
    assert after.url.path == "/signin"
    assert "Your session has ended. Please sign in again." in after.text
    again = await browser.post_form(
        "/signin?next=/admin/", {"email": email, "password": PASSWORD, "next": "/admin/"}
    )
    assert again.status_code == 200
    assert again.url.path.startswith("/admin")


async def test_a_disabled_customer_is_signed_out_at_the_next_page(
    live: Any, browser: Browser, admin_token: str
) -> None:
    _, access = await _register(browser)
    await _patch_customer(live, admin_token, await _customer_id(live, access), disabled=True)
    after = await browser.shop.get("/account")
    assert after.url.path == "/signin"
    assert "Your session has ended. Please sign in again." in after.text


async def test_signing_out_revokes_the_tokens_at_the_api(live: Any, plain_browser: Browser) -> None:
    await _register(plain_browser)
    page = await plain_browser.shop.get("/account")
    tokens = plain_browser.tokens()
    form = re.search(r'<form action="/signout".*?</form>', page.text, re.S)
    assert form is not None, "no sign-out form on the account page"
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.group(0))
    assert csrf is not None
    out = await plain_browser.shop.post("/signout", data={"csrf_token": csrf.group(1)})
    assert out.status_code == 200
    assert "You are signed out." in out.text
    async with _api(live) as api:
        me = await api.get("/me", headers={"Authorization": f"Bearer {tokens['access']}"})
        refresh = await api.post("/auth/refresh", json={"refresh_token": tokens["refresh"]})
    assert me.status_code == 401
    assert refresh.status_code == 401
