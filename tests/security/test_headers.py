"""Every answer of the gateway carries the headers that keep a browser from misusing it.

``X-Content-Type-Options: nosniff`` (a JSON answer is never run as a script or page),
``X-Frame-Options: DENY`` and ``Content-Security-Policy: frame-ancestors 'none'`` (no
framing: clickjacking), a ``Referrer-Policy`` (no URLs with ids leak to other sites): on
the API's answers, its errors (the gateway's and the services'), and on the docs page.
"""

from __future__ import annotations

import httpx
import pytest
from emporium_security import Secure, client

pytestmark = pytest.mark.e2e

CALLS = [
    ("GET", "/api/v1/products"),  # a service's answer
    ("GET", "/api/v1/products/00000000-0000-0000-0000-000000000000"),  # a service's 404
    ("GET", "/api/v1/me"),  # the gateway's 401
    ("GET", "/api/v1/nothing-here"),  # the gateway's 404
    ("GET", "/api/v1/products/%2e%2e/metrics"),  # the gateway's 400
    ("POST", "/api/v1/auth/token"),  # a service's 422
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/healthz"),
]


@pytest.mark.parametrize(("method", "path"), CALLS)
async def test_an_answer_carries_the_browser_security_headers(
    secure: Secure, method: str, path: str
) -> None:
    async with client(secure) as http:
        answer = await http.request(method, httpx.URL(secure.base_url + path))
    headers = answer.headers
    assert headers.get("x-content-type-options") == "nosniff", dict(headers)
    assert headers.get("x-frame-options", "").upper() == "DENY", dict(headers)
    policy = headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy, dict(headers)
    assert headers.get("referrer-policy"), dict(headers)
