"""The platform as processes (gateway, customers, catalog, orders) on a private PostgreSQL and
a private Kafka, while those are broken under it. Every check reads the services' databases.

- PostgreSQL down for 2 minutes with events pending for orders: every process's
  ``/healthz`` answers 200 each second of it (a service waiting on its database is alive,
  only not ready), and once PostgreSQL is back every pending event is applied.
- Kafka SIGKILLed three times and SIGSTOPped for 30 s during 50 concurrent checkouts, and
  a Kafka outage of 3 minutes with checkouts placed during it: every order ends final
  (confirmed, or rejected for want of stock), none is cancelled by a timer (a bus outage
  delays orders but cancels none), exactly the stock there was is sold, and no charge is
  left without a confirmed order.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from emporium_chaos_infra import PrivateKafka, PrivatePostgres, private_root, topic_sizes
from emporium_chaos_platform import Store, start_private_platform

from emporium.contracts.catalog import ProductCreated, ProductCreatedV2
from emporium.contracts.topics import CATALOG_EVENTS
from emporium.kit.bus import Record
from emporium.kit.bus.kafka import KafkaBus
from emporium.kit.events import wrap

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]

PRICE = 1000


@pytest.fixture(scope="module")
def platform_pg(private_kafka: PrivateKafka) -> Iterator[PrivatePostgres]:
    """A PostgreSQL of the platform's own (the kit tests' one is broken differently)."""
    with private_root("chaos-platform-pg-") as root:
        pg = PrivatePostgres(root)
        try:
            pg.init()
            pg.start()
            yield pg
        finally:
            pg.destroy()


@pytest.fixture(scope="module")
def live(platform_pg: PrivatePostgres, private_kafka: PrivateKafka) -> Iterator[tuple[Any, Any]]:
    """The four processes on the private instances, for the module."""
    import os

    missing = [n for n in ("EMPORIUM_REDIS_URL", "EMPORIUM_S3_ENDPOINT") if not os.environ.get(n)]
    if missing:
        message = f"{', '.join(missing)} not set: the platform uses the shared Redis and S3"
        if os.environ.get("EMPORIUM_REQUIRE_INFRA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    if not private_kafka.running():
        private_kafka.start()
    platform, started = start_private_platform(platform_pg, private_kafka)
    try:
        yield platform, started
    finally:
        if not platform_pg.running():
            platform_pg.start()
        started.close()


@pytest.fixture
async def store(
    live: tuple[Any, Any], platform_pg: PrivatePostgres, private_kafka: PrivateKafka
) -> AsyncIterator[Store]:
    platform, started = live
    if not platform_pg.running():
        platform_pg.start()
    if not private_kafka.running():
        private_kafka.start()
    else:
        private_kafka.resume()
    async with httpx.AsyncClient(base_url=platform.api, timeout=15) as http:
        made = Store(platform, started, platform_pg, http)
        await _eventually_ready(platform)
        await made.sign_in_admin()
        yield made


async def _eventually_ready(platform: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=3) as client:
        for process in platform.processes.values():
            while True:
                try:
                    if (await client.get(process.url + "/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"{process.name} not ready again"
                await asyncio.sleep(0.5)


async def _until(probe: Any, timeout: float, what: str, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await probe()
            if last:
                return last
        except Exception as error:
            last = error
        await asyncio.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


def _product_created(product_id: uuid.UUID, handled: set[str]) -> Any:
    """The newest version of ProductCreated the orders service handles."""
    sku = f"PENDING-{product_id.hex[:10]}"
    if ProductCreatedV2.type_name() in handled:
        return ProductCreatedV2(
            product_id=product_id,
            product_version=1,
            sku=sku,
            name=sku,
            price_amount=PRICE,
            currency="EUR",
        )
    return ProductCreated(
        product_id=product_id, sku=sku, name=sku, price_amount=PRICE, currency="EUR"
    )


async def test_postgres_down_two_minutes_keeps_every_healthz_200_and_applies_pending_events(
    store: Store, private_kafka: PrivateKafka
) -> None:
    """Invariant: /healthz 200 at every 1 s sample of a 2 min outage; pending events applied."""
    from emporium.orders.handlers import build_handlers

    handled = set(build_handlers(None).keys())  # type: ignore[arg-type]
    dlq_before = await topic_sizes(private_kafka.bootstrap)
    processes = store.platform.processes
    products = [uuid.uuid4() for _ in range(20)]
    bus = KafkaBus(private_kafka.bootstrap, request_timeout=10)
    await bus.start()
    failures: list[tuple[float, str, object]] = []
    not_ready = 0
    try:
        await asyncio.to_thread(store.pg.stop, "fast")
        t0 = time.monotonic()
        records = []
        for product in products:
            envelope = wrap(_product_created(product, handled), source="catalog", key=product)
            records.append(
                Record(
                    topic=store.platform.topic_prefix + CATALOG_EVENTS,
                    value=envelope.to_bytes(),
                    key=str(product).encode(),
                    headers=tuple(envelope.headers()),
                )
            )
        await bus.publish(records)
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() - t0 < 120:
                tick = time.monotonic()
                for name, process in processes.items():
                    try:
                        status: object = (await client.get(process.url + "/healthz")).status_code
                    except httpx.HTTPError as error:
                        status = repr(error)
                    if status != 200:
                        failures.append((round(tick - t0, 1), name, status))
                try:
                    ready = await client.get(processes["orders"].url + "/readyz")
                    not_ready += ready.status_code != 200
                except httpx.HTTPError:
                    not_ready += 1
                await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    finally:
        await asyncio.to_thread(store.pg.start)
        await bus.stop()
    assert not_ready > 0, "orders was ready all along: PostgreSQL was not really down"
    assert not failures, f"/healthz was not 200 during the outage: {failures[:20]}"

    async def all_applied() -> bool:
        count = await store.pg.fetchval(
            "SELECT count(*) FROM product_copy WHERE id = ANY($1::uuid[])",
            products,
            database=store.orders_db,
        )
        return count == len(products)

    await _until(all_applied, 120, "every pending event applied")
    dlq_after = await topic_sizes(private_kafka.bootstrap)
    grown = {t: n - dlq_before.get(t, 0) for t, n in dlq_after.items() if n > dlq_before.get(t, 0)}
    assert not grown, f"dead letters during the outage: {grown}"


async def _settle_and_check(store: Store, order_ids: list[str], product: str, stock: int) -> None:
    """Every order final, none cancelled, ``stock`` sold exactly, charges only when confirmed."""

    async def all_final() -> dict[str, tuple[str, str | None]]:
        found = await store.orders(order_ids)
        assert len(found) == len(order_ids), "an accepted order is missing from the database"
        pending = [i for i, (status, _) in found.items() if status == "pending"]
        return {} if pending else found

    final = await _until(all_final, 300, "every order final")
    cancelled = {i: reason for i, (status, reason) in final.items() if status == "cancelled"}
    assert not cancelled, f"orders cancelled (no customer cancelled any): {cancelled}"
    statuses = [status for status, _ in final.values()]
    assert set(statuses) <= {"confirmed", "rejected"}, statuses
    confirmed = statuses.count("confirmed")
    assert confirmed == min(stock, len(order_ids)), f"{confirmed} confirmed of {statuses}"
    assert await store.reserved(product) == confirmed
    charges = await store.charges()
    for order_id, (status, _) in final.items():
        net = charges.get(f"order-{order_id}-charge", 0)
        assert net == (PRICE if status == "confirmed" else 0), (order_id, status, net)
    every = await store.pg.fetch(
        "SELECT id::text, status FROM customer_order", database=store.orders_db
    )
    statuses_all = {row[0]: row[1] for row in every}  # type: ignore[index]
    for key, net in charges.items():
        order_id = key.removeprefix("order-").removesuffix("-charge")
        assert net == 0 or statuses_all.get(order_id) == "confirmed", (key, net)


async def test_kafka_sigkilled_three_times_and_stopped_30s_during_50_checkouts(
    store: Store, private_kafka: PrivateKafka
) -> None:
    """Invariant: all 50 final, none cancelled, 40 sold of 40, no charge without confirmation."""
    product = await store.product(on_hand=40, price=PRICE)
    gate = asyncio.Semaphore(8)

    async def shopper() -> Any:
        async with gate:
            made = await store.shopper()
            await made.add(product)
            return made

    shoppers = await asyncio.gather(*(shopper() for _ in range(50)))
    placed_before = int(
        await store.pg.fetchval("SELECT count(*) FROM customer_order", database=store.orders_db)  # type: ignore[call-overload]
    )
    deadline = time.monotonic() + 400
    tasks = [asyncio.create_task(s.checkout(deadline)) for s in shoppers]

    async def some_placed() -> bool:
        placed = await store.pg.fetchval(
            "SELECT count(*) FROM customer_order", database=store.orders_db
        )
        return int(placed) - placed_before >= 10  # type: ignore[call-overload]

    try:
        await _until(some_placed, 120, "10 orders placed", interval=0.1)
        in_flight = sum(not task.done() for task in tasks) + int(
            await store.pg.fetchval(  # type: ignore[call-overload]
                "SELECT count(*) FROM customer_order WHERE status = 'pending'",
                database=store.orders_db,
            )
        )
        for _ in range(3):
            await asyncio.to_thread(private_kafka.kill)
            await asyncio.sleep(2)
            await asyncio.to_thread(private_kafka.start)
        private_kafka.pause()
        await asyncio.sleep(30)
        private_kafka.resume()
        order_ids = await asyncio.gather(*tasks)
    finally:
        private_kafka.resume()
        for task in tasks:
            task.cancel()
    assert in_flight > 0, "every checkout was over before Kafka was first killed"
    assert len(set(order_ids)) == 50
    await _settle_and_check(store, order_ids, product, stock=40)


async def test_a_3_minute_kafka_outage_delays_orders_placed_during_it_but_cancels_none(
    store: Store, private_kafka: PrivateKafka
) -> None:
    """Invariant: orders placed while Kafka is down 3 min all end confirmed; none cancelled."""
    product = await store.product(on_hand=100, price=PRICE)
    shoppers = await asyncio.gather(*(store.shopper() for _ in range(10)))
    await asyncio.gather(*(shopper.add(product) for shopper in shoppers))
    await asyncio.to_thread(private_kafka.kill)
    t0 = time.monotonic()
    try:
        first = await asyncio.gather(*(s.checkout(t0 + 60) for s in shoppers[:5]))
        await asyncio.sleep(max(0.0, 150 - (time.monotonic() - t0)))
        later = await asyncio.gather(*(s.checkout(t0 + 175) for s in shoppers[5:]))
        accepted_during = time.monotonic() - t0
        await asyncio.sleep(max(0.0, 180 - (time.monotonic() - t0)))
        waiting = await store.orders([*first, *later])
    finally:
        await asyncio.to_thread(private_kafka.start)
    assert accepted_during < 180, "the checkouts were not accepted while Kafka was down"
    # They waited the whole outage (longer than the 120 s reservation timeout) undecided.
    assert {status for status, _ in waiting.values()} == {"pending"}, waiting
    await _settle_and_check(store, [*first, *later], product, stock=100)
