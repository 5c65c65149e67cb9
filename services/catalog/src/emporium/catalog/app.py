"""The catalog service's FastAPI app."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from emporium.catalog.handlers import HANDLERS
from emporium.catalog.settings import Settings
from emporium.contracts.topics import ORDERS_EVENTS
from emporium.kit.app import create_app
from emporium.kit.eventing import EventSubscription, event_workers
from emporium.kit.outbox import Outbox

__all__ = ["OUTBOX", "create_service_app"]

#: Where the service's events are staged, inside the transaction that changes its state.
OUTBOX = Outbox(source="catalog")


def create_service_app(settings: Settings | None = None, **overrides: Any) -> FastAPI:
    """The catalog app; ``overrides`` go to ``create_app`` (e.g. a shared ``bus`` in dev)."""
    settings = settings or Settings()
    return create_app(
        settings=settings,
        title="Emporium catalog",
        description="Categories, products, inventory and product images.",
        workers=event_workers(
            OUTBOX,
            [
                EventSubscription(purpose="orders", topics=(ORDERS_EVENTS,), handlers=HANDLERS),
            ],
        ),
        **overrides,
    )
