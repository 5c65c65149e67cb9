"""The payment provider interface the saga charges and refunds through.

Every call carries an idempotency key chosen by the caller: the provider applies a key at
most once and answers a repeated key with the first answer. That is what makes "charge at
most once per order" hold when the saga retries after a crash or a timeout: the retry uses
the same key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = ["ChargeResult", "PaymentProvider", "ProviderUnavailable", "RefundResult"]


class ProviderUnavailable(Exception):
    """The provider could not be reached or did not decide; the call may be retried."""


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
