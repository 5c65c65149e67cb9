"""Topic names: one per producing service, keyed by aggregate id."""

from __future__ import annotations

__all__ = ["CATALOG_EVENTS", "CUSTOMERS_EVENTS", "ORDERS_EVENTS"]

CATALOG_EVENTS = "catalog.events"
CUSTOMERS_EVENTS = "customers.events"
ORDERS_EVENTS = "orders.events"
