"""Handlers of ``orders.events``: reserve on ``OrderPlaced``, release on ``OrderCancelled``,
commit on ``OrderShipped``. Each runs in the consumer's transaction with the inbox.

Versions 1 and 2 of ``OrderPlaced`` and ``OrderCancelled`` are read alike: version 2 adds the
price breakdown, which stock does not need. A line's variant is its ``variant_id`` or, on
lines without one, its ``product_id`` (a product's default variant has the product's id,
so the lines of events older than variants still name the right stock)."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.catalog.invalidation import invalidate_after_commit
from emporium.catalog.inventory import service
from emporium.contracts.orders import (
    OrderCancelled,
    OrderCancelledV2,
    OrderPlaced,
    OrderPlacedV2,
    OrderShipped,
)
from emporium.kit.cache.base import Cache
from emporium.kit.consumer import Handler
from emporium.kit.events import Envelope

__all__ = ["order_handlers"]


def order_handlers(cache: Cache | None) -> Mapping[str, Handler]:
    """The handlers, bumping ``cache`` entries made stale once the consumer commits."""

    def on_placed(schema: type[OrderPlaced | OrderPlacedV2]) -> Handler:
        async def handle(session: AsyncSession, envelope: Envelope) -> None:
            event = envelope.parse(schema)
            invalidate_after_commit(cache, session)
            await service.reserve_order(session, event.order_id, event.lines)

        return handle

    def on_cancelled(schema: type[OrderCancelled | OrderCancelledV2]) -> Handler:
        async def handle(session: AsyncSession, envelope: Envelope) -> None:
            event = envelope.parse(schema)
            invalidate_after_commit(cache, session)
            await service.release_order(session, event.order_id)

        return handle

    async def on_shipped(session: AsyncSession, envelope: Envelope) -> None:
        event = envelope.parse(OrderShipped)
        invalidate_after_commit(cache, session)
        await service.commit_order(session, event.order_id)

    return {
        OrderPlaced.type_name(): on_placed(OrderPlaced),
        OrderPlacedV2.type_name(): on_placed(OrderPlacedV2),
        OrderCancelled.type_name(): on_cancelled(OrderCancelled),
        OrderCancelledV2.type_name(): on_cancelled(OrderCancelledV2),
        OrderShipped.type_name(): on_shipped,
    }
