"""The catalog's outbox (events staged in the transaction that changes its state)."""

from __future__ import annotations

from emporium.kit.outbox import Outbox

__all__ = ["OUTBOX"]

#: Where the service's events are staged, inside the transaction that changes its state.
OUTBOX = Outbox(source="catalog")
