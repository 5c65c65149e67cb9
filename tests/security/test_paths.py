"""Path tricks: nothing but the route table's paths reaches a service, and never elsewhere.

Each request is written RAW on a socket (``GET <target> HTTP/1.1``): httpx and every other
client normalise paths, which would hide exactly what is tested here. A canary HTTP server
on loopback stands for an internal host; the targets name it (``@127.0.0.1:PORT``, an
absolute-form target, a ``Host`` header) and it must never be reached.

For every answer:

- the canary saw no connection;
- no internal page came back: no Prometheus text, no Swagger HTML, no service's readiness
  body or OpenAPI document (the gateway's own merged one is public);
- a target with an encoded slash or backslash, a dot segment (raw or percent-encoded, any
  case), an empty segment, ``@``, a control character or bad percent-encoding is a 400
  problem+json (``target_is_ambiguous`` is the suite's own, independent reading of that
  rule);
- anything else is 401/403/404/405/422 problem+json, or a 2xx whose body is the answer of
  the service that the route table names for the canonical path (a product list from the
  catalog, a key set from customers ...).

The corpus holds the known bypasses; the hypothesis test builds targets from API segments,
encodings and separators, sent anonymously or with a customer's token (so that customers
and orders answer 2xx too), derandomized: the same 200 targets on every run.
"""

from __future__ import annotations

import json
import re
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes

import h11
import pytest
from emporium_security import ADDRESS, Canary, Secure, loopback, sync_client, sync_register
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emporium.gateway.routes import API_PREFIX, match

pytestmark = pytest.mark.e2e

PROBLEM = "application/problem+json"
REFUSED = {401, 403, 404, 405, 422}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    raw_request: bytes = field(repr=False, default=b"")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self) -> Any:
        return json.loads(self.body)


def send_raw(
    port: int,
    target: str,
    *,
    host: str | None = None,
    source: str = "127.0.0.1",
    token: str | None = None,
) -> Answer:
    """``GET target HTTP/1.1`` exactly as given, and the answer parsed (h11)."""
    authorization = f"Authorization: Bearer {token}\r\n" if token else ""
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {host or f'127.0.0.1:{port}'}\r\n"
        f"Accept: */*\r\n{authorization}Connection: close\r\n\r\n"
    ).encode("latin-1")
    with socket.create_connection(
        ("127.0.0.1", port), timeout=15, source_address=(source, 0)
    ) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    parser = h11.Connection(h11.CLIENT)
    # h11 reads an answer only to a request it sent: this one is thrown away (ours was raw).
    parser.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    parser.send(h11.EndOfMessage())
    parser.receive_data(data)
    parser.receive_data(b"")
    status, headers, body = 0, {}, b""
    while True:
        event = parser.next_event()
        if isinstance(event, h11.Response):
            status = event.status_code
            headers = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed) or event is h11.NEED_DATA:
            break
    assert status, f"no HTTP answer to {target!r}: {data[:300]!r}"
    return Answer(status, headers, body, request)


# -- what the suite calls an ambiguous target (its own reading, not the gateway's code) -----

_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _raw_path(target: str) -> str:
    path = target.split("?", 1)[0].split("#", 1)[0]
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]  # one trailing slash is allowed
    return path


def target_is_ambiguous(target: str) -> bool:
    """Whether a path-form target must be refused (400) under the canonical-path rule."""
    path = _raw_path(target)
    if not path.startswith("/"):
        return False  # absolute- or asterisk-form: judged on their own
    for raw in path[1:].split("/"):
        if raw == "" or "\\" in raw or "@" in raw or _BAD_PERCENT.search(raw):
            return True
        if any(ord(ch) < 0x20 or ord(ch) >= 0x7F for ch in raw):
            return True
        decoded = unquote_to_bytes(raw)
        if decoded in (b".", b"..") or _CONTROL.search(decoded):
            return True
        if b"/" in decoded or b"\\" in decoded or b"@" in decoded:
            return True
        try:
            decoded.decode("utf-8")
        except UnicodeDecodeError:
            return True
    return False


def canonical_path(target: str) -> str:
    """The decoded path of an unambiguous path-form target."""
    path = _raw_path(target)
    return "/" + "/".join(unquote_to_bytes(s).decode() for s in path[1:].split("/"))


# -- what each service's answers look like --------------------------------------------------


