"""Emporium's event contracts: one typed, versioned schema per event, no I/O.

Producers and consumers import the same classes. ``REGISTRY`` maps each versioned type
name (``orders.OrderPlaced.v1``) to its schema.
"""

from emporium.contracts import catalog, customers, orders
from emporium.contracts.base import REGISTRY, EventData, event_type_of
from emporium.contracts.topics import CATALOG_EVENTS, CUSTOMERS_EVENTS, ORDERS_EVENTS

__all__ = [
    "CATALOG_EVENTS",
    "CUSTOMERS_EVENTS",
    "ORDERS_EVENTS",
    "REGISTRY",
    "EventData",
    "catalog",
    "customers",
    "event_type_of",
    "orders",
]
