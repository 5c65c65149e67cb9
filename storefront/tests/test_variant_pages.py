"""The product, search and cart templates with variants, rendered as the pages render them
(the API's answers given, no server): pickers with labels, the chosen variant's price and
availability, a sold-out one not purchasable, facets as links, a line's options and SKU."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from emporium.storefront import variants
from emporium.storefront.problems import Feedback
from emporium.storefront.shop.catalog import srcset
from emporium.storefront.shop.listing import SORTS, facet_view, parse_listing
from emporium.storefront.web import _ENV

TEE = {
    "id": "p1",
    "sku": "TEE-S-RED",
    "name": "Tee",
    "description": "",
    "images": [],
    "attributes": {},
    "category_id": None,
    "price": {"amount": 1900, "currency": "EUR"},
    "availability": {"in_stock": True, "available": 4},
    "options": [{"name": "size", "values": ["S", "M"]}, {"name": "colour", "values": ["red"]}],
    "variants": [
        {"id": "p1", "sku": "TEE-S-RED", "options": {"size": "S", "colour": "red"},
         "price": {"amount": 1900, "currency": "EUR"},
         "availability": {"in_stock": False, "available": 0}},
        {"id": "v2", "sku": "TEE-M-RED", "options": {"size": "M", "colour": "red"},
         "price": {"amount": 2400, "currency": "EUR"},
         "availability": {"in_stock": True, "available": 4}},
    ],
}  # fmt: skip


def _page(template: str, **context: Any) -> str:
    common: dict[str, Any] = {
        "viewer": None,
        "csrf_token": "t",
        "csrf_field": lambda: Markup('<input type="hidden" name="csrf" value="t">'),
        "feedback": Feedback(),
        "cart_count": 0,
        "path": "/search",
        "flashes": [],
    }
    return _ENV.get_template(template).render({**common, **context})


def _product(chosen: dict[str, str]) -> str:
    variant = variants.choose_variant(TEE, chosen)
    return _page(
        "shop/product.html", product=TEE, category=None, srcset=srcset, variant=variant,
        selected=dict(variant["options"]) if variant else chosen, currency=None,
        options_label=variants.options_label,
    )  # fmt: skip


def test_the_pickers_are_labelled_and_show_the_variant_that_can_be_bought() -> None:
    html = _product({})
    assert '<label for="option-1">Size</label>' in html
    assert '<select id="option-1" name="option.size">' in html
    assert '<option value="M" selected>M</option>' in html
    assert "€24.00" in html
    assert "only 4 left" in html
    assert 'name="variant_id" value="v2"' in html
    assert "Size M, Colour red · SKU TEE-M-RED" in html


def test_a_sold_out_variant_says_so_and_has_no_add_button() -> None:
    html = _product({"size": "S", "colour": "red"})
    assert "Sold out" in html
    assert "Add to cart" not in html


def test_facets_are_links_that_keep_the_other_filters() -> None:
    pairs = [("q", "tee"), ("option.size", "M")]
    listing = parse_listing(dict(pairs), pairs)
    counts = [{"value": "M", "count": 2}, {"value": "S", "count": 1}]
    facets = facet_view({"categories": [], "options": {"size": counts}}, [])
    html = _page(
        "shop/search.html", listing=listing, q="tee", category=None, categories=[], products=[],
        next_cursor=None, sorts=SORTS, errors={}, facets=facets,
    )  # fmt: skip
    assert 'href="/search?q=tee"' in html  # M is on: its link takes it away
    assert "/search?q=tee&amp;option.size=M&amp;option.size=S" in html
    assert '<input type="hidden" name="option.size" value="M">' in html
    no_facets = _page(
        "shop/search.html", listing=listing, q="tee", category=None, categories=[], products=[],
        next_cursor=None, sorts=SORTS, errors={}, facets={},
    )  # fmt: skip
    assert "Narrow down" not in no_facets


def test_a_cart_line_names_its_options_and_sku() -> None:
    cart = {
        "items": [
            {"product_id": "p1", "variant_id": "v2", "name": "Tee", "sku": "TEE-M-RED",
             "options": {"size": "M", "colour": "red"},
             "unit_price": {"amount": 2400, "currency": "EUR"}, "quantity": 1,
             "line_total": {"amount": 2400, "currency": "EUR"}}
        ],
        "total": {"amount": 2400, "currency": "EUR"},
    }  # fmt: skip
    html = _page("shop/cart.html", cart=cart, signed_in=False, code_value="")
    assert 'id="line-v2"' in html
    assert 'action="/cart/items/v2"' in html
    assert "Size M, Colour red" in html
    assert "SKU TEE-M-RED" in html
    assert 'href="/products/p1?option.size=M&amp;option.colour=red"' in html
