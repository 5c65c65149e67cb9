"""The catalog service's FastAPI app."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI

from emporium.catalog.category.endpoints import router as categories
from emporium.catalog.inventory.endpoints import router as inventory
from emporium.catalog.inventory.handlers import order_handlers
from emporium.catalog.media.endpoints import router as media
from emporium.catalog.outbox import OUTBOX
from emporium.catalog.product.endpoints import direct_routes
from emporium.catalog.product.endpoints import router as products
from emporium.catalog.settings import Settings
from emporium.catalog.variants.endpoints import router as variants
from emporium.contracts.topics import ORDERS_EVENTS
from emporium.kit.app import LifespanHook, Resources, create_app
from emporium.kit.auth.dependencies import verifier_hook
from emporium.kit.auth.keys import KeySource
from emporium.kit.eventing import EventSubscription, event_workers
from emporium.kit.workers import Worker

__all__ = ["OUTBOX", "create_service_app"]

# Multipart framing around the largest accepted image.
_MULTIPART_SLACK = 64 * 1024


def _workers(resources: Resources) -> Sequence[Worker]:
    subscriptions = [
        EventSubscription(
            purpose="orders", topics=(ORDERS_EVENTS,), handlers=order_handlers(resources.cache)
        )
    ]
    return event_workers(OUTBOX, subscriptions)(resources)


def create_service_app(
    settings: Settings | None = None, *, keys: KeySource | None = None, **overrides: Any
) -> FastAPI:
    """The catalog app.

    ``keys`` verify access tokens instead of the JWKS at ``CATALOG_JWKS_URL`` (tests);
    ``overrides`` go to ``create_app`` (e.g. a shared ``bus`` in dev, a ``storage``).
    """
    settings = settings or Settings()
    hooks: list[LifespanHook] = [verifier_hook(keys)]
    hooks.extend(overrides.pop("lifespan_hooks", ()))
    # Image uploads have their own, larger limit; every other body the settings' default.
    overrides.setdefault(
        "body_path_limits",
        [(r"/admin/products/[^/]+/images", settings.max_image_bytes + _MULTIPART_SLACK)],
    )
    app = create_app(
        settings=settings,
        title="Emporium catalog",
        description="Categories, products, inventory and product images.",
        routers=[categories, products, variants, inventory, media],
        workers=_workers,
        lifespan_hooks=hooks,
        **overrides,
    )
    # First: the shop's hottest reads, tried before FastAPI's route search (each matches
    # one exact form of its GET only; see emporium.catalog.direct).
    app.router.routes[:0] = direct_routes()
    return app
