"""The orders service's FastAPI app."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from emporium.contracts.topics import CATALOG_EVENTS, CUSTOMERS_EVENTS
from emporium.kit.app import create_app
from emporium.kit.eventing import EventSubscription, event_workers
from emporium.kit.outbox import Outbox
from emporium.orders.handlers import HANDLERS
from emporium.orders.settings import Settings

__all__ = ["OUTBOX", "create_service_app"]

#: Where the service's events are staged, inside the transaction that changes its state.
OUTBOX = Outbox(source="orders")


def create_service_app(settings: Settings | None = None, **overrides: Any) -> FastAPI:
    """The orders app; ``overrides`` go to ``create_app`` (e.g. a shared ``bus`` in dev)."""
    settings = settings or Settings()
    return create_app(
        settings=settings,
        title="Emporium orders",
        description="Carts, orders, the checkout saga and payments.",
        workers=event_workers(
            OUTBOX,
            [
                EventSubscription(
                    purpose="upstream",
                    topics=(CATALOG_EVENTS, CUSTOMERS_EVENTS),
                    handlers=HANDLERS,
                ),
            ],
        ),
        **overrides,
    )
