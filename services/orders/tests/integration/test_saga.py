"""The checkout saga, with the tests playing catalog on the bus (the service's edge)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import func, select

from emporium.contracts.base import EventData
from emporium.contracts.catalog import (
    ShortLine,
    ShortVariantLine,
    StockReservationRejected,
    StockReservationRejectedV2,
    StockReserved,
)
from emporium.kit.events import Envelope
from emporium.orders.models import Payment, SimulatedCharge, SimulatedRefund
from emporium.orders.saga.handlers import charge_key


async def _charges(orders: Any, order_id: str) -> list[SimulatedCharge]:
    async with orders.database.session() as session:
        rows = await session.scalars(
            select(SimulatedCharge).where(SimulatedCharge.idempotency_key == charge_key(order_id))
        )
        return list(rows)


async def _payment(orders: Any, order_id: str) -> Payment:
    async with orders.database.session() as session:
        payment = await session.get(Payment, UUID(order_id))
        assert payment is not None
        return payment


async def _cancelled_event(orders: Any, order_id: str) -> dict[str, Any]:
    [envelope] = [
        e for e in orders.seen if e.key == order_id and e.type == "orders.OrderCancelled.v2"
    ]
    assert isinstance(envelope, Envelope)
    return envelope.data


async def test_stock_reserved_and_an_approved_card_confirm_the_order(orders: Any) -> None:
    customer = uuid.uuid4()
    order = await orders.place(customer)
    await orders.publish(StockReserved(order_id=order["id"]), UUID(order["id"]))
    confirmed = await orders.until_status(customer, order["id"], "confirmed")
    assert [h["status"] for h in confirmed["history"]] == ["pending", "confirmed"]
    assert await orders.events(order["id"], count=2) == ["OrderPlaced", "OrderConfirmed"]
    [charge] = await _charges(orders, order["id"])
    assert (charge.status, charge.amount) == ("approved", order["total"]["amount"])
    assert (await _payment(orders, order["id"])).status == "captured"


def _rejection(version: int, order: dict[str, Any], requested: int, available: int) -> EventData:
    """Catalog's answer in either version still in the topic: v1 names the product (the
    default variant's id), v2 the variant and its product."""
    line = order["lines"][0]
    if version == 1:
        short = ShortLine(product_id=line["product_id"], requested=requested, available=available)
        return StockReservationRejected(order_id=order["id"], short_lines=[short])
    variant = ShortVariantLine(
        variant_id=line["variant_id"],
        product_id=line["product_id"],
        requested=requested,
        available=available,
    )
    return StockReservationRejectedV2(order_id=order["id"], short_lines=[variant])


@pytest.mark.parametrize("version", [1, 2])
async def test_a_reservation_rejected_rejects_the_order_naming_the_short_lines(
    orders: Any, version: int
) -> None:
    customer = uuid.uuid4()
    order = await orders.place(customer, quantity=3)
    line = order["lines"][0]
    await orders.publish(_rejection(version, order, 3, 1), UUID(order["id"]))
    rejected = await orders.until_status(customer, order["id"], "rejected")
    assert rejected["status_reason"] == f"out of stock: {line['sku']}: 3 requested, 1 available"
    assert await orders.events(order["id"], count=2) == ["OrderPlaced", "OrderRejected"]
    assert await _charges(orders, order["id"]) == []


async def test_a_declined_card_cancels_the_order_so_catalog_releases(orders: Any) -> None:
    customer = uuid.uuid4()
    order = await orders.place(customer, token="tok_decline")
    await orders.publish(StockReserved(order_id=order["id"]), UUID(order["id"]))
    cancelled = await orders.until_status(customer, order["id"], "cancelled")
    assert cancelled["status_reason"] == "payment declined: card declined"
    assert await orders.events(order["id"], count=2) == ["OrderPlaced", "OrderCancelled"]
    event = await _cancelled_event(orders, order["id"])
    assert event["reason"] == "payment declined: card declined"
    assert event["was_confirmed"] is False


async def test_an_unavailable_provider_is_retried_then_the_order_is_cancelled(
    orders: Any,
) -> None:
    customer = uuid.uuid4()
    order = await orders.place(customer, token="tok_error")
    await orders.publish(StockReserved(order_id=order["id"]), UUID(order["id"]))
    cancelled = await orders.until_status(customer, order["id"], "cancelled")
    attempts = orders.settings.payment_max_attempts
    assert cancelled["status_reason"] == f"payment provider unavailable after {attempts} attempts"
    payment = await _payment(orders, order["id"])
    assert (payment.status, payment.attempts) == ("failed", attempts)
    assert await orders.events(order["id"], count=2) == ["OrderPlaced", "OrderCancelled"]


async def test_a_redelivered_reservation_charges_once(orders: Any) -> None:
    customer = uuid.uuid4()
    order = await orders.place(customer)
    reserved = StockReserved(order_id=order["id"])
    envelope = await orders.publish(reserved, UUID(order["id"]))
    # The same event again (a redelivery) and a second copy under a new id.
    from emporium.kit.bus.base import Record

    record = Record(orders.settings.catalog_topic, envelope.to_bytes(), order["id"].encode())
    await orders.bus.publish([record])
    await orders.publish(reserved, UUID(order["id"]))
    await orders.until_status(customer, order["id"], "confirmed")
    assert len(await _charges(orders, order["id"])) == 1
    types = await orders.events(order["id"], count=2)
    assert types.count("OrderConfirmed") == 1


