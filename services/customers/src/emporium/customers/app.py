"""The customers service's FastAPI app."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from emporium.contracts.topics import ORDERS_EVENTS
from emporium.customers.handlers import HANDLERS
from emporium.customers.settings import Settings
from emporium.kit.app import create_app
from emporium.kit.eventing import EventSubscription, event_workers
from emporium.kit.outbox import Outbox

__all__ = ["OUTBOX", "create_service_app"]

#: Where the service's events are staged, inside the transaction that changes its state.
OUTBOX = Outbox(source="customers")


def create_service_app(settings: Settings | None = None, **overrides: Any) -> FastAPI:
    """The customers app; ``overrides`` go to ``create_app`` (e.g. a shared ``bus`` in dev)."""
    settings = settings or Settings()
    return create_app(
        settings=settings,
        title="Emporium customers",
        description="Accounts, credentials, roles, profiles, addresses and signing keys.",
        workers=event_workers(
            OUTBOX,
            [
                EventSubscription(purpose="orders", topics=(ORDERS_EVENTS,), handlers=HANDLERS),
            ],
        ),
        **overrides,
    )
