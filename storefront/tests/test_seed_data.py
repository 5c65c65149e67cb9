"""The demo data's plan, its pictures and whose accounts the seed may use (no server)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import httpx
import pytest
from PIL import Image

from emporium.storefront.seed.api import retry_delay
from emporium.storefront.seed.credentials import (
    DEV_ADMIN,
    DEV_DEMO,
    MissingCredentials,
    credentials_from_env,
)
from emporium.storefront.seed.data import (
    CATEGORIES,
    DEMO_ADDRESS,
    ORDERS,
    PRODUCTS,
    PROMOTIONS,
    TAX_RATES,
    ZONES,
)
from emporium.storefront.seed.images import SIZE, product_picture
from emporium.storefront.seed.pricing import cheapest_option
from emporium.storefront.seed.variants import LOCATION, VARIANT_PRODUCTS


def test_about_fifty_products_in_eight_categories_each_with_some() -> None:
    slugs = [c.slug for c in CATEGORIES]
    assert len(slugs) == len(set(slugs)) == 8
    assert 45 <= len(PRODUCTS) <= 60
    assert len({p.sku for p in PRODUCTS}) == len(PRODUCTS)
    assert {p.category for p in PRODUCTS} == set(slugs)
    seen: set[str] = set()
    for category in CATEGORIES:  # a parent is created before its children
        assert category.parent is None or category.parent in seen
        seen.add(category.slug)


def test_some_products_are_sold_out_and_prices_spread() -> None:
    sold_out = [p for p in PRODUCTS if p.on_hand == 0]
    assert 1 <= len(sold_out) <= 5
    prices = sorted(p.price for p in PRODUCTS)
    assert prices[0] < 1000 < 10_000 < prices[-1]


def test_the_order_history_covers_every_final_status_it_can() -> None:
    by_sku = {p.sku: p for p in PRODUCTS}
    assert {o.final for o in ORDERS} == {"confirmed", "shipped", "cancelled", "rejected"}
    assert len({o.key for o in ORDERS}) == len(ORDERS)
    for order in ORDERS:
        stocks = [by_sku[sku].on_hand for sku, _ in order.lines]
        # Only the order meant to be rejected asks for more than the shelf has.
        assert (order.final == "rejected") == any(
            quantity > stock for (_, quantity), stock in zip(order.lines, stocks, strict=True)
        )
        assert (order.card_token == "tok_decline") == (
            order.final == "cancelled" and not order.cancel
        )


def test_a_picture_is_a_square_jpeg_the_same_every_run_and_differs_by_product() -> None:
    first = product_picture("Copper kettle", "kitchen", 0.1)
    image = Image.open(io.BytesIO(first))
    assert (image.format, image.size) == ("JPEG", (SIZE, SIZE))
    assert product_picture("Copper kettle", "kitchen", 0.1) == first
    assert product_picture("Linen shirt", "shirts", 0.6) != first
    assert len(first) < 200_000  # far below the catalog's upload limit


def test_on_loopback_in_dev_the_documented_accounts_are_used() -> None:
    found = credentials_from_env("http://127.0.0.1:8000", {})
    assert (found.admin, found.demo) == (DEV_ADMIN, DEV_DEMO)
    chosen = credentials_from_env(
        "http://localhost:8000",
        {"EMPORIUM_ADMIN_EMAIL": "boss@shop.test", "EMPORIUM_ADMIN_PASSWORD": "pw-of-mine-123"},
    )
    assert (chosen.admin.email, chosen.admin.password) == ("boss@shop.test", "pw-of-mine-123")


@pytest.mark.parametrize(
    ("url", "env"),
    [
        ("https://shop.example.com", {}),
        ("http://127.0.0.1:8000", {"EMPORIUM_ENVIRONMENT": "production"}),
    ],
)
def test_outside_dev_passwords_must_come_from_the_environment(
    url: str, env: dict[str, str]
) -> None:
    with pytest.raises(MissingCredentials, match="EMPORIUM_ADMIN_PASSWORD"):
        credentials_from_env(url, env)
    published = {
        **env,
        "EMPORIUM_ADMIN_PASSWORD": "a-long-secret-1",
        "EMPORIUM_DEMO_PASSWORD": DEV_DEMO.password,
    }
    with pytest.raises(MissingCredentials, match="published default"):
        credentials_from_env(url, published)
    own = {**published, "EMPORIUM_DEMO_PASSWORD": "another-secret-2"}
    assert credentials_from_env(url, own).demo.password == "another-secret-2"


def test_past_the_rate_limit_the_seed_waits_as_long_as_it_is_told() -> None:
    told = httpx.Response(429, headers={"Retry-After": "7"})
    assert retry_delay(told, 0) == 7
    assert retry_delay(httpx.Response(429, headers={"Retry-After": "3600"}), 0) == 30
    untold = httpx.Response(503)
    assert retry_delay(untold, 0) < retry_delay(untold, 3) <= 5


def test_the_demo_customer_lives_where_the_demo_zone_and_tax_rate_are() -> None:
    covered = {country for zone in ZONES for country in zone.countries}
    assert DEMO_ADDRESS["country"] in covered
    assert DEMO_ADDRESS["country"] in {tax.country for tax in TAX_RATES}
    # Standard is one method of several rates: by weight, heavier, free from 50.00.
    standard = [r for r in ZONES[0].rates if r.name == "Standard"]
    assert len(standard) == 3
    assert any(r.amount == 0 and r.min_subtotal == 5000 for r in standard)
    assert any(r.max_weight_grams for r in standard)
    assert 0 < min(p.weight_grams for p in PRODUCTS) < 2000 < max(p.weight_grams for p in PRODUCTS)


def test_no_suite_against_make_dev_ships_to_the_seeded_countries() -> None:
    # The seed runs before tests/e2e, tests/browser and schemathesis on `make dev`: a zone
    # there makes a shipping method required and a tax rate changes totals, so the seeded
    # countries must be none of those the suites' addresses use.
    root = Path(__file__).resolve().parents[2]
    used: set[str] = set()
    for source in (root / "tests").rglob("*.py"):
        used |= set(
            re.findall(r"[\"']country[\"']\s*:\s*[\"']([A-Za-z]{2})[\"']", source.read_text())
        )
    seeded = {c for zone in ZONES for c in zone.countries} | {t.country for t in TAX_RATES}
    assert "DE" in {c.upper() for c in used}  # the scan sees the suites' addresses
    assert not seeded & {c.upper() for c in used}


def test_the_automatic_promotion_is_scoped_to_a_seeded_category() -> None:
    slugs = {c.slug for c in CATEGORIES}
    automatic = [p for p in PROMOTIONS if p.code is None]
    assert automatic
    assert all(p.category in slugs for p in automatic)
    codes = [p.code for p in PROMOTIONS if p.code]
    assert codes == [c.upper() for c in codes]
    assert "WELCOME10" in codes


def test_the_seed_ships_by_the_cheapest_option() -> None:
    options = [
        {"id": "b", "amount": {"amount": 490, "currency": "EUR"}, "estimated_days": 3},
        {"id": "a", "amount": {"amount": 1290, "currency": "EUR"}, "estimated_days": 1},
        {"id": "c", "amount": {"amount": 490, "currency": "EUR"}, "estimated_days": 2},
    ]
    assert cheapest_option(options) == options[2]
    assert cheapest_option([]) is None


def test_the_variant_products_are_apart_and_complete() -> None:
    skus = {p.sku for p in PRODUCTS}
    all_variants = [v.sku for demo in VARIANT_PRODUCTS for v in demo.variants]
    assert len(all_variants) == len(set(all_variants))
    assert not skus & set(all_variants)  # the single-SKU demo products stay as they were
    for demo in VARIANT_PRODUCTS:
        names = [name for name, _ in demo.options]
        combinations = {tuple(v.options[n] for n in names) for v in demo.variants}
        assert len(combinations) == len(demo.variants)  # no two variants alike
        for variant in demo.variants:
            assert set(variant.options) == set(names)
            assert all(variant.options[n] in dict(demo.options)[n] for n in names)
            assert set(variant.stock) <= {"default", LOCATION[0]}
        # The first variant is made with the product: it has each option's first value.
        assert demo.variants[0].options == {n: values[0] for n, values in demo.options}
    assert LOCATION[2] > 0  # ships after the default location
