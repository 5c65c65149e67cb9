"""The shop's currency: the visitor's pick read from its cookie against the configured list
(anything else is the base currency, never an error), the cart's currency winning while it
has lines, amounts in each currency's own minor units, and the pages that show them: the
header's picker, "Not sold in USD" instead of a price, a refused line in plain words.

The page tests run the storefront in-process against a fake API (``httpx.MockTransport``)
that prices a T-shirt the way the catalog does: a variant has a price per currency, and
none in a currency it is not sold in."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from markupsafe import Markup

from emporium.kit.app import Resources
from emporium.storefront.api import Api
from emporium.storefront.app import create_storefront_app
from emporium.storefront.currency import COOKIE, parse_choice, shown
from emporium.storefront.problems import Feedback
from emporium.storefront.settings import Settings
from emporium.storefront.shop.cart import currency_refusal
from emporium.storefront.shop.listing import parse_listing, parse_price
from emporium.storefront.web import _ENV, money

KEY = "a-test-secret-key-that-is-long-enough-0123"
OFFERED = ["EUR", "USD", "GBP"]
PRODUCT = "0190d0c4-0000-7000-8000-000000000001"
BLUE = "0190d0c4-0000-7000-8000-000000000002"


# -- the pick and what is shown ------------------------------------------------------------


def test_a_pick_is_one_of_the_offered_currencies_and_anything_else_is_the_base() -> None:
    assert parse_choice("USD", OFFERED) == "USD"
    assert parse_choice(" gbp ", OFFERED) == "GBP"
    for junk in (None, "", "JPY", "US", "USDX", "<b>", "eur;USD", "\x00"):
        assert parse_choice(junk, OFFERED) == "EUR", junk


def test_a_cart_with_lines_shows_its_own_currency_whatever_was_picked() -> None:
    free = shown("USD", OFFERED, None, 0)
    assert (free.code, free.fixed_by_cart, free.base) == ("USD", False, "EUR")
    held = shown("USD", OFFERED, "EUR", 2)
    assert (held.code, held.chosen, held.fixed_by_cart) == ("EUR", "USD", True)
    # An emptied cart fixes nothing any more: the pick is back.
    assert shown("USD", OFFERED, "EUR", 0).code == "USD"


def test_amounts_are_shown_in_each_currencys_minor_units() -> None:
    assert money({"amount": 1999, "currency": "USD"}) == "$19.99"
    assert money({"amount": 123456, "currency": "EUR"}) == "€1,234.56"
    assert money({"amount": 1200, "currency": "JPY"}) == "¥1,200"
    assert money({"amount": 1234, "currency": "KWD"}) == "1.234 KWD"
    assert money({"amount": 1250, "currency": "CHF"}) == "12.50 CHF"
    assert money(None) == ""


def test_price_filters_are_typed_and_sent_in_the_shown_currency() -> None:
    assert parse_price("12.50", "USD") == 1250
    assert parse_price("1200", "JPY") == 1200
    listing = parse_listing({"min_price": "10", "max_price": "1500"}, currency="JPY")
    params = dict(listing.api_params(12))
    assert (params["currency"], params["min_price"], params["max_price"]) == ("JPY", "10", "1500")
    with pytest.raises(ValueError, match="for example 1200"):
        parse_price("cheap", "JPY")


def test_a_refused_line_names_both_currencies() -> None:
    words = currency_refusal("EUR", "USD")
    assert "Your cart is in EUR" in words
    assert "priced in USD" in words


# -- templates, rendered as the pages render them -------------------------------------------


def _page(template: str, **context: Any) -> str:
    common: dict[str, Any] = {
        "viewer": None,
        "csrf_token": "t",
        "csrf_field": lambda: Markup('<input type="hidden" name="csrf_token" value="t">'),
        "feedback": Feedback(),
        "cart_count": 0,
        "path": "/search",
        "here": "/search?q=tee",
        "flashes": [],
        "shop_currency": shown("USD", OFFERED, None, 0),
    }
    return _ENV.get_template(template).render({**common, **context})


def test_the_header_picker_is_a_labelled_form_with_the_offered_currencies() -> None:
    html = _page("shop/home.html", categories=[], products=[])
    assert '<form class="currency-picker" action="/currency" method="post">' in html
    assert '<label for="site-currency">Currency</label>' in html
    assert '<option value="USD" selected>USD</option>' in html
    assert '<option value="GBP">GBP</option>' in html
    assert 'name="csrf_token"' in html
    assert '<input type="hidden" name="next" value="/search?q=tee">' in html


def test_the_header_says_the_cart_fixes_the_currency_instead_of_offering_others() -> None:
    html = _page("shop/home.html", categories=[], products=[],
                 shop_currency=shown("USD", OFFERED, "EUR", 1))  # fmt: skip
    assert "currency-picker" not in html
    assert "Prices in <strong>EUR</strong>" in html
    assert "your cart's currency" in html


def test_a_card_without_a_price_in_the_currency_says_it_is_not_sold_in_it() -> None:
    product = {"id": "p", "name": "Tee", "images": [], "price": None,
               "availability": {"in_stock": True, "available": 3}}  # fmt: skip
    listing = parse_listing({}, currency="USD")
    html = _page("shop/search.html", listing=listing, q="", category=None, categories=[],
                 products=[product], next_cursor=None, facets={}, sorts={}, errors={})  # fmt: skip
    assert "Not sold in USD" in html
    assert "Lowest price ($)" in html


# -- the shop in-process, against a fake API ------------------------------------------------


def _variant(variant_id: str, colour: str, prices: dict[str, int], currency: str) -> Any:
    amount = prices.get(currency)
    return {
        "id": variant_id,
        "sku": f"TEE-{colour.upper()}",
        "options": {"Colour": colour},
        "price": None if amount is None else {"amount": amount, "currency": currency},
        "availability": {"in_stock": True, "available": 5},
    }


def _tee(currency: str) -> dict[str, Any]:
    red = _variant(PRODUCT, "red", {"EUR": 1900, "USD": 2100}, currency)
    blue = _variant(BLUE, "blue", {"EUR": 2000}, currency)  # not sold in USD
    return {
        "id": PRODUCT, "sku": "TEE-RED", "name": "Tee", "description": "", "images": [],
        "attributes": {}, "category_id": None, "price": red["price"],
        "availability": {"in_stock": True, "available": 10},
        "options": [{"name": "Colour", "values": ["red", "blue"]}], "variants": [red, blue],
    }  # fmt: skip


class FakeApi:
    """The public API's catalog reads; every ``currency`` asked is recorded."""

    def __init__(self) -> None:
        self.asked: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        currency = request.url.params.get("currency")
        if request.url.path.endswith("/categories"):
            return httpx.Response(200, json=[])
        self.asked.append(currency)
        if request.url.path.endswith(f"/products/{PRODUCT}"):
            return httpx.Response(200, json=_tee(currency or "EUR"))
        if request.url.path.endswith("/products"):
            return httpx.Response(200, json={"items": [_tee(currency or "EUR")]})
        return httpx.Response(404, json={"status": 404, "type": "not-found"})


