"""Tables of the shop's pricing rules (they join ``emporium.orders.models.Base``)."""

from __future__ import annotations