def internal_page(answer: Answer) -> str | None:
    """What internal page ``answer`` is, if it is one."""
    body = answer.body
    if b"# HELP " in body or b"# TYPE " in body:
        return "Prometheus metrics"
    if b"swagger-ui" in body.lower() or b"<html" in body.lower() or b"redoc" in body.lower():
        return "an HTML page (Swagger UI?)"
    if "json" in answer.content_type:
        try:
            data = answer.json()
        except ValueError:
            return None
        if isinstance(data, dict) and "checks" in data:
            return "a readiness report"
        if isinstance(data, dict) and data.get("status") in ("ok", "degraded", "ready"):
            return "a health/readiness report"
        if isinstance(data, dict) and "openapi" in data:
            paths = data.get("paths", {})
            if any(not p.startswith(API_PREFIX) for p in paths):
                return "a service's own OpenAPI document"
    return None


def answered_by(answer: Answer) -> set[str]:
    """The services whose answer this 2xx body can be (empty: nobody's we know).

    An empty list could be the catalog's or the orders service's, so it names both.
    """
    if not answer.content_type.startswith("application/json"):
        return set()
    data = answer.json()
    if isinstance(data, dict) and {"items", "next_cursor"} <= data.keys():
        items = data["items"]
        if not items:
            return {"catalog", "orders"}
        if all("sku" in item and "availability" in item for item in items):
            return {"catalog"}  # a product list
        if all("status" in item and "lines" in item for item in items):
            return {"orders"}  # the caller's orders
        return set()
    if isinstance(data, dict) and {"sku", "availability"} <= data.keys():
        return {"catalog"}  # a product
    if isinstance(data, dict) and {"status", "lines"} <= data.keys():
        return {"orders"}  # an order
    if isinstance(data, dict) and {"items", "total"} <= data.keys():
        return {"orders"}  # the cart
    if isinstance(data, dict) and {"id", "email"} <= data.keys():
        return {"customers"}  # the caller's profile
    if isinstance(data, dict) and isinstance(data.get("keys"), list):
        return {"customers"}  # the key set
    if isinstance(data, dict) and "openapi" in data:
        return {"gateway"}
    if isinstance(data, list):
        if not data:
            return {"catalog", "customers"}  # no categories, or no addresses
        if all(isinstance(item, dict) and "slug" in item for item in data):
            return {"catalog"}  # the categories
        if all(isinstance(item, dict) and "line1" in item for item in data):
            return {"customers"}  # the caller's addresses
    return set()


def expected_service(target: str) -> str | None:
    path = canonical_path(target)
    if path == API_PREFIX + "/openapi.json":
        return "gateway"
    if not path.startswith(API_PREFIX + "/"):
        return None
    route = match(path.removeprefix(API_PREFIX), "GET")
    return route.upstream if route is not None else None


def check(answer: Answer, target: str, canary: Canary) -> None:
    """The properties every answer has (see the module docstring)."""
    what = f"{target!r} -> {answer.status} {answer.content_type} {answer.body[:200]!r}"
    if "location" in answer.headers:
        what += f" Location: {answer.headers['location']}"
    assert canary.hits == [], f"{what}: the canary was reached: {canary.hits}"
    page = internal_page(answer)
    assert page is None, f"{what}: answered with {page}"
    if target.startswith("/") and target_is_ambiguous(target):
        assert answer.status == 400, f"{what}: an ambiguous target must be refused"
        assert answer.content_type.startswith(PROBLEM), what
        return
    if answer.status >= 400:
        assert answer.status in REFUSED | {400}, what
        assert answer.content_type.startswith(PROBLEM), what
        return
    assert 200 <= answer.status < 300, what
    services = answered_by(answer)
    assert services, f"{what}: not an answer of the API"
    if target.startswith("/"):
        expected = expected_service(target)
        assert expected in services, f"{what}: {services} answered, not {expected}"


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    with Canary() as server:
        yield server


