"""Handlers of the events the catalog service consumes: ``orders.events`` (stock reservations).

An explicit map from versioned event type to a plain async function; each runs inside the
consumer's transaction with the inbox, so a redelivery has no second effect. Types with no
handler are acknowledged and ignored (tolerant reader).
"""

from __future__ import annotations

from collections.abc import Mapping

from emporium.catalog.inventory.handlers import order_handlers
from emporium.kit.consumer import Handler

__all__ = ["HANDLERS", "order_handlers"]

#: The handlers without a cache to invalidate (tools, tests); the app uses
#: ``order_handlers(resources.cache)``.
HANDLERS: Mapping[str, Handler] = order_handlers(None)
