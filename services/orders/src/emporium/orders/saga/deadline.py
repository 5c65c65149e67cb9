"""When a pending order has waited too long for catalog's answer (pure: no I/O, no clock).

The deadline counts from when catalog *could* have seen the order, not from checkout:

- from the moment the ``OrderPlaced`` outbox row was published (its ``sent_at``, set by the
  relay with the database's clock). While the row is still pending (the bus is down, the
  relay is behind) there is no deadline at all: catalog cannot have read it;
- and never before the bus was last seen down by this sweeper (``bus_down_at``): after an
  outage every pending order gets the whole timeout again, since catalog's answer may have
  been stuck in *its* outbox meanwhile. While the bus is down the deadline is ``now +
  timeout``, so nothing is cancelled during an outage.

Fallbacks: an order with no known ``OrderPlaced`` row (placed before the row id was kept,
or the row was purged after ``outbox_retention``, long after publication) counts from
checkout, as before; a *parked* row (the relay set it aside and will not publish it without
an operator) counts from checkout too: catalog never saw the order, so cancelling it
releases nothing and stops the customer waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from emporium.kit.outbox import PARKED, PENDING, SENT

__all__ = ["PlacedRow", "is_overdue", "reservation_deadline"]


@dataclass(frozen=True, slots=True)
class PlacedRow:
    """What the outbox says of the order's ``OrderPlaced`` row."""

    status: str  # pending | sent | parked
    sent_at: datetime | None


def reservation_deadline(
    *,
    placed_at: datetime,
    row: PlacedRow | None,
    timeout: timedelta,
    bus_down_at: datetime | None = None,
) -> datetime | None:
    """When catalog's silence cancels the order; None: not yet counting (event unsent)."""
    start = placed_at
    if row is not None:
        if row.status == PENDING:
            return None
        if row.status == SENT and row.sent_at is not None:
            start = max(start, row.sent_at)
        elif row.status != PARKED:
            return None  # a status this rule does not know: never cancel on a guess
    if bus_down_at is not None:
        start = max(start, bus_down_at)
    return start + timeout


def is_overdue(
    *,
    now: datetime,
    placed_at: datetime,
    row: PlacedRow | None,
    timeout: timedelta,
    bus_down_at: datetime | None = None,
) -> bool:
    deadline = reservation_deadline(
        placed_at=placed_at, row=row, timeout=timeout, bus_down_at=bus_down_at
    )
    return deadline is not None and now > deadline
