"""Exact availability through the gateway: a unit the checkout saga reserves shows on the
cached product page within a second of the catalog's commit (PostgreSQL + Kafka + Redis).

The product is read through the gateway's response cache before the order (a hit), the
order is placed through the gateway, and the product is polled both directly at the catalog
(when its stock changed) and through the gateway (when the cached answer changed).
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

import httpx
import pytest

from emporium.kit.testing.polling import eventually

pytestmark = pytest.mark.e2e

ADDRESS = {"line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}


def _ip() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


async def _available(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> int:
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return int(response.json()["availability"]["available"])


async def test_a_reservation_by_the_saga_shows_through_the_gateway_within_a_second(
    live_controls: Any, admin_token: str
) -> None:
    live = live_controls
    catalog = live.processes["catalog"].url
    admin = {"Authorization": f"Bearer {admin_token}", "X-Forwarded-For": "10.250.0.1"}
    anonymous = {"X-Forwarded-For": _ip()}
    async with httpx.AsyncClient(base_url=live.api, timeout=30) as api:
        created = await api.post(
            "/admin/products",
            headers=admin,
            json={"sku": f"AV-{uuid.uuid4().hex[:10]}", "name": "Availability", "price": 1500},
        )
        assert created.status_code == 201, created.text
        product = created.json()["id"]
        stock = await api.put(
            f"/admin/products/{product}/stock", headers=admin, json={"on_hand": 10}
        )
        assert stock.status_code == 200, stock.text
        page = f"/products/{product}"

        async def cached_with_ten() -> bool:
            response = await api.get(page, headers=anonymous)
            return (
                response.headers.get("x-cache") == "HIT"
                and response.json()["availability"]["available"] == 10
            )

        await eventually(cached_with_ten, timeout=30, interval=0.05)

        shopper_ip = _ip()
        email = f"av-{uuid.uuid4().hex[:10]}@example.com"
        registered = await api.post(
            "/auth/register",
            json={"email": email, "password": "e2e-password-1", "name": "Av"},
            headers={"X-Forwarded-For": shopper_ip},
        )
        assert registered.status_code == 201, registered.text
        signed_in = await api.post(
            "/auth/token",
            json={"email": email, "password": "e2e-password-1"},
            headers={"X-Forwarded-For": shopper_ip},
        )
        me = {
            "Authorization": f"Bearer {signed_in.json()['access_token']}",
            "X-Forwarded-For": shopper_ip,
        }

        async def in_cart() -> bool:  # once orders has heard of the product (an event away)
            response = await api.put(f"/cart/items/{product}", json={"quantity": 3}, headers=me)
            return response.status_code == 200

        await eventually(in_cart, timeout=60, interval=0.1)
        placed = await api.post(
            "/orders",
            json={"shipping_address": ADDRESS, "payment": {"card_token": "tok_visa"}},
            headers={**me, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert placed.status_code == 202, placed.text

        async with httpx.AsyncClient(timeout=30) as direct:
            # Polled together, ~20 ms apart: when the catalog committed, when the gateway showed it.
            seen_at: dict[str, float] = {}

            async def both_show_seven() -> bool:
                if "catalog" not in seen_at:
                    if await _available(direct, catalog + page, {}) == 7:
                        seen_at["catalog"] = time.monotonic()
                if "gateway" not in seen_at:
                    if await _available(api, page, anonymous) == 7:
                        seen_at["gateway"] = time.monotonic()
                return len(seen_at) == 2

            await eventually(both_show_seven, timeout=60, interval=0.02)
        lag = seen_at["gateway"] - seen_at["catalog"]
        assert lag <= 1.0, f"the gateway showed the reservation {lag:.2f} s after the catalog"
        # And the page is cached again afterwards (invalidated, not switched off).
        await eventually(lambda: _hit(api, page, anonymous), timeout=10, interval=0.05)


async def _hit(api: httpx.AsyncClient, page: str, headers: dict[str, str]) -> bool:
    return (await api.get(page, headers=headers)).headers.get("x-cache") == "HIT"
