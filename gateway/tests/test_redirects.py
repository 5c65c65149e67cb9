"""Which upstream redirects must not reach a client (pure)."""

from __future__ import annotations

import pytest
from yarl import URL

from emporium.gateway.redirects import internal_redirect

UPSTREAM = URL("http://10.0.3.7:8001")


@pytest.mark.parametrize(
    ("status", "location", "path", "expected"),
    [
        (307, "http://10.0.3.7:8001/media/", "/media", "slash"),
        (307, "/media/", "/media", "slash"),
        (308, "http://10.0.3.7:8001/products", "/products", "slash"),
        (307, "http://10.0.3.7:8001/metrics", "/media", "internal"),
        (302, "/readyz", "/products", "internal"),
        (302, "readyz", "/products", "internal"),
        (301, "http://10.0.3.7:8001", "/products", "internal"),
        # Another origin: not the service's business to hide.
        (302, "https://cdn.example/a.webp", "/media/a.webp", None),
        (302, "http://10.0.3.7:9999/x", "/media/x", None),
        (302, "https://10.0.3.7:8001/x", "/media/x", None),
        # Not a redirect.
        (200, "http://10.0.3.7:8001/media/", "/media", None),
        (201, "/products/1", "/admin/products", None),
        (304, None, "/products", None),
    ],
)
def test_a_redirect_into_the_service_is_caught(
    status: int, location: str | None, path: str, expected: str | None
) -> None:
    assert internal_redirect(status, location, upstream=UPSTREAM, path=path) == expected


def test_a_service_under_a_base_path() -> None:
    base = URL("http://catalog.internal/base/")
    assert internal_redirect(307, "/base/media/", upstream=base, path="/media") == "slash"
    assert internal_redirect(307, "/base/docs", upstream=base, path="/media") == "internal"
