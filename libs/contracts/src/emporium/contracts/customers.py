"""Events published by the customers service on ``customers.events``."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from emporium.contracts.base import EventData
from emporium.contracts.topics import CUSTOMERS_EVENTS

__all__ = ["CustomerDeleted", "CustomerRegistered", "CustomerUpdated"]


class _CustomersEvent(EventData):
    topic: ClassVar[str] = CUSTOMERS_EVENTS


class CustomerRegistered(_CustomersEvent):
    event_name: ClassVar[str] = "CustomerRegistered"
    customer_id: UUID
    email: str
    display_name: str


class CustomerUpdated(_CustomersEvent):
    event_name: ClassVar[str] = "CustomerUpdated"
    customer_id: UUID
    display_name: str
    role: str
    disabled: bool = False


class CustomerDeleted(_CustomersEvent):
    event_name: ClassVar[str] = "CustomerDeleted"
    customer_id: UUID
