"""The customers service's FastAPI app."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from emporium.contracts.topics import ORDERS_EVENTS
from emporium.customers.account.endpoints import router as account_router
from emporium.customers.admin.endpoints import router as admin_router
from emporium.customers.auth.endpoints import router as auth_router
from emporium.customers.bootstrap import bootstrap_hook
from emporium.customers.events import OUTBOX
from emporium.customers.handlers import HANDLERS
from emporium.customers.runtime import accounts_hook, denylist_hook, make_accounts
from emporium.customers.settings import Settings
from emporium.kit.app import create_app
from emporium.kit.auth.dependencies import verifier_hook
from emporium.kit.eventing import EventSubscription, event_workers

__all__ = ["OUTBOX", "create_service_app"]


def create_service_app(settings: Settings | None = None, **overrides: Any) -> FastAPI:
    """The customers app; ``overrides`` go to ``create_app`` (e.g. a shared ``bus`` in dev)."""
    settings = settings or Settings()
    accounts = make_accounts(settings)
    return create_app(
        settings=settings,
        title="Emporium customers",
        description="Accounts, credentials, roles, profiles, addresses and signing keys.",
        routers=[auth_router, account_router, admin_router],
        # The service verifies its own tokens from its own key table (no HTTP to itself).
        lifespan_hooks=[
            accounts_hook(accounts),
            verifier_hook(keys=accounts.key_source),
            denylist_hook(),
            bootstrap_hook(),
        ],
        workers=event_workers(
            OUTBOX,
            [
                EventSubscription(purpose="orders", topics=(ORDERS_EVENTS,), handlers=HANDLERS),
            ],
        ),
        **overrides,
    )