@pytest.fixture
def fake() -> FakeApi:
    return FakeApi()


@pytest.fixture
async def client(fake: FakeApi) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(secret_key=KEY, environment="dev", currencies="EUR,USD,GBP")
    app = create_storefront_app(settings)
    async with LifespanManager(app):
        resources = app.state.resources
        assert isinstance(resources, Resources)
        api = httpx.AsyncClient(transport=httpx.MockTransport(fake), base_url="http://api/v1/")
        resources.put(Api(api))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://shop", follow_redirects=True
        ) as shop:
            yield shop
        await api.aclose()


async def _pick(client: httpx.AsyncClient, code: str, back: str = "/") -> httpx.Response:
    home = await client.get("/")
    data = {"currency": code, "next": back, "csrf_token": _csrf(home.text)}
    return await client.post("/currency", data=data, follow_redirects=False)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def test_picking_a_currency_remembers_it_and_the_pages_ask_the_api_in_it(
    client: httpx.AsyncClient, fake: FakeApi
) -> None:
    assert "€19.00" in (await client.get("/")).text
    answer = await _pick(client, "usd", "/search")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/search"
    assert f"{COOKIE}=USD" in answer.headers["set-cookie"]
    assert "HttpOnly" in answer.headers["set-cookie"]

    listing = await client.get("/search")
    assert "$21.00" in listing.text
    assert '<option value="USD" selected>USD</option>' in listing.text
    page = await client.get(f"/products/{PRODUCT}")
    assert "$21.00" in page.text
    assert 'name="currency" value="USD"' in page.text
    assert fake.asked[-1] == "USD"


async def test_a_variant_not_sold_in_the_currency_says_so_and_cannot_be_added(
    client: httpx.AsyncClient,
) -> None:
    client.cookies.set(COOKIE, "USD")
    page = await client.get(f"/products/{PRODUCT}?option.Colour=blue")
    assert "Not sold in USD" in page.text
    assert "Add to cart" not in page.text
    client.cookies.set(COOKIE, "EUR")
    assert "Add to cart" in (await client.get(f"/products/{PRODUCT}?option.Colour=blue")).text


async def test_a_pick_outside_the_list_is_the_base_currency_not_an_error(
    client: httpx.AsyncClient, fake: FakeApi
) -> None:
    for junk in ("JPY", "'; DROP", "x" * 300):
        client.cookies.set(COOKIE, junk)
        page = await client.get(f"/products/{PRODUCT}")
        assert page.status_code == 200
        assert "€19.00" in page.text
        assert fake.asked[-1] == "EUR"
    posted = await _pick(client, "XXX", "https://evil.example/")
    assert posted.headers["location"] == "/"
    assert f"{COOKIE}=EUR" in posted.headers["set-cookie"]


async def test_the_cart_fixes_the_currency_and_a_line_in_another_is_refused_in_words(
    client: httpx.AsyncClient,
) -> None:
    await _pick(client, "USD")
    page = await client.get(f"/products/{PRODUCT}")
    form = {"product_id": PRODUCT, "variant_id": PRODUCT, "quantity": "1", "currency": "USD"}
    await client.post("/cart/items", data={**form, "csrf_token": _csrf(page.text)})
    cart = await client.get("/cart")
    assert "$21.00" in cart.text
    assert "Prices in <strong>USD</strong>" in cart.text
    assert "currency-picker" not in cart.text  # the header says the cart's instead

    # The pick changes, but the pages keep showing the cart's currency, and say why.
    moved = await client.post(
        "/currency", data={"currency": "EUR", "next": "/cart", "csrf_token": _csrf(cart.text)}
    )
    assert "Your cart is in USD" in moved.text
    assert "$21.00" in (await client.get(f"/products/{PRODUCT}")).text

    # A form still showing EUR (another tab): refused, both currencies named.
    refused = await client.post(
        "/cart/items", data={**form, "currency": "EUR", "csrf_token": _csrf(cart.text)}
    )
    assert "Your cart is in USD" in refused.text
    assert "priced in EUR" in refused.text

    # Emptied, the cart fixes nothing: the pick (EUR now) is back.
    await client.post(f"/cart/items/{PRODUCT}/remove", data={"csrf_token": _csrf(cart.text)})
    assert "€19.00" in (await client.get(f"/products/{PRODUCT}")).text
