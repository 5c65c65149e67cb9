"""The upstream URL: the configured base plus the canonical target, built with yarl (pure)."""

from __future__ import annotations

import pytest

from emporium.gateway.breaker import CircuitBreaker
from emporium.gateway.target import parse_target
from emporium.gateway.upstreams import Upstream


def _upstream(base: str) -> Upstream:
    return Upstream(
        "catalog", base, timeout=1, connect_timeout=1, retries=0, breaker=CircuitBreaker()
    )


@pytest.mark.parametrize(
    ("raw", "query", "path_qs"),
    [
        (b"/api/v1/products", b"", "/products"),
        (b"/api/v1/products/%3F%23x", b"", "/products/%3F%23x"),
        (b"/api/v1/products/x:8080", b"", "/products/x:8080"),
        (b"/api/v1/products/%25%32%46", b"", "/products/%252F"),
        (b"/api/v1/products/a;b=c", b"q=%23a&x=@", "/products/a;b=c?q=%23a&x=%40"),
        (b"/api/v1/products", b"next=http://evil.example/", "/products?next=http://evil.example/"),
    ],
)
def test_no_target_changes_the_scheme_host_or_port(raw: bytes, query: bytes, path_qs: str) -> None:
    target = parse_target(raw, query)
    for base, prefix in (
        ("http://127.0.0.1:8001", ""),
        ("https://catalog.internal/base/", "/base"),
    ):
        url = _upstream(base).url(target.encoded_path(skip=2), target.encoded_query())
        assert (url.scheme, url.host, url.explicit_port) == (
            ("http", "127.0.0.1", 8001) if prefix == "" else ("https", "catalog.internal", None)
        )
        assert url.raw_path_qs == prefix + path_qs
        assert url.user is None


@pytest.mark.parametrize(
    "base", ["ftp://catalog", "catalog:8001", "http://", "http://h/?a=1", "http://h/#x"]
)
def test_a_bad_service_url_is_refused_at_start(base: str) -> None:
    with pytest.raises(ValueError, match="URL must be http"):
        _upstream(base)
