"""An upload's answer may take as long as the service needs to decode and re-encode it
(``upload_timeout_seconds``), while every other call keeps the service's short timeout."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import FastAPI, Request

from emporium.gateway.testing import GatewayFactory, Servers


def _slow_catalog(delay: float) -> FastAPI:
    """Every answer takes ``delay`` after the request's body is in."""
    app = FastAPI()

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/admin/products/{product_id}/images", status_code=201)
    async def upload(product_id: uuid.UUID, request: Request) -> dict[str, int]:
        size = len(await request.body())
        await asyncio.sleep(delay)
        return {"bytes": size}

    @app.patch("/admin/products/{product_id}")
    async def change(product_id: uuid.UUID) -> dict[str, str]:
        await asyncio.sleep(delay)
        return {"id": str(product_id)}

    return app


async def test_an_upload_waits_for_its_answer_longer_than_other_calls(
    gateway: GatewayFactory, servers: Servers
) -> None:
    gw = await gateway(
        catalog_url=await servers.start(_slow_catalog(delay=0.6)),
        upstream_timeout_seconds=0.3,
        upload_timeout_seconds=5.0,
    )
    admin = {"Authorization": f"Bearer {gw.mint.token(uuid.uuid4(), role='admin')}"}
    product = uuid.uuid4()
    picture = b"\x89PNG\r\n\x1a\n" + b"\0" * 4096
    uploaded = await gw.client.post(
        f"/api/v1/admin/products/{product}/images",
        files={"file": ("p.png", picture, "image/png")},
        headers=admin,
    )
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["bytes"] > len(picture)
    # A JSON write to the same service still times out at the service's own 0.3 s.
    changed = await gw.client.patch(
        f"/api/v1/admin/products/{product}", json={"name": "x"}, headers=admin
    )
    assert changed.status_code == 504
    assert changed.headers["content-type"] == "application/problem+json"
    assert "0.3 s" in changed.json()["detail"]
