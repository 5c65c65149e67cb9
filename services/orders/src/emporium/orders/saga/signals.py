"""The saga's wake-up signals (no imports of the saga's modules: anything can raise them)."""

from __future__ import annotations

from emporium.kit.wakeup import WakeupSignal

__all__ = ["PAYMENTS_DUE"]

#: Raised (``await PAYMENTS_DUE.raise_in(session)``) by whatever makes a payment step due:
#: the saga's ``StockReserved`` handler, a refund request. It wakes the payment workers once
#: that transaction commits: in this process at once, in the others through NOTIFY.
PAYMENTS_DUE = WakeupSignal("orders_payments")
