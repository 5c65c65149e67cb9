"""The payment provider interface the saga charges and refunds through.

Every call carries an idempotency key chosen by the caller: the provider applies a key at
most once and answers a repeated key with the first answer. That is what makes "charge at
most once per order" hold when the saga retries after a crash or a timeout: the retry uses
the same key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "ChargeResult",
    "OutcomeUnknown",
    "PaymentProvider",
    "ProviderUnavailable",
    "RefundResult",
]


class ProviderUnavailable(Exception):
    """The provider refused the request *before accepting it*: nothing was charged.

    Definitive: raise it only when the request certainly did not reach the provider's
    processing (connection refused, DNS failure, a ``503`` the provider documents as "not
    processed", a circuit breaker open on our side). The call may be retried; when the saga
    gives up after only such answers, the payment is ``failed`` and nothing is owed back.
    """


class OutcomeUnknown(Exception):
    """The request may have been accepted and the answer was lost (a timeout, a connection
    dropped after sending, a ``5xx`` after the provider took the request).

    Ambiguous: the card may have been charged. The saga treats every exception other than
    ``ProviderUnavailable`` the same way, and a charge it gives up on after one of them is
    refunded (voided) by its idempotency key, never left as ``failed``.
    """


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """The provider's decision on a charge: ``approved`` or ``declined`` (with why)."""

    outcome: Literal["approved", "declined"]
    reference: str
    reason: str | None = None

    @property
    def approved(self) -> bool:
        return self.outcome == "approved"


@dataclass(frozen=True, slots=True)
class RefundResult:
    """What a refund gave back (0 when nothing had been charged under the charge key)."""

    reference: str
    amount: int


class PaymentProvider(Protocol):
    async def charge(
        self, *, idempotency_key: str, amount: int, currency: str, card_token: str
    ) -> ChargeResult:
        """Charge ``amount`` (minor units) once per key; raises ``ProviderUnavailable``."""
        ...

    async def refund(self, *, idempotency_key: str, charge_key: str) -> RefundResult:
        """Give back what the charge ``charge_key`` took, once per key.

        A charge not made yet is voided: a charge arriving later with that key is declined.
        """
        ...
