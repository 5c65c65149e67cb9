"""Handlers of ``orders.events``: reserve on ``OrderPlaced``, release on ``OrderCancelled``,
commit on ``OrderShipped``. Each runs in the consumer's transaction with the inbox."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.catalog.invalidation import invalidate_after_commit
from emporium.catalog.inventory import service
from emporium.contracts.orders import OrderCancelled, OrderPlaced, OrderShipped
from emporium.kit.cache.base import Cache
from emporium.kit.consumer import Handler
from emporium.kit.events import Envelope

__all__ = ["order_handlers"]


def order_handlers(cache: Cache | None) -> Mapping[str, Handler]:
    """The handlers, bumping ``cache`` entries made stale once the consumer commits."""

    async def on_placed(session: AsyncSession, envelope: Envelope) -> None:
        event = envelope.parse(OrderPlaced)
        invalidate_after_commit(cache, session)
        await service.reserve_order(session, event.order_id, event.lines)

    async def on_cancelled(session: AsyncSession, envelope: Envelope) -> None:
        event = envelope.parse(OrderCancelled)
        invalidate_after_commit(cache, session)
        await service.release_order(session, event.order_id)

    async def on_shipped(session: AsyncSession, envelope: Envelope) -> None:
        event = envelope.parse(OrderShipped)
        invalidate_after_commit(cache, session)
        await service.commit_order(session, event.order_id)

    return {
        OrderPlaced.type_name(): on_placed,
        OrderCancelled.type_name(): on_cancelled,
        OrderShipped.type_name(): on_shipped,
    }
