"""Handlers of the events the orders service consumes: ``catalog.events`` and ``customers.events``.

An explicit map from versioned event type to a plain async function; each runs inside the
consumer's transaction with the inbox, so a redelivery has no second effect. Types with no
handler are acknowledged and ignored (tolerant reader).
"""

from __future__ import annotations

from collections.abc import Mapping

from emporium.kit.consumer import Handler

__all__ = ["HANDLERS"]

HANDLERS: Mapping[str, Handler] = {}
