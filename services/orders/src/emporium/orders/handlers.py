"""Handlers of the events the orders service consumes: ``catalog.events`` and ``customers.events``.

An explicit map from versioned event type to a plain async function; each runs inside the
consumer's transaction with the inbox, so a redelivery has no second effect. Types with no
handler are acknowledged and ignored (tolerant reader).
"""

from __future__ import annotations

from collections.abc import Mapping

from emporium.kit.consumer import Handler
from emporium.orders.common import EventPublisher
from emporium.orders.customers.handlers import CUSTOMER_HANDLERS
from emporium.orders.products.handlers import PRODUCT_HANDLERS
from emporium.orders.saga.handlers import build_saga_handlers
from emporium.orders.saga.handoff import PaymentHandoff

__all__ = ["build_handlers"]


def build_handlers(
    publisher: EventPublisher, handoff: PaymentHandoff | None = None
) -> Mapping[str, Handler]:
    """Every handler; the saga's stage their events through ``publisher`` (and payment
    steps through ``handoff``)."""
    return {**PRODUCT_HANDLERS, **build_saga_handlers(publisher, handoff), **CUSTOMER_HANDLERS}
