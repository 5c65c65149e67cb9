"""How many SQL statements a cart ``PUT`` and a ``POST /orders`` cost on PostgreSQL.

Checkout throughput is bounded by the orders process's CPU, and every statement costs
statement building, a round trip and row decoding while the request holds a pooled
connection. These counts are the budget: a change that adds a statement to the hot path
should say why. Only the request's own statements are counted (its task's context), not
the relay's, the consumer's or the payment worker's running beside it.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from emporium.contracts.catalog import StockReserved

from .test_wakeups import app_settings

REAL_ONLY = pytest.mark.parametrize("backend", ["real"], indirect=True)

# The saga's steps are woken, so its count is not padded by polls.
__all__ = ["app_settings"]  # the fixture, shared with test_wakeups


_COUNTED: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "counted_statements", default=None
)


@contextmanager
def statements(orders: Any) -> Iterator[list[str]]:
    """The statements run in this task's context while the block runs."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        bucket = _COUNTED.get()
        if bucket is not None:
            bucket.append(" ".join(statement.split()))

    engine = orders.database.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    token = _COUNTED.set(seen)
    try:
        yield seen
    finally:
        _COUNTED.reset(token)
        event.remove(engine, "before_cursor_execute", count)


@REAL_ONLY
async def test_a_cart_put_and_a_checkout_stay_within_their_statement_budget(
    orders: Any,
) -> None:
    customer = uuid.uuid4()
    product = await orders.product(price=1250)
    await orders.add(customer, product)  # the cart exists: the steady state of a shopper
    with statements(orders) as put:
        assert (await orders.add(customer, product, 2)).status_code == 200
    with statements(orders) as post:
        placed = await orders.checkout(customer)
    assert placed.status_code == 202, placed.text
    # PUT: the variant with its product, the cart locked and read in one statement (and
    # stamped), its items and the variant's prices, the quantity; then the view from those
    # rows (only other items' variants, products and prices are read: none here) and the
    # rules' version (the rules themselves are held in memory). Was 8, 12, 16 before that.
    assert len(put) <= 7, "\n".join(put)
    # POST: the cart locked, the key looked up, the quote (the items with their variants,
    # products and prices in one statement, the rules' version), the order, its lines, its
    # outbox row with its NOTIFY (one statement), its first history entry, the cart emptied
    # (the answer shows the lines and history just made). Was 10, 11, 13, 21 before that.
    assert len(post) <= 9, "\n".join(post)


@contextmanager
def all_statements(orders: Any) -> Iterator[list[str]]:
    """Every statement of the app's two pools (requests, workers) while the block runs,
    but the relay's (the kit's, batched as it finds rows)."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        text = " ".join(statement.split())
        if "relay_lock" not in text and "FROM outbox_message" not in text:
            seen.append(text)

    engines = {orders.database.sync_engine, orders.database.for_workers().sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)


@REAL_ONLY
async def test_the_saga_from_placed_to_confirmed_stays_within_its_statement_budget(
    orders: Any,
) -> None:
    customer = uuid.uuid4()
    order = await orders.place(customer)
    with all_statements(orders) as saga:
        await orders.publish(StockReserved(order_id=order["id"]), uuid.UUID(order["id"]))
        # Waited for on the bus, not through the API: no statement of its own.
        assert await orders.events(order["id"], count=2) == ["OrderPlaced", "OrderConfirmed"]
    # The inbox row (the kit's consumer); the order locked with whether it has a payment;
    # the payment row, written claimed and handed to this process's worker (no claim
    # transaction, no NOTIFY); the charge (the simulated provider's INSERT ... RETURNING);
    # the record: the order and the payment locked in one statement, both updated, the
    # history entry numbered by its own INSERT, OrderConfirmed in the outbox with its
    # NOTIFY (one statement). Was 10 (the NOTIFY a statement of its own), 11 (a lock
    # statement each for the order and the payment), 19 before that (a
    # claim transaction and the empty look its NOTIFY caused, a read of the last history
    # number, a redemption UPDATE for an order without a code, the provider's read back).
    assert len(saga) <= 9, "\n".join(saga)
