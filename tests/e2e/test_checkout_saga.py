"""The checkout saga end to end: catalog and orders as separate processes on PostgreSQL + Kafka.

Both services run as processes (``python -m emporium.<service> serve --migrate``) on fresh
databases, with a JWKS served from the test process (the tokens a ``TokenMint`` signs), and
the tests talk to them over HTTP only. Assertions about money and stock read the services'
own databases at the end (the provider's charge table lives in the orders database).

The outcome tests share one pair for the module (``shared``): each has a customer and a
product of its own, so none sees another's orders, and a pair's start (two processes,
migrations, consumer groups) is paid once rather than six times (about a minute each on a
machine busy with the other suites). A test that kills a service, or needs pairs of its
own, starts its own (``platform``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

from emporium.kit.testing.polling import eventually
from emporium.kit.testing.tokens import TokenMint

pytestmark = pytest.mark.e2e

#: tests/e2e/platform.py, as tests/e2e/conftest.py loads it.
_PLATFORM: Any = sys.modules["emporium_e2e_platform"]

ROOT = Path(__file__).resolve().parents[2]
ADDRESS = {"line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}
SETTLED = {"confirmed", "rejected", "cancelled", "shipped"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def jwks_url() -> Iterator[tuple[str, TokenMint]]:
    """A JWKS endpoint for the services, serving the keys of a test mint."""
    with _jwks_served() as served:
        yield served


@contextlib.contextmanager
def _jwks_served() -> Iterator[tuple[str, TokenMint]]:
    mint = TokenMint()
    body = json.dumps(mint.jwks()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks", mint
    server.shutdown()
    server.server_close()


@dataclass
class Service:
    name: str
    env: dict[str, str]
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"emporium.{self.name}", "serve", "--migrate"],
            env=self.env,
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        handle.close()

    async def ready(self) -> None:
        async def probe() -> bool:
            assert self.process is not None
            assert self.process.poll() is None, self.log.read_text()[-4000:]
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    return (await client.get(self.url + "/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        # Generous: other suites' platforms may be starting on the same cores.
        await eventually(probe, timeout=300, interval=0.2)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@dataclass
class Platform:
    catalog: Service
    orders: Service
    mint: TokenMint
    catalog_db: str
    orders_db: str
    http: httpx.AsyncClient
    admin: dict[str, str] = field(default_factory=dict)

    def auth(self, customer: uuid.UUID) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.mint.token(customer, ttl=900)}"}

    async def product(self, *, on_hand: int, price: int = 1500) -> str:
        sku = f"E2E-{uuid.uuid4().hex[:10]}"
        body = {"sku": sku, "name": sku, "price": {"amount": price, "currency": "EUR"}}
        created = await self.http.post(
            self.catalog.url + "/admin/products", json=body, headers=self.admin
        )
        assert created.status_code == 201, created.text
        product_id: str = created.json()["id"]
        stock = await self.http.put(
            f"{self.catalog.url}/admin/products/{product_id}/stock",
            json={"on_hand": on_hand},
            headers=self.admin,
        )
        assert stock.status_code == 200, stock.text
        return product_id

    async def add(self, customer: uuid.UUID, product_id: str, quantity: int) -> None:
        """Put it in the cart, once the orders read model has heard of the product."""

        async def probe() -> bool:
            response = await self.http.put(
                f"{self.orders.url}/cart/items/{product_id}",
                json={"quantity": quantity},
                headers=self.auth(customer),
            )
            assert response.status_code == 200, response.text
            return True

        await eventually(probe, timeout=60, interval=0.2)

    async def checkout(
        self, customer: uuid.UUID, *, token: str = "tok_visa", key: str | None = None
    ) -> httpx.Response:
        return await self.http.post(
            self.orders.url + "/orders",
            json={"shipping_address": ADDRESS, "payment": {"card_token": token}},
            headers={**self.auth(customer), "Idempotency-Key": key or uuid.uuid4().hex},
        )

    async def order(self, customer: uuid.UUID, order_id: str) -> dict[str, Any]:
        response = await self.http.get(
            f"{self.orders.url}/orders/{order_id}", headers=self.auth(customer)
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def until(
        self, customer: uuid.UUID, order_id: str, status: str, timeout: float = 60
    ) -> dict[str, Any]:
        async def probe() -> dict[str, Any]:
            order = await self.order(customer, order_id)
            assert order["status"] == status, order
            return order

        return await eventually(probe, timeout=timeout, interval=0.2)

    async def reserved(self, product_id: str) -> int:
        return int(
            await _fetchval(
                self.catalog_db,
                "SELECT coalesce(sum(reserved), 0) FROM stock_level WHERE variant_id = $1",
                uuid.UUID(product_id),
            )
        )

    async def until_reserved(self, product_id: str, expected: int) -> None:
        async def probe() -> bool:
            assert await self.reserved(product_id) == expected
            return True

        await eventually(probe, timeout=60, interval=0.2)

    async def charges(self, order_id: str) -> list[asyncpg.Record]:
        return await _fetch(
            self.orders_db,
            "SELECT status, amount, refunded_amount FROM simulated_charge"
            " WHERE idempotency_key = $1",
            f"order-{order_id}-charge",
        )


async def _fetch(dsn: str, query: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn)
    try:
        rows: list[asyncpg.Record] = await connection.fetch(query, *args)
        return rows
    finally:
        await connection.close()


async def _fetchval(dsn: str, query: str, *args: Any) -> Any:
    rows = await _fetch(dsn, query, *args)
    return rows[0][0] if rows else 0


async def _database(admin_url: str, name: str) -> str:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return f"{admin_url.rpartition('/')[0]}/{name}"


async def _drop(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def _admin_url() -> str:
    return _infra("EMPORIUM_POSTGRES_URL")


def _infra(variable: str) -> str:
    """The infrastructure's setting, or the test fails (CI) or skips saying it is missing."""
    value = os.environ.get(variable)
    if not value:
        message = f"{variable} is not set: start the infrastructure (make up)"
        if os.environ.get("EMPORIUM_REQUIRE_INFRA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return value


@contextlib.asynccontextmanager
async def running_pair(
    run: str, kafka_bootstrap: str, jwks_url: tuple[str, TokenMint], folder: Path
) -> AsyncIterator[Platform]:
    """Catalog and orders on fresh databases and on Kafka topics of their own (``<run>.``)."""
    admin_url = _admin_url()
    url, mint = jwks_url
    topic_prefix = f"{run}."
    folder.mkdir(parents=True, exist_ok=True)
    names = {s: f"{run}_{s}".replace("-", "_") for s in ("catalog", "orders")}
    dsns = {s: await _database(admin_url, n) for s, n in names.items()}
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CATALOG_", "ORDERS_"))}

    def env(prefix: str, name: str, port: int, **extra: str) -> dict[str, str]:
        values = {
            "DATABASE_URL": dsns[name].replace("postgresql://", "postgresql+asyncpg://", 1),
            "BUS": "kafka",
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "JWKS_URL": url,
            # Topics and consumer groups of this pair's own (fresh, so nothing to replay):
            # no other platform on the broker answers these orders, nor these theirs.
            "TOPIC_PREFIX": topic_prefix,
            "OUTBOX_POLL_SECONDS": "0.2",
            "HANDLER_BACKOFF_SECONDS": "0.1",
            **extra,
        }
        return {**base, **{prefix + k: v for k, v in values.items()}}

    catalog_port, orders_port = _free_port(), _free_port()
    catalog = Service(
        "catalog",
        env("CATALOG_", "catalog", catalog_port, STORAGE="local", MEDIA_DIR=str(folder)),
        catalog_port,
        folder / "catalog.log",
    )
    orders = Service(
        "orders",
        env(
            "ORDERS_",
            "orders",
            orders_port,
            PAYMENT_BACKOFF_SECONDS="0.2",
            PAYMENT_BACKOFF_CAP_SECONDS="1",
            PAYMENT_MAX_ATTEMPTS="3",
            PAYMENT_POLL_SECONDS="0.1",
            PAYMENT_LEASE_SECONDS="3",
            RESERVATION_TIMEOUT_SECONDS="120",
        ),
        orders_port,
        folder / "orders.log",
    )
    catalog.start()
    orders.start()
    try:
        await asyncio.gather(catalog.ready(), orders.ready())
        async with httpx.AsyncClient(timeout=30) as http:
            admin = {"Authorization": f"Bearer {mint.token(role='admin', ttl=900)}"}
            yield Platform(catalog, orders, mint, dsns["catalog"], dsns["orders"], http, admin)
    finally:
        orders.stop()
        catalog.stop()
        for name in names.values():
            await _drop(admin_url, name)
        await _PLATFORM.delete_topics(kafka_bootstrap, topic_prefix)


@pytest.fixture
async def platform(
    unique: str,
    kafka_bootstrap: str,
    jwks_url: tuple[str, TokenMint],
    tmp_path: Path,
) -> AsyncIterator[Platform]:
    """A pair of this test's own."""
    async with running_pair(unique, kafka_bootstrap, jwks_url, tmp_path) as made:
        yield made


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    """One pair for the module's outcome tests (they run in the module's event loop)."""
    bootstrap = _infra("EMPORIUM_KAFKA_BOOTSTRAP")
    run = f"t-saga-shared-{uuid.uuid4().hex[:8]}"
    with _jwks_served() as served:
        async with running_pair(run, bootstrap, served, tmp_path_factory.mktemp("pair")) as made:
            yield made


#: The outcome tests run in the module's event loop, which the shared pair lives in.
shared_loop = pytest.mark.asyncio(loop_scope="module")


@shared_loop
async def test_happy_path_confirms_the_order_and_keeps_the_stock_reserved(
    shared: Platform,
) -> None:
    customer = uuid.uuid4()
    product = await shared.product(on_hand=10)
    await shared.add(customer, product, 3)
    placed = await shared.checkout(customer)
    assert placed.status_code == 202, placed.text
    order = await shared.until(customer, placed.json()["id"], "confirmed")
    assert [h["status"] for h in order["history"]] == ["pending", "confirmed"]
    assert await shared.reserved(product) == 3
    [charge] = await shared.charges(order["id"])
    assert (charge["status"], charge["amount"]) == ("approved", 4500)


@shared_loop
async def test_out_of_stock_rejects_the_order(shared: Platform) -> None:
    customer = uuid.uuid4()
    product = await shared.product(on_hand=1)
    await shared.add(customer, product, 2)
    placed = await shared.checkout(customer)
    order = await shared.until(customer, placed.json()["id"], "rejected")
    assert "2 requested, 1 available" in order["status_reason"]
    assert await shared.reserved(product) == 0
    assert await shared.charges(order["id"]) == []


@shared_loop
async def test_a_declined_card_cancels_and_the_stock_is_released(shared: Platform) -> None:
    customer = uuid.uuid4()
    product = await shared.product(on_hand=5)
    await shared.add(customer, product, 2)
    placed = await shared.checkout(customer, token="tok_decline")
    order = await shared.until(customer, placed.json()["id"], "cancelled")
    assert order["status_reason"] == "payment declined: card declined"
    await shared.until_reserved(product, 0)


@shared_loop
async def test_an_unavailable_provider_is_retried_then_cancelled_and_released(
    shared: Platform,
) -> None:
    customer = uuid.uuid4()
    product = await shared.product(on_hand=5)
    await shared.add(customer, product, 1)
    placed = await shared.checkout(customer, token="tok_error")
    order = await shared.until(customer, placed.json()["id"], "cancelled")
    assert order["status_reason"] == "payment provider unavailable after 3 attempts"
    await shared.until_reserved(product, 0)
    assert await shared.charges(order["id"]) == []


@shared_loop
async def test_cancel_after_confirm_refunds_and_returns_the_stock(shared: Platform) -> None:
    customer = uuid.uuid4()
    product = await shared.product(on_hand=5)
    await shared.add(customer, product, 2)
    placed = await shared.checkout(customer)
    order_id = placed.json()["id"]
    await shared.until(customer, order_id, "confirmed")
    await shared.until_reserved(product, 2)
    cancel = await shared.http.post(
        f"{shared.orders.url}/orders/{order_id}/cancel", headers=shared.auth(customer)
    )
    assert cancel.status_code == 200
    assert cancel.json()["status"] == "cancelled"
    await shared.until_reserved(product, 0)

    async def refunded() -> bool:
        [charge] = await shared.charges(order_id)
        assert charge["refunded_amount"] == charge["amount"] == 3000
        return True

    await eventually(refunded, timeout=30)


@shared_loop
async def test_the_same_idempotency_key_twice_makes_one_order_and_one_charge(
    shared: Platform,
) -> None:
    customer = uuid.uuid4()
    product = await shared.product(on_hand=5)
    await shared.add(customer, product, 1)
    first, second = await asyncio.gather(
        shared.checkout(customer, key="same-key"), shared.checkout(customer, key="same-key")
    )
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    await shared.until(customer, first.json()["id"], "confirmed")
    again = await shared.checkout(customer, key="same-key")
    assert again.json()["id"] == first.json()["id"]
    listed = await shared.http.get(shared.orders.url + "/orders", headers=shared.auth(customer))
    assert len(listed.json()["items"]) == 1
    assert len(await shared.charges(first.json()["id"])) == 1
    assert await shared.reserved(product) == 1


async def test_sigkill_of_orders_during_50_checkouts_settles_every_order_exactly_once(
    platform: Platform,
) -> None:
    product = await platform.product(on_hand=40, price=1000)
    customers = [uuid.uuid4() for _ in range(50)]
    tokens = ["tok_decline" if i % 10 == 3 else "tok_visa" for i in range(50)]
    await asyncio.gather(*(platform.add(c, product, 1) for c in customers))
    keys = [uuid.uuid4().hex for _ in customers]

    async def checkout(i: int) -> str:
        """Like a storefront: retry with the same key until the service answers 202."""
        while True:
            try:
                response = await platform.checkout(customers[i], token=tokens[i], key=keys[i])
                if response.status_code == 202:
                    order_id: str = response.json()["id"]
                    return order_id
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)

    tasks = [asyncio.create_task(checkout(i)) for i in range(50)]

    async def some_placed() -> bool:
        placed = await _fetchval(platform.orders_db, "SELECT count(*) FROM customer_order")
        assert placed >= 10
        return True

    # Kill while orders are placed, some in the saga and the rest still being sent.
    await eventually(some_placed, timeout=60, interval=0.02)
    unsettled = await _fetchval(
        platform.orders_db, "SELECT count(*) FROM customer_order WHERE status = 'pending'"
    )
    platform.orders.kill()
    platform.orders.start()
    await platform.orders.ready()
    order_ids = await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
    assert len(set(order_ids)) == 50
    assert unsettled > 0  # the kill did land in the middle of the saga

    async def all_settled() -> list[dict[str, Any]]:
        found = [await platform.order(c, o) for c, o in zip(customers, order_ids, strict=True)]
        pending = [o["id"] for o in found if o["status"] not in SETTLED]
        assert not pending, f"{len(pending)} orders not settled"
        return found

    final = await eventually(all_settled, timeout=180, interval=0.5)
    open_quantity = sum(
        line["quantity"] for o in final if o["status"] == "confirmed" for line in o["lines"]
    )
    await platform.until_reserved(product, open_quantity)
    for order, token in zip(final, tokens, strict=True):
        charges = await platform.charges(order["id"])
        assert len(charges) <= 1  # one key per order, and the provider applies a key once
        if order["status"] == "confirmed":
            assert charges[0]["status"] == "approved"
            assert charges[0]["amount"] - charges[0]["refunded_amount"] == 1000
        else:
            assert all(
                c["amount"] == c["refunded_amount"] or c["status"] != "approved" for c in charges
            )
        if token == "tok_decline" and order["status"] != "rejected":
            assert order["status"] == "cancelled"
    statuses = [o["status"] for o in final]
    assert statuses.count("confirmed") <= 40


