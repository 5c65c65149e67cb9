"""What the security tests share (loaded by ``conftest.py`` as ``emporium_security``).

The security suite's platform: the e2e platform with the settings these tests need.

One platform per session (``start_platform(extra_env=...)`` of ``tests/e2e/platform.py``):

- ``GATEWAY_TRUSTED_PROXIES=127.0.0.2/32``: 127.0.0.2 plays a trusted load balancer, every
  other loopback address (127.0.0.3, 127.a.b.c ...) an untrusted client;
- a small per-customer stream cap and stream lifetime;
- its own Redis database (flushed at start), so its rate-limit windows neither hit nor are
  hit by the other platforms running on the shared Redis;
- like every started platform, Kafka topics and consumer groups of its own (the run's
  topic prefix), so it runs beside the e2e and browser suites' platforms.

Clients come from loopback addresses of their own (``client(ip)``): each test's per-address
buckets (rate limits, sign-in throttling) start empty. Nothing here sends ``X-Forwarded-For``
unless the test is about it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

_PLATFORM = Path(__file__).resolve().parents[1] / "e2e" / "platform.py"
if "emporium_e2e_platform" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("emporium_e2e_platform", _PLATFORM)
    assert _spec is not None
    assert _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["emporium_e2e_platform"] = _module
    _spec.loader.exec_module(_module)
platform_module: Any = sys.modules["emporium_e2e_platform"]

TRUSTED_PROXY = "127.0.0.2"
STREAMS_PER_CUSTOMER = 10
STREAM_MAX_SECONDS = 20
RATE_LIMIT_AUTH = 120
REDIS_DB = 6
PASSWORD = "security suite password 1"
_INFRA = (
    "EMPORIUM_POSTGRES_URL",
    "EMPORIUM_KAFKA_BOOTSTRAP",
    "EMPORIUM_REDIS_URL",
    "EMPORIUM_S3_ENDPOINT",
)


def loopback() -> str:
    """A loopback address of its own (never 127.0.0.1 nor the trusted proxy)."""
    return f"127.{random.randint(10, 250)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


@dataclass
class Secure:
    """The platform under test and what the suite needs beyond its public URL."""

    platform: Any
    customers_database_url: str

    @property
    def api(self) -> str:
        return str(self.platform.api)

    @property
    def base_url(self) -> str:
        return str(self.platform.base_url)

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])


def start() -> Iterator[Secure]:
    """The platform started for this suite (always here: it needs its own settings)."""
    if os.environ.get("EMPORIUM_E2E_BASE_URL"):
        pytest.skip("the security suite starts its own platform (it needs its own settings)")
    missing = [name for name in _INFRA if not os.environ.get(name)]
    if missing:
        message = f"{', '.join(missing)} not set: start the infrastructure (make up)"
        if os.environ.get("EMPORIUM_REQUIRE_INFRA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    redis_url = platform_module._redis_db(os.environ["EMPORIUM_REDIS_URL"], REDIS_DB)
    import redis

    with redis.Redis.from_url(redis_url) as connection:
        connection.flushdb()
    extra = {
        "GATEWAY_TRUSTED_PROXIES": f"{TRUSTED_PROXY}/32",
        "GATEWAY_STREAMS_PER_CUSTOMER": str(STREAMS_PER_CUSTOMER),
        "GATEWAY_STREAM_MAX_SECONDS": str(STREAM_MAX_SECONDS),
        "GATEWAY_STREAM_CHECK_SECONDS": "1",
        "GATEWAY_RATE_LIMIT_AUTH": str(RATE_LIMIT_AUTH),
        # Each open order stream polls the orders database: 2 s keeps 150 of them cheap.
        "ORDERS_SSE_POLL_SECONDS": "2",
        **{
            f"{name}_REDIS_URL": redis_url for name in ("GATEWAY", "CUSTOMERS", "CATALOG", "ORDERS")
        },
    }
    platform, started = platform_module.start_platform(extra_env=extra)
    assert started is not None
    try:
        pg = os.environ["EMPORIUM_POSTGRES_URL"].rpartition("/")[0]
        database = started.databases["customers"]
        yield Secure(platform, f"{pg.replace('postgresql:', 'postgresql+asyncpg:')}/{database}")
    finally:
        started.close()


def client(secure: Secure, ip: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
    """An async client of the API from loopback address ``ip`` (a fresh one by default)."""
    transport = httpx.AsyncHTTPTransport(
        local_address=ip or loopback(),
        limits=kwargs.pop("limits", httpx.Limits(max_connections=200)),
    )
    return httpx.AsyncClient(
        base_url=secure.api, transport=transport, timeout=kwargs.pop("timeout", 30), **kwargs
    )


@dataclass
class Account:
    """A customer (or the admin) signed in: its id, credentials and tokens."""

    id: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def sign_in(http: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    answer = await http.post("/auth/token", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    return tokens


async def register(http: httpx.AsyncClient, name: str = "Customer") -> Account:
    """A new customer, signed in."""
    email = f"sec-{uuid.uuid4().hex[:12]}@e2e.emporium.test"
    answer = await http.post(
        "/auth/register", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert answer.status_code == 201, answer.text
    tokens = await sign_in(http, email, PASSWORD)
    return Account(
        answer.json()["id"], email, PASSWORD, tokens["access_token"], tokens["refresh_token"]
    )


async def admin(http: httpx.AsyncClient, secure: Secure) -> Account:
    """A new session of the platform's admin account."""
    platform = secure.platform
    tokens = await sign_in(http, platform.admin_email, platform.admin_password)
    me = await http.get("/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200, me.text
    return Account(
        me.json()["id"],
        platform.admin_email,
        platform.admin_password,
        tokens["access_token"],
        tokens["refresh_token"],
    )


ADDRESS = {
    "line1": "1 Security Street",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


async def stocked_product(http: httpx.AsyncClient, boss: Account, on_hand: int = 1000) -> str:
    """A new product (in a new category) with ``on_hand`` units; its id."""
    tag = uuid.uuid4().hex[:10]
    category = await http.post(
        "/admin/categories", json={"slug": f"sec-{tag}", "name": f"Sec {tag}"}, headers=boss.headers
    )
    assert category.status_code == 201, category.text
    product = await http.post(
        "/admin/products",
        json={
            "sku": f"SEC-{tag}",
            "name": f"Security probe {tag}",
            "description": "a product of the security suite",
            "price": {"amount": 1000, "currency": "EUR"},
            "category_id": category.json()["id"],
            "attributes": {},
        },
        headers=boss.headers,
    )
    assert product.status_code == 201, product.text
    product_id: str = product.json()["id"]
    stock = await http.put(
        f"/admin/products/{product_id}/stock", json={"on_hand": on_hand}, headers=boss.headers
    )
    assert stock.status_code == 200, stock.text
    return product_id


async def place_order(http: httpx.AsyncClient, who: Account, product_id: str) -> str:
    """An order of one unit of ``product_id`` by ``who``; its id.

    The orders service learns of a new product from the catalog's events: until it has,
    the product is unknown there (404), so the first cart item is retried for a while.
    """
    import asyncio
    import time

    deadline = time.monotonic() + 30
    while True:
        put = await http.put(f"/cart/items/{product_id}", json={"quantity": 1}, headers=who.headers)
        if put.status_code != 404 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert put.status_code == 200, put.text
    order = await http.post(
        "/orders",
        json={"shipping_address": ADDRESS, "payment": {"card_token": "tok_visa"}},
        headers={**who.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert order.status_code == 202, order.text
    order_id: str = order.json()["id"]
    return order_id


async def order_status(
    http: httpx.AsyncClient, who: Account, order_id: str, wanted: str, timeout: float = 30
) -> None:
    """Wait (poll, with a deadline) until the order has status ``wanted``."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    order: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = await http.get(f"/orders/{order_id}", headers=who.headers)
        order = answer.json()
        if order.get("status") == wanted:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(
        f"order {order_id} is {order.get('status')!r} ({order.get('status_reason')!r}), "
        f"not {wanted!r}, after {timeout}s"
    )


def is_problem(answer: httpx.Response) -> bool:
    return answer.headers.get("content-type", "").startswith("application/problem+json")


class Canary:
    """An HTTP server on loopback that records every connection made to it.

    Nothing the suite does should ever reach it: it stands for an internal host (cloud
    metadata, an admin port) that a path trick, a forged ``Host`` or a token's ``jku`` would
    make the platform call. ``json_body`` is what it answers (a JWKS for the ``jku`` tests).
    """

    def __init__(self) -> None:
        import http.server
        import threading

        canary = self
        self.hits: list[str] = []
        self.json_body: dict[str, Any] = {"canary": True}

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                canary.hits.append(f"{self.command} {self.path}")
                body = json.dumps(canary.json_body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def process_request(self, request: Any, client_address: Any) -> None:
                canary.hits.append(f"connection from {client_address[0]}")
                super().process_request(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port: int = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Canary:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def sync_client(secure: Secure, ip: str | None = None, **kwargs: Any) -> httpx.Client:
    """A blocking client of the API from loopback address ``ip`` (a fresh one by default)."""
    transport = httpx.HTTPTransport(local_address=ip or loopback())
    return httpx.Client(
        base_url=secure.api, transport=transport, timeout=kwargs.pop("timeout", 30), **kwargs
    )


def sync_register(http: httpx.Client, name: str = "Customer") -> Account:
    """A new customer, signed in (blocking)."""
    email = f"sec-{uuid.uuid4().hex[:12]}@e2e.emporium.test"
    answer = http.post("/auth/register", json={"email": email, "password": PASSWORD, "name": name})
    assert answer.status_code == 201, answer.text
    tokens = http.post("/auth/token", json={"email": email, "password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    return Account(
        answer.json()["id"], email, PASSWORD, body["access_token"], body["refresh_token"]
    )
