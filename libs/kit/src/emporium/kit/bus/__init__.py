"""The event bus: one contract (``base``), two implementations (``kafka``, ``memory``)."""

from emporium.kit.bus.base import Bus, BusUnavailable, Delivery, Record, Subscription

__all__ = ["Bus", "BusUnavailable", "Delivery", "Record", "Subscription"]
