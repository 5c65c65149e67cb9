"""The demo data on a real platform: ``make dev`` seeds it on first start, through the
public API, and a second run (``make seed``) finds everything and changes nothing.

The platform is ``scripts/dev.py`` as its own process, on free ports and a throwaway data
folder (it needs no infrastructure).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emporium.storefront.seed import credentials_from_env, seed
from emporium.storefront.seed.data import CATEGORIES, ORDERS, PRODUCTS
from emporium.storefront.seed.variants import LOCATION, VARIANT_PRODUCTS

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
READY = "[seed] demo data ready"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def first_start(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A fresh ``make dev`` that has seeded itself: (gateway URL, its output)."""
    folder = tmp_path_factory.mktemp("dev")
    ports = {name: _free_port() for name in ("gateway", "catalog", "customers", "orders", "sf")}
    keep = ("CATALOG_", "CUSTOMERS_", "ORDERS_", "GATEWAY_", "STOREFRONT_", "EMPORIUM_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(keep)}
    env |= {
        "EMPORIUM_DEV_DIR": str(folder),
        "EMPORIUM_DEV_PORT": str(ports["gateway"]),
        "CATALOG_PORT": str(ports["catalog"]),
        "CUSTOMERS_PORT": str(ports["customers"]),
        "ORDERS_PORT": str(ports["orders"]),
        "STOREFRONT_PORT": str(ports["sf"]),
    }
    log = folder / "dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "dev.py")],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 240
        while READY not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            assert "[seed] demo data not created" not in log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.5)
        yield f"http://127.0.0.1:{ports['gateway']}", log.read_text(errors="replace")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _all_products(http: httpx.Client) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = http.get("/products", params=params).json()
        items += page["items"]
        if not page["next_cursor"]:
            return items
        params["cursor"] = page["next_cursor"]


def test_the_first_make_dev_seeds_the_demo_shop(first_start: tuple[str, str]) -> None:
    url, output = first_start
    assert f"{len(PRODUCTS)} products, {len(PRODUCTS)} images" in output
    with httpx.Client(base_url=url + "/api/v1", timeout=30) as http:
        products = {p["sku"]: p for p in _all_products(http)}
        assert set(products) == {p.sku for p in (*PRODUCTS, *VARIANT_PRODUCTS)}
        assert all(len(p["images"]) == 1 for p in products.values())
        picture = http.get(products["DEMO-001"]["images"][0]["url"].removeprefix("/api/v1"))
        assert picture.status_code == 200
        assert picture.headers["content-type"] == "image/webp"
        sold_out = {sku for sku, p in products.items() if not p["availability"]["in_stock"]}
        assert sold_out == {p.sku for p in PRODUCTS if p.on_hand == 0}
        for demo in VARIANT_PRODUCTS:  # every variant, its stock summed over the locations
            shown = http.get(f"/products/{products[demo.sku]['id']}").json()
            available = {v["sku"]: v["availability"]["available"] for v in shown["variants"]}
            assert available == {v.sku: sum(v.stock.values()) for v in demo.variants}
        slugs = {c["slug"] for c in http.get("/categories").json()}
        assert slugs == {c.slug for c in CATEGORIES}

        demo = credentials_from_env(url).demo
        token = http.post("/auth/token", json={"email": demo.email, "password": demo.password})
        assert token.status_code == 200, token.text
        mine = http.get(
            "/orders", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
        ).json()["items"]
        assert sorted(o["status"] for o in mine) == sorted(o.final for o in ORDERS)


def test_seeding_again_changes_nothing(first_start: tuple[str, str]) -> None:
    url, _ = first_start
    with httpx.Client(base_url=url + "/api/v1", timeout=30) as http:
        before = {p["sku"]: (p["id"], p["availability"]) for p in _all_products(http)}
        tee = before[VARIANT_PRODUCTS[0].sku][0]
        variants_before = http.get(f"/products/{tee}").json()["variants"]
        report = asyncio.run(seed(url, credentials_from_env(url), say=lambda _: None))
        after = {p["sku"]: (p["id"], p["availability"]) for p in _all_products(http)}
        variants_after = http.get(f"/products/{tee}").json()["variants"]
    assert not report.changed, str(report)
    assert after == before
    assert variants_after == variants_before
    assert LOCATION[0] == "vienna"
