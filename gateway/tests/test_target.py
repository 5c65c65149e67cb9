"""The canonical request target: what is refused, and the one form everything else uses."""

from __future__ import annotations

import pytest

from emporium.gateway.target import MAX_QUERY_FIELDS, BadTarget, Target, parse_target


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"/api/v1%2Fproducts%2F@127.0.0.1:9/x", "at-sign"),
        (b"/api/v1%2Fproducts", "encoded-slash"),
        (b"/api/v1/products%2f..%2fmetrics", "encoded-slash"),
        (b"/api%2Fv1/products", "encoded-slash"),
        (b"/api/v1/products%5Cx", "encoded-backslash"),
        (b"/api/v1/products%5cx", "encoded-backslash"),
        (b"/api/v1/products\\..\\metrics", "backslash"),
        (b"/api/v1/products/../metrics", "dot-segment"),
        (b"/api/v1/auth/../docs", "dot-segment"),
        (b"/api/v1/categories/../readyz", "dot-segment"),
        (b"/api/v1/me/../auth/token", "dot-segment"),
        (b"/api/v1/./products", "dot-segment"),
        (b"/api/v1/products/..", "dot-segment"),
        (b"/api/v1/products/%2e%2e/metrics", "dot-segment"),
        (b"/api/v1/products/%2E%2e/metrics", "dot-segment"),
        (b"/api/v1/products/.%2E/metrics", "dot-segment"),
        (b"/api/v1/products/%2e/x", "dot-segment"),
        (b"/api/v1//products", "empty-segment"),
        (b"//api/v1/products", "empty-segment"),
        (b"/api/v1/products//", "empty-segment"),
        (b"//", "empty-segment"),
        (b"/api/v1/products/a@b", "at-sign"),
        (b"/api/v1/products/%40evil", "at-sign"),
        (b"/api/v1/products/%00", "control-character"),
        (b"/api/v1/products/%0d%0aSet-Cookie:x", "control-character"),
        (b"/api/v1/products/%1F", "control-character"),
        (b"/api/v1/products/%7f", "control-character"),
        (b"/api/v1/products/\x01", "control-character"),
        (b"/api/v1/products/%zz", "invalid-percent-encoding"),
        (b"/api/v1/products/%", "invalid-percent-encoding"),
        (b"/api/v1/products/%4", "invalid-percent-encoding"),
        (b"/api/v1/products/%ff%fe", "invalid-percent-encoding"),
        (b"/api/v1/products/\xc3\xa9", "not-ascii"),
        (b"api/v1/products", "not-absolute"),
        (b"", "not-absolute"),
        (b"http://evil.example/api/v1/products", "not-absolute"),
    ],
)
def test_a_path_that_could_mean_two_things_is_refused(raw: bytes, reason: str) -> None:
    with pytest.raises(BadTarget) as refused:
        parse_target(raw)
    assert refused.value.reason == reason
    assert refused.value.status == 400
    assert refused.value.type.endswith("/bad-request-target")
    assert refused.value.detail


@pytest.mark.parametrize(
    ("raw", "segments"),
    [
        (b"/", ()),
        (b"/api/v1/products", ("api", "v1", "products")),
        (b"/api/v1/products/", ("api", "v1", "products")),
        (b"/api/v1/media/a%20b.webp", ("api", "v1", "media", "a b.webp")),
        (b"/ap%69/v1/products", ("api", "v1", "products")),
        (b"/api/v1/products/%C3%A9t%C3%A9", ("api", "v1", "products", "\u00e9t\u00e9")),
        (b"/api/v1/products/...", ("api", "v1", "products", "...")),
        (b"/api/v1/products/a.b", ("api", "v1", "products", "a.b")),
        (b"/api/v1/products/%3F%23", ("api", "v1", "products", "?#")),
        (b"/api/v1/products/%25", ("api", "v1", "products", "%")),
    ],
)
def test_a_plain_path_is_decoded_into_segments(raw: bytes, segments: tuple[str, ...]) -> None:
    assert parse_target(raw).segments == segments


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        (b"/api/v1/products", "/products"),
        (b"/api/v1/media/a%20b.webp", "/media/a%20b.webp"),
        (b"/api/v1/products/%3F%23", "/products/%3F%23"),
        # A decoded "%" is sent encoded again: the service sees what the client meant.
        (b"/api/v1/products/%2525", "/products/%2525"),
        (b"/api/v1/products/x:y;z", "/products/x:y;z"),
        (b"/api/v1/products/%C3%A9", "/products/%C3%A9"),
        (b"/api/v1", "/"),
    ],
)
def test_the_upstream_path_is_encoded_again_from_the_segments(raw: bytes, encoded: str) -> None:
    assert parse_target(raw).encoded_path(skip=2) == encoded


@pytest.mark.parametrize(
    ("query", "pairs", "encoded"),
    [
        (b"", (), ""),
        (b"q=lamp&limit=5", (("q", "lamp"), ("limit", "5")), "q=lamp&limit=5"),
        (b"q=red+lamp", (("q", "red lamp"),), "q=red%20lamp"),
        (b"q=a%26b%3Dc", (("q", "a&b=c"),), "q=a%26b%3Dc"),
        (
            b"option.size=M&option.size=L",
            (("option.size", "M"), ("option.size", "L")),
            "option.size=M&option.size=L",
        ),
        (b"in_stock", (("in_stock", ""),), "in_stock="),
        (b"q=%C3%A9", (("q", "\u00e9"),), "q=%C3%A9"),
        (b"q=%23frag", (("q", "#frag"),), "q=%23frag"),
    ],
)
def test_the_query_is_parsed_and_encoded_again(
    query: bytes, pairs: tuple[tuple[str, str], ...], encoded: str
) -> None:
    target = parse_target(b"/api/v1/products", query)
    assert target.query == pairs
    assert target.encoded_query() == encoded


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (b"q=%zz", "invalid-percent-encoding"),
        (b"q=%", "invalid-percent-encoding"),
        (b"q=%ff", "invalid-percent-encoding"),
        (b"q=\x00", "control-character"),
        (b"q=\xc3\xa9", "control-character"),
        (b"&".join([b"a=1"] * (MAX_QUERY_FIELDS + 1)), "too-many-query-fields"),
    ],
)
def test_a_bad_query_is_refused(query: bytes, reason: str) -> None:
    with pytest.raises(BadTarget) as refused:
        parse_target(b"/api/v1/products", query)
    assert refused.value.reason == reason


def test_the_decoded_path_is_what_routes_see() -> None:
    target = parse_target(b"/api/v1/orders/42/events")
    assert target.path == "/api/v1/orders/42/events"
    assert target.starts_with("api", "v1")
    assert not target.starts_with("api", "v2")
    assert Target(()).path == "/"
