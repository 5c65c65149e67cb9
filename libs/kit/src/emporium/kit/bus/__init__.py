"""The event bus: one contract (``base``), two implementations (``kafka``, ``memory``)."""

from emporium.kit.bus.base import Bus, BusUnavailable, Delivery, Record, Subscription
from emporium.kit.bus.factory import make_bus
from emporium.kit.bus.memory import InMemoryBus, MemoryBroker
from emporium.kit.bus.prefixed import PrefixedBus, with_topic_prefix

__all__ = [
    "Bus",
    "BusUnavailable",
    "Delivery",
    "InMemoryBus",
    "MemoryBroker",
    "PrefixedBus",
    "Record",
    "Subscription",
    "make_bus",
    "with_topic_prefix",
]
