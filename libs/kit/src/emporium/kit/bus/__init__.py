"""The event bus: one contract (``base``), two implementations (``kafka``, ``memory``)."""

from emporium.kit.bus.base import Bus, BusUnavailable, Delivery, Record, Subscription
from emporium.kit.bus.factory import make_bus
from emporium.kit.bus.memory import InMemoryBus, MemoryBroker

__all__ = [
    "Bus",
    "BusUnavailable",
    "Delivery",
    "InMemoryBus",
    "MemoryBroker",
    "Record",
    "Subscription",
    "make_bus",
]
