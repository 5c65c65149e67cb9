"""The search page's query, read into the API's parameters."""

from __future__ import annotations

from urllib.parse import parse_qsl

from emporium.storefront.shop import basket
from emporium.storefront.shop.forms import safe_next
from emporium.storefront.shop.listing import facet_view, parse_listing, parse_price


def test_prices_are_typed_in_euros_and_sent_in_cents() -> None:
    listing = parse_listing({"min_price": "12.50", "max_price": "30", "sort": "-price"})
    params = dict(listing.api_params(12))
    assert params["min_price"] == "1250"
    assert params["max_price"] == "3000"
    assert params["sort"] == "-price"
    assert listing.errors == {}


def test_a_bad_filter_is_named_and_dropped_not_sent() -> None:
    listing = parse_listing({"min_price": "cheap", "max_price": "-1", "sort": "DROP TABLE"})
    assert "min_price" in listing.errors
    assert "max_price" in listing.errors
    params = dict(listing.api_params(12))
    assert "min_price" not in params
    assert params["sort"] == "name"


def test_a_range_upside_down_is_named() -> None:
    listing = parse_listing({"min_price": "30", "max_price": "10"})
    assert listing.errors["max_price"] == "The highest price must not be below the lowest."


def test_the_next_page_keeps_the_filters() -> None:
    listing = parse_listing({"q": "lamp", "in_stock": "1", "cursor": "old", "page": "2"})
    assert listing.page_query(cursor="abc", page=3) == "q=lamp&in_stock=1&cursor=abc&page=3"
    assert parse_price("") is None


def test_only_paths_of_the_shop_are_followed_after_sign_in() -> None:
    assert safe_next("/checkout") == "/checkout"
    for bad in ("https://evil.test/", "//evil.test", "/\\evil.test", "javascript:alert(1)", ""):
        assert safe_next(bad) == "/"


def test_the_anonymous_cart_is_bounded() -> None:
    pid = "0190f000-0000-7000-8000-000000000001"
    lines = basket.add({}, pid, 60)
    assert basket.add(lines, pid, 60)[pid] == 99
    assert basket.set_quantity(lines, pid, 0) == {}
    assert basket.merged_quantity(98, 5) == 99
    assert basket.lines_of({"../x": 1, pid: 500}) == {}


def test_option_filters_pass_on_and_facet_links_toggle_one_keeping_the_rest() -> None:
    pairs = [("q", "tee"), ("option.size", "M"), ("option.size", "L"), ("option.colour", "red")]
    listing = parse_listing(dict(pairs), pairs)
    assert listing.options == [("colour", "red"), ("size", "L"), ("size", "M")]
    assert ("option.size", "M") in listing.api_params(12)
    assert listing.has_option("Size", "m")
    assert parse_qsl(listing.option_query("size", "M")) == [
        ("q", "tee"), ("option.colour", "red"), ("option.size", "L")
    ]  # fmt: skip
    assert ("option.colour", "blue") in parse_qsl(listing.option_query("colour", "blue"))
    assert ("category", "shirts") in parse_qsl(listing.category_query("shirts"))
    assert ("option.size", "M") in parse_qsl(listing.page_query(cursor="abc", page=2))


def test_facets_are_named_and_none_means_no_block() -> None:
    categories = [{"id": "c1", "name": "Shirts", "slug": "shirts"}]
    view = facet_view(
        {"categories": [{"id": "c1", "slug": "shirts", "count": 3}],
         "options": {"size": [{"value": "M", "count": 2}], "fit": []}},
        categories,
    )  # fmt: skip
    assert view == {
        "categories": [{"slug": "shirts", "name": "Shirts", "count": 3}],
        "options": [("size", [("M", 2)])],
    }
    assert facet_view({}, categories) == {}
    assert facet_view({"categories": [], "options": {}}, categories) == {}
