"""The orders service's FastAPI app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import FastAPI

from emporium.contracts.topics import CATALOG_EVENTS, CUSTOMERS_EVENTS
from emporium.kit.app import Resources, create_app
from emporium.kit.auth.dependencies import verifier_hook
from emporium.kit.auth.keys import KeySource
from emporium.kit.eventing import EventSubscription, event_workers, worker_database
from emporium.kit.outbox import Outbox
from emporium.kit.workers import Worker
from emporium.orders.admission import Admission
from emporium.orders.cart.endpoints import router as cart_router
from emporium.orders.common import EventPublisher
from emporium.orders.handlers import build_handlers
from emporium.orders.order.admin_endpoints import router as admin_router
from emporium.orders.order.endpoints import router as orders_router
from emporium.orders.payment.provider import PaymentProvider
from emporium.orders.payment.simulated import SimulatedProvider
from emporium.orders.rules.endpoints import router as rules_router
from emporium.orders.saga.handoff import PaymentHandoff
from emporium.orders.saga.payments import PaymentWorker
from emporium.orders.saga.sweeper import Sweeper
from emporium.orders.settings import Settings

__all__ = ["OUTBOX", "create_service_app"]

#: Where the service's events are staged, inside the transaction that changes its state.
OUTBOX = Outbox(source="orders")


def create_service_app(
    settings: Settings | None = None,
    *,
    keys: KeySource | None = None,
    provider: PaymentProvider | None = None,
    **overrides: Any,
) -> FastAPI:
    """The orders app.

    ``keys`` verify access tokens instead of the customers JWKS (tests); ``provider``
    replaces the simulated payment provider; ``overrides`` go to ``create_app`` (e.g. a
    shared ``bus`` in dev).
    """
    settings = settings or Settings()
    publisher = EventPublisher(OUTBOX)
    # From this process's StockReserved handler to its payment worker (saga/handoff.py).
    handoff = PaymentHandoff(settings.payment_lease_seconds)

    @contextlib.asynccontextmanager
    async def payments_hook(resources: Resources) -> AsyncIterator[None]:
        resources.put(publisher)
        # The provider is called by the payment worker only: it shares the workers' pool.
        resources.put(provider or SimulatedProvider(worker_database(resources)))
        yield

    relay_and_consumers = event_workers(
        OUTBOX,
        [
            EventSubscription(
                purpose="upstream",
                topics=(CATALOG_EVENTS, CUSTOMERS_EVENTS),
                handlers=build_handlers(publisher, handoff),
            ),
        ],
    )

    def workers(resources: Resources) -> Sequence[Worker]:
        # Their own pool: the saga's steps never wait behind HTTP requests for a connection.
        database = worker_database(resources)
        chosen: PaymentProvider = provider or resources.get(SimulatedProvider)
        return [
            *relay_and_consumers(resources),
            PaymentWorker(
                database,
                chosen,
                publisher,
                max_attempts=settings.payment_max_attempts,
                backoff_seconds=settings.payment_backoff_seconds,
                backoff_cap_seconds=settings.payment_backoff_cap_seconds,
                lease_seconds=settings.payment_lease_seconds,
                call_timeout_seconds=settings.payment_call_timeout_seconds,
                poll_seconds=settings.payment_poll_seconds,
                handoff=handoff,
            ),
            Sweeper(
                database,
                publisher,
                timeout_seconds=settings.reservation_timeout_seconds,
                interval=settings.sweeper_interval_seconds,
                bus=resources.bus,
            ),
        ]

    app = create_app(
        settings=settings,
        title="Emporium orders",
        description="Carts, orders, the checkout saga and payments.",
        routers=[cart_router, orders_router, admin_router, rules_router],
        workers=workers,
        lifespan_hooks=[payments_hook, verifier_hook(keys)],
        **overrides,
    )
    if settings.max_requests_in_flight:
        app.add_middleware(
            Admission,
            limit=settings.max_requests_in_flight,
            wait_seconds=settings.request_admission_wait_seconds,
        )
    return app
