"""The gateway's FastAPI app: probes and docs now; the public routes join it as they land."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from emporium.gateway.settings import Settings
from emporium.gateway.upstreams import upstreams_lifespan
from emporium.kit.app import create_app

__all__ = ["create_gateway_app"]


def create_gateway_app(settings: Settings | None = None, **overrides: Any) -> FastAPI:
    """The gateway app (``/healthz``, ``/readyz`` with every upstream, ``/docs``)."""
    settings = settings or Settings()
    return create_app(
        settings=settings,
        title="Emporium storefront API",
        description="The one REST API storefronts use, under /api/v1.",
        lifespan_hooks=[upstreams_lifespan],
        openapi_url="/api/v1/openapi.json",
        docs_url="/docs",
        max_body_bytes=10 * 1024 * 1024,
        **overrides,
    )
