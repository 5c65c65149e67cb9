"""The payment step's rules, with no I/O: what a provider's answer does to a ``payment`` row.

The payment statuses (internal; the storefront only sees the order's status):

- ``charge_due``: a charge is owed and no call is in flight;
- ``charging``: a worker committed this *before* calling the provider: a call with the
  charge key is in flight, or its caller died or lost its lease. Taking a ``charging`` row
  over sets ``maybe_charged``: the earlier call's answer will never be recorded by its owner;
- ``captured``: the provider approved the charge (the order is confirmed);
- ``declined``: the provider declined the key: nothing was charged under it, ever;
- ``failed``: given up, and *every* attempt was refused before the provider accepted it
  (``ProviderUnavailable``): nothing was charged;
- ``refund_due``: money may be held under the charge key and is owed back; the worker
  refunds (or voids, when the charge has not landed yet) by the same key, without a limit;
- ``refunded``: done (the provider voids the key, so a charge that lands later is declined).

``maybe_charged`` is sticky: once an attempt's outcome is unknown (a timeout, an error that
is not ``ProviderUnavailable``, a lease lost), giving up moves to ``refund_due``, never to
``failed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from emporium.orders.order.state import Trigger

__all__ = [
    "CHARGE_DUE",
    "CHARGING",
    "CLAIMABLE",
    "ChargeDecision",
    "Claim",
    "Outcome",
    "claim_charge",
    "decide_charge",
]

CHARGE_DUE = "charge_due"
CHARGING = "charging"
CAPTURED = "captured"
DECLINED = "declined"
FAILED = "failed"
REFUND_DUE = "refund_due"
REFUNDED = "refunded"

#: Statuses a worker claims (once ``next_attempt_at`` has come and no lease holds).
CLAIMABLE: tuple[str, ...] = (CHARGE_DUE, CHARGING, REFUND_DUE)


class Outcome(StrEnum):
    """What one charge call ended with."""

    APPROVED = "approved"
    DECLINED = "declined"
    #: ``ProviderUnavailable``: refused before acceptance, certainly not charged.
    UNAVAILABLE = "unavailable"
    #: A timeout or any other error: the provider may have charged.
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Claim:
    """What claiming a charge row writes before the call: ``charging``, the attempt number."""

    attempt: int
    maybe_charged: bool


def claim_charge(*, status: str, attempts: int, maybe_charged: bool) -> Claim:
    """Claiming a ``charge_due`` row starts attempt ``attempts + 1``; claiming a ``charging``
    row (its lease ran out) also records that the earlier call's outcome is unknown."""
    return Claim(attempt=attempts + 1, maybe_charged=maybe_charged or status == CHARGING)


@dataclass(frozen=True, slots=True)
class ChargeDecision:
    """The new payment status, and the trigger for the order (applied only if allowed)."""

    status: str
    maybe_charged: bool
    trigger: Trigger | None = None
    #: ``charge_due`` again after a backoff (the caller computes the delay).
    retry: bool = False


def decide_charge(
    *,
    status: str,
    maybe_charged: bool,
    attempts: int,
    step_attempt: int,
    max_attempts: int,
    order_pending: bool,
    outcome: Outcome,
) -> ChargeDecision | None:
    """What the answer to attempt ``step_attempt`` does; ``None``: change nothing.

    ``status``/``attempts``/``maybe_charged`` are the row's, read under its lock. An
    approval or a decline is a fact about the charge key, whoever asked; an unavailable or
    unknown outcome counts only for the attempt that owns the row (``charging`` with the same
    attempt number): a worker that lost its lease does not move a row another owns, though
    an unknown outcome still marks it ``maybe_charged``.
    """
    if status in (CHARGE_DUE, CHARGING):
        if outcome is Outcome.APPROVED:
            if order_pending:
                return ChargeDecision(CAPTURED, True, Trigger.PAYMENT_APPROVED)
            return ChargeDecision(REFUND_DUE, True)  # nothing to confirm: give it back
        if outcome is Outcome.DECLINED:
            return ChargeDecision(DECLINED, False, Trigger.PAYMENT_DECLINED)
        maybe = maybe_charged or outcome is Outcome.UNKNOWN
        if status != CHARGING or attempts != step_attempt:
            if maybe and not maybe_charged:
                return ChargeDecision(status, True)
            return None
        if attempts < max_attempts:
            return ChargeDecision(CHARGE_DUE, maybe, retry=True)
        return ChargeDecision(REFUND_DUE if maybe else FAILED, maybe, Trigger.PAYMENT_FAILED)
    if status == FAILED and outcome is Outcome.APPROVED:
        # The money arrived after we gave up (a row from before ``maybe_charged`` existed).
        return ChargeDecision(REFUND_DUE, True)
    # captured: recorded already; declined: the key never charged; refund_due: the refund
    # covers it; refunded: the refund voided the key or gave this charge back.
    return None
