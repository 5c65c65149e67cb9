"""The order state machine: the one place that says which status change is allowed.

Pure: no I/O, no clock. Every change of an order's status in the service goes through
``transition``; anything not in the table is an ``IllegalTransition`` (an HTTP 409 at the
edge, a logged no-op for a late event in the saga), never a silent change.

::

    pending --stock_rejected-------------------> rejected
    pending --payment_approved-----------------> confirmed
    pending --payment_declined / payment_failed
            / timed_out / customer_cancelled --> cancelled
    confirmed --customer_cancelled-------------> cancelled
    confirmed --shipped------------------------> shipped

``rejected``, ``cancelled`` and ``shipped`` are final.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "FINAL",
    "IllegalTransition",
    "Status",
    "Transition",
    "Trigger",
    "allowed",
    "transition",
]


class Status(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    SHIPPED = "shipped"


class Trigger(StrEnum):
    """What happened to the order."""

    PLACED = "placed"
    STOCK_REJECTED = "stock_rejected"
    PAYMENT_APPROVED = "payment_approved"
    PAYMENT_DECLINED = "payment_declined"
    PAYMENT_FAILED = "payment_failed"
    TIMED_OUT = "timed_out"
    CUSTOMER_CANCELLED = "customer_cancelled"
    SHIPPED = "shipped"


FINAL: frozenset[Status] = frozenset({Status.REJECTED, Status.CANCELLED, Status.SHIPPED})

_TABLE: dict[tuple[Status, Trigger], Status] = {
    (Status.PENDING, Trigger.STOCK_REJECTED): Status.REJECTED,
    (Status.PENDING, Trigger.PAYMENT_APPROVED): Status.CONFIRMED,
    (Status.PENDING, Trigger.PAYMENT_DECLINED): Status.CANCELLED,
    (Status.PENDING, Trigger.PAYMENT_FAILED): Status.CANCELLED,
    (Status.PENDING, Trigger.TIMED_OUT): Status.CANCELLED,
    (Status.PENDING, Trigger.CUSTOMER_CANCELLED): Status.CANCELLED,
    (Status.CONFIRMED, Trigger.CUSTOMER_CANCELLED): Status.CANCELLED,
    (Status.CONFIRMED, Trigger.SHIPPED): Status.SHIPPED,
}


class IllegalTransition(Exception):
    """``trigger`` is not allowed while the order is ``status``."""

    def __init__(self, status: Status, trigger: Trigger) -> None:
        super().__init__(f"an order that is {status} cannot take {trigger}")
        self.status = status
        self.trigger = trigger


@dataclass(frozen=True, slots=True)
class Transition:
    """An allowed change, and what it obliges the saga to do."""

    source: Status
    target: Status
    trigger: Trigger

    @property
    def releases_stock(self) -> bool:
        """Catalog holds stock for the order and must let it go (``OrderCancelled``).

        Every way into ``cancelled`` starts from an order catalog was asked to reserve for;
        a reservation made after a timeout is released by the same event, since catalog
        reads ``OrderPlaced`` and ``OrderCancelled`` of one order in order.
        """
        return self.target is Status.CANCELLED

    @property
    def refund_if_charged(self) -> bool:
        """Money taken for the order goes back (a customer cancelling a paid order)."""
        return self.target is Status.CANCELLED

    @property
    def final(self) -> bool:
        return self.target in FINAL


def allowed(status: Status | str, trigger: Trigger) -> bool:
    """Whether ``trigger`` may happen to an order that is ``status``."""
    return (Status(status), trigger) in _TABLE


def transition(status: Status | str, trigger: Trigger) -> Transition:
    """The transition ``trigger`` makes from ``status``; ``IllegalTransition`` if none."""
    source = Status(status)
    target = _TABLE.get((source, trigger))
    if target is None:
        raise IllegalTransition(source, trigger)
    return Transition(source=source, target=target, trigger=trigger)