async def test_a_customer_cancels_a_pending_order_and_a_late_reservation_changes_nothing(
    orders: Any,
) -> None:
    customer = uuid.uuid4()
    order = await orders.place(customer)
    response = await orders.client.post(
        f"/orders/{order['id']}/cancel", headers=orders.auth(customer)
    )
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    await orders.publish(StockReserved(order_id=order["id"]), UUID(order["id"]))
    await orders.publish(
        StockReservationRejected(order_id=order["id"], short_lines=[]), UUID(order["id"])
    )
    # Once a later event of the same key is handled, the two above were too.
    marker = StockReserved(order_id=uuid.uuid4())
    await orders.publish(marker, UUID(order["id"]))
    assert await orders.events(order["id"], count=2) == ["OrderPlaced", "OrderCancelled"]
    assert (await orders.order(customer, order["id"]))["status"] == "cancelled"
    assert await _charges(orders, order["id"]) == []


async def test_cancelling_a_confirmed_order_refunds_it_and_tells_catalog(orders: Any) -> None:
    customer = uuid.uuid4()
    order = await orders.place(customer)
    await orders.publish(StockReserved(order_id=order["id"]), UUID(order["id"]))
    await orders.until_status(customer, order["id"], "confirmed")
    response = await orders.client.post(
        f"/orders/{order['id']}/cancel", headers=orders.auth(customer)
    )
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["status_reason"] == "cancelled by the customer"

    async def refunded() -> bool:
        assert (await _payment(orders, order["id"])).status == "refunded"
        return True

    await _eventually(refunded)
    [charge] = await _charges(orders, order["id"])
    assert charge.refunded_amount == charge.amount
    async with orders.database.session() as session:
        assert await session.scalar(select(func.count()).select_from(SimulatedRefund)) == 1
    await orders.events(order["id"], count=3)
    event = await _cancelled_event(orders, order["id"])
    assert event["was_confirmed"] is True
    assert event["total_amount"] == order["total"]["amount"]


async def test_admin_ships_a_confirmed_order_and_then_it_cannot_be_cancelled(orders: Any) -> None:
    customer = uuid.uuid4()
    order = await orders.place(customer)
    early = await orders.client.post(f"/admin/orders/{order['id']}/ship", headers=orders.admin())
    assert early.status_code == 409
    assert early.json()["type"].endswith("/illegal-status-change")
    await orders.publish(StockReserved(order_id=order["id"]), UUID(order["id"]))
    await orders.until_status(customer, order["id"], "confirmed")
    shipped = await orders.client.post(f"/admin/orders/{order['id']}/ship", headers=orders.admin())
    assert shipped.status_code == 200
    assert shipped.json()["status"] == "shipped"
    assert [h["status"] for h in shipped.json()["history"]] == ["pending", "confirmed", "shipped"]
    cancel = await orders.client.post(
        f"/orders/{order['id']}/cancel", headers=orders.auth(customer)
    )
    assert cancel.status_code == 409
    assert await orders.events(order["id"], count=3) == [
        "OrderPlaced",
        "OrderConfirmed",
        "OrderShipped",
    ]
    customer_ship = await orders.client.post(
        f"/admin/orders/{order['id']}/ship", headers=orders.auth(customer)
    )
    assert customer_ship.status_code == 403


async def test_the_event_stream_sends_each_status_change_and_ends_at_a_final_one(
    orders: Any,
) -> None:
    customer = uuid.uuid4()
    order = await orders.place(customer)

    async def read_stream() -> tuple[str, str]:
        response = await orders.client.get(
            f"/orders/{order['id']}/events", headers=orders.auth(customer)
        )
        return response.headers["content-type"], response.text

    stream = asyncio.create_task(read_stream())
    await orders.publish(StockReserved(order_id=order["id"]), UUID(order["id"]))
    await orders.until_status(customer, order["id"], "confirmed")
    await orders.client.post(f"/admin/orders/{order['id']}/ship", headers=orders.admin())
    content_type, text = await asyncio.wait_for(stream, timeout=30)
    assert content_type.startswith("text/event-stream")
    statuses = [
        line.split('"status": "')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("data:")
    ]
    assert statuses == ["pending", "confirmed", "shipped"]
    assert "id: 3" in text


async def _eventually(probe: Any) -> None:
    from emporium.kit.testing.polling import eventually

    await eventually(probe, timeout=30)


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_a_stream_resumed_with_last_event_id_sends_only_what_came_after(
    orders: Any,
) -> None:
    customer = uuid.uuid4()
    order = await orders.place(customer)
    await orders.client.post(f"/orders/{order['id']}/cancel", headers=orders.auth(customer))
    response = await orders.client.get(
        f"/orders/{order['id']}/events", headers={**orders.auth(customer), "Last-Event-ID": "1"}
    )
    data = [line for line in response.text.splitlines() if line.startswith("data:")]
    assert len(data) == 1
    assert '"status": "cancelled"' in data[0]


class TestSweeper:
    @pytest.fixture
    def app_settings(self) -> dict[str, Any]:
        return {"reservation_timeout_seconds": 0.5}

    async def test_an_order_catalog_never_answers_is_cancelled(self, orders: Any) -> None:
        customer = uuid.uuid4()
        order = await orders.place(customer)
        cancelled = await orders.until_status(customer, order["id"], "cancelled")
        assert cancelled["status_reason"].startswith("no answer from the stock reservation")
        assert await orders.events(order["id"], count=2) == ["OrderPlaced", "OrderCancelled"]