@pytest.fixture(scope="module")
def product(secure: Secure) -> str:
    """A product of the catalog (and so a category: the list is not empty)."""
    with sync_client(secure) as http:
        platform = secure.platform
        tokens = http.post(
            "/auth/token", json={"email": platform.admin_email, "password": platform.admin_password}
        )
        assert tokens.status_code == 200, tokens.text
        boss = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
        tag = uuid.uuid4().hex[:10]
        category = http.post(
            "/admin/categories", json={"slug": f"p-{tag}", "name": tag}, headers=boss
        )
        assert category.status_code == 201, category.text
        created = http.post(
            "/admin/products",
            json={
                "sku": f"PATH-{tag}",
                "name": "Path probe",
                "description": "",
                "price": {"amount": 100, "currency": "EUR"},
                "category_id": category.json()["id"],
                "attributes": {},
            },
            headers=boss,
        )
        assert created.status_code == 201, created.text
        sync_register(http)  # the customers service is up and signing
        product_id: str = created.json()["id"]
        return product_id


@pytest.fixture(scope="module")
def shopper(secure: Secure, product: str) -> str:
    """A customer's access token; the customer has an order and an address."""
    with sync_client(secure) as http:
        account = sync_register(http, "Shopper")
        deadline = time.monotonic() + 30
        while True:  # until the orders service has heard of the product
            put = http.put(f"/cart/items/{product}", json={"quantity": 1}, headers=account.headers)
            if put.status_code != 404 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert put.status_code == 200, put.text
        order = http.post(
            "/orders",
            json={"shipping_address": ADDRESS, "payment": {"card_token": "tok_visa"}},
            headers={**account.headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert order.status_code == 202, order.text
        address = http.post("/me/addresses", json=ADDRESS, headers=account.headers)
        assert address.status_code == 201, address.text
        return account.access_token


@pytest.fixture(scope="module")
def source() -> str:
    return loopback()


# -- the corpus -------------------------------------------------------------------------------

CORPUS = [
    "/api/v1%2Fproducts%2F@{canary}/x",
    "/api/v1%2fproducts",
    "/api/v1/products%2F..%2Fmetrics",
    "/api/v1/products/../metrics",
    "/api/v1/products/../../metrics",
    "/api/v1/auth/../docs",
    "/api/v1/auth/../openapi.json",
    "/api/v1/categories/../readyz",
    "/api/v1/orders/../../readyz",
    "/api/v1/products/%2e%2e/metrics",
    "/api/v1/products/%2E%2e/metrics",
    "/api/v1/products/%2E%2E/readyz",
    "/api/v1/products/.%2e/docs",
    "/api/v1/products/%2e./docs",
    "/api/v1/products/%2e/x",
    "/api/v1/products/./{product}",
    "/api/v1/%2e%2e/metrics",
    "/api/v1/%2e%2e%2fmetrics",
    "/api/v1/..",
    "/api/v1/products\\..\\metrics",
    "/api/v1/products%5c..%5cmetrics",
    "/api/v1/products%5C..%5Cmetrics",
    "/api/v1//products",
    "/api/v1/products//{product}",
    "//api/v1/products",
    "/api/v1/products/@{canary}",
    "/api/v1/products/%40{canary}",
    "/api/v1/@{canary}/products",
    "/api/v1/products@{canary}",
    "/api/v1/products%00/../metrics",
    "/api/v1/products/%00",
    "/api/v1/products/%0a",
    "/api/v1/products/%0d%0aX-Injected:%20yes",
    "/api/v1/products/%7f",
    "/api/v1/products/%zz",
    "/api/v1/products/%",
    "/api/v1/products/%2",
    "/api/v1/products/%c0%ae%c0%ae/metrics",
    "/api/v1/products/%e0%80%ae%e0%80%ae/readyz",
    "/api/v1/products/%c0%af",
    "/api/v1/products/%ff",
    "/api/v1/products/..;/metrics",
    "/api/v1/products;/../metrics",
    "/api/v1/products;jsessionid=1",
    "/api/v1/products/{product};x=1",
    "/api/v1/media/..%2f..%2fmetrics",
    "/api/v1/media/%2e%2e%2f%2e%2e%2freadyz",
    "/api/v1/metrics",
    "/api/v1",
    "/api/v1/media",
    "/api/v1/auth",
    "/api/v1/readyz",
    "/api/v1/healthz",
    "/api/v1/docs",
    "/api/v1/products/metrics",
    "/api/v1/admin/../products",
    "/api/v1/%70roducts",
    "/api/v1/PRODUCTS",
    "/api/v1/products/",
    "/api/v1/products?next=http://{canary}/",
    "/api/v1/products/{canary}",
    "/api/v1/auth/jwks",
    "/api/v1/products/{product}",
]
ABSOLUTE_FORM = [
    "http://{canary}/",
    "http://{canary}/api/v1/products",
    "http://{canary}@127.0.0.1:{gateway}/api/v1/products",
    "http://127.0.0.1:{gateway}@{canary}/api/v1/products",
    "http://127.0.0.1:{gateway}/api/v1/../metrics",
    "*",
]


@pytest.mark.parametrize("template", CORPUS)
def test_a_known_bypass_reaches_nothing_it_should_not(
    secure: Secure, canary: Canary, product: str, source: str, template: str
) -> None:
    target = template.format(canary=f"127.0.0.1:{canary.port}", product=product)
    check(send_raw(secure.port, target, source=source), target, canary)


@pytest.mark.parametrize("template", ABSOLUTE_FORM)
def test_an_absolute_form_target_never_reaches_its_host(
    secure: Secure, canary: Canary, product: str, source: str, template: str
) -> None:
    target = template.format(canary=f"127.0.0.1:{canary.port}", gateway=secure.port)
    check(send_raw(secure.port, target, source=source), target, canary)


@pytest.mark.parametrize(
    "path", ["/api/v1/products", "/api/v1/auth/jwks", "/api/v1/me", "/api/v1", "/api/v1/"]
)
def test_a_host_header_naming_another_host_is_not_followed(
    secure: Secure, canary: Canary, product: str, source: str, path: str
) -> None:
    answer = send_raw(secure.port, path, host=f"127.0.0.1:{canary.port}", source=source)
    check(answer, path, canary)


# -- generated targets ------------------------------------------------------------------------

_NAMES = [
    "products", "categories", "auth", "jwks", "token", "me", "addresses", "cart", "items",
    "orders", "events", "admin", "customers", "media", "metrics", "docs", "readyz",
    "healthz", "openapi.json", "x", "{product}",
]  # fmt: skip
_TRICKS = [
    ".", "..", "%2e", "%2E", "%2e%2e", "%2E%2e", ".%2E", "%2e.", "%2f", "%2F", "%5c", "%5C",
    "\\", "@", "%40", "@{canary}", "{canary}", "%00", "%0a", "%0D%0A", "%7f", "%09", "%zz",
    "%", "%4", "%c0%ae", "%e0%80%ae", "%ff", ";", "..;", ";x=1", "%70roducts", "%2e%2e%2f",
    "", "~", "%7E", "%20", "+",
]  # fmt: skip
_SEPARATORS = ["/", "/", "/", "/", "//", "%2f", "%2F", "\\", "%5c", "/./", "/../", "/%2e%2e/"]
_UNRESERVED = "abcdefghijklmnopqrstuvwxyz0123456789-._~"

segments = st.one_of(
    st.sampled_from(_NAMES),
    st.sampled_from(_TRICKS),
    st.text(alphabet=_UNRESERVED, min_size=1, max_size=8),
)


@st.composite
def targets(draw: st.DrawFn) -> str:
    parts = draw(st.lists(segments, min_size=0, max_size=5))
    path = API_PREFIX
    for part in parts:
        path += draw(st.sampled_from(_SEPARATORS)) + part
    if draw(st.booleans()) and draw(st.booleans()):
        path += "/"
    if draw(st.booleans()) and draw(st.booleans()):
        path += "?" + draw(
            st.sampled_from(["limit=1", "q=%2e%2e", "next=http://{canary}/", "a=b&c"])
        )
    return path


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(template=targets(), signed_in=st.booleans())
def test_no_generated_target_reaches_anything_but_its_route(
    secure: Secure,
    canary: Canary,
    product: str,
    shopper: str,
    source: str,
    template: str,
    signed_in: bool,
) -> None:
    target = template.format(canary=f"127.0.0.1:{canary.port}", product=product)
    token = shopper if signed_in else None
    check(send_raw(secure.port, target, source=source, token=token), target, canary)


def test_the_suite_s_own_rule_reads_targets_as_documented() -> None:
    # The oracle above is code too: a few targets it must classify each way.
    for ambiguous in ("/a/../b", "/a/%2E%2e", "/a%2Fb", "/a//b", "/a/%40x", "/a/%c0%ae", "/a\\b"):
        assert target_is_ambiguous(ambiguous), ambiguous
    for plain in ("/a/b", "/a/b/", "/a/%70", "/a/..;", "/a/b?x=../..", "/a/b;c"):
        assert not target_is_ambiguous(plain), plain