async def test_two_pairs_on_one_broker_each_answer_only_their_own_orders(
    unique: str, kafka_bootstrap: str, jwks_url: tuple[str, TokenMint], tmp_path: Path
) -> None:
    """Two catalog+orders pairs at once on the real Kafka, with different topic prefixes:
    each order is decided by its own catalog's stock, and neither catalog hears of the
    other's orders (on shared topics each catalog answers every OrderPlaced)."""
    async with (
        running_pair(f"{unique}-a", kafka_bootstrap, jwks_url, tmp_path / "a") as first,
        running_pair(f"{unique}-b", kafka_bootstrap, jwks_url, tmp_path / "b") as second,
    ):
        customer = uuid.uuid4()
        plenty = await first.product(on_hand=5)
        scarce = await second.product(on_hand=1)
        await first.add(customer, plenty, 2)
        await second.add(customer, scarce, 2)
        placed = await asyncio.gather(first.checkout(customer), second.checkout(customer))
        assert [p.status_code for p in placed] == [202, 202]
        first_id, second_id = (p.json()["id"] for p in placed)

        confirmed = await first.until(customer, first_id, "confirmed")
        rejected = await second.until(customer, second_id, "rejected")

        assert [h["status"] for h in confirmed["history"]] == ["pending", "confirmed"]
        assert "2 requested, 1 available" in rejected["status_reason"]
        assert await first.reserved(plenty) == 2
        assert await second.reserved(scarce) == 0
        decided = "SELECT order_id::text FROM order_reservation"
        assert [r[0] for r in await _fetch(first.catalog_db, decided)] == [first_id]
        assert [r[0] for r in await _fetch(second.catalog_db, decided)] == [second_id]
