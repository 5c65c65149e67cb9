"""docker-compose.yml running in a real container engine (``scripts/test-compose.sh``).

Skipped unless that script runs it against the stack it started: it sets
``EMPORIUM_COMPOSE_SOCKET`` (the engine's Docker-compatible API), ``EMPORIUM_COMPOSE_PROJECT``,
``EMPORIUM_COMPOSE_USED`` (a copy of the compose file taken when the stack came up) and
``EMPORIUM_E2E_BASE_URL`` (the published gateway). The engine is asked through its API only,
so the same checks run against Docker or podman.

- the run used the committed docker-compose.yml, unmodified;
- an image uploaded through the API is stored in S3 (SeaweedFS): read back from the bucket
  with the catalog's own S3 client, byte for byte what the browser URL serves;
- a service whose process is killed (SIGKILL from outside: a crash, not ``docker stop``)
  comes back by its restart policy, and every order placed before the crash completes.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import random
import signal
import struct
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from emporium.kit.testing.polling import eventually

ROOT = Path(__file__).resolve().parents[2]
SOCKET = os.environ.get("EMPORIUM_COMPOSE_SOCKET", "")
PROJECT = os.environ.get("EMPORIUM_COMPOSE_PROJECT", "emporium")
BASE_URL = os.environ.get("EMPORIUM_E2E_BASE_URL", "http://localhost:8000").rstrip("/")
ADMIN = (
    os.environ.get("EMPORIUM_ADMIN_EMAIL", "admin@emporium.local"),
    os.environ.get("EMPORIUM_ADMIN_PASSWORD", "emporium-admin"),
)
ADDRESS = {"line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not SOCKET, reason="needs the stack of scripts/test-compose.sh (make test-compose)"
    ),
]


# -- the engine's API -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> Iterator[httpx.Client]:
    """The container engine's Docker-compatible API (v1.41: podman 4.3 and Docker 20.10+)."""
    transport = httpx.HTTPTransport(uds=SOCKET)
    with httpx.Client(transport=transport, base_url="http://engine/v1.41", timeout=60) as client:
        yield client


def _container(engine: httpx.Client, service: str) -> dict[str, Any]:
    """The inspected container of a compose service (the one replica)."""
    labels = [f"com.docker.compose.project={PROJECT}", f"com.docker.compose.service={service}"]
    found = engine.get(
        "/containers/json", params={"all": "true", "filters": json.dumps({"label": labels})}
    )
    found.raise_for_status()
    [summary] = found.json()
    detail = engine.get(f"/containers/{summary['Id']}/json")
    detail.raise_for_status()
    inspected: dict[str, Any] = detail.json()
    return inspected


def _exec(engine: httpx.Client, service: str, command: list[str]) -> tuple[int, str]:
    """Run ``command`` in the service's container: its exit status and its output."""
    container = _container(engine, service)["Id"]
    created = engine.post(
        f"/containers/{container}/exec",
        json={"Cmd": command, "AttachStdout": True, "AttachStderr": True},
    )
    created.raise_for_status()
    exec_id = created.json()["Id"]
    started = engine.post(f"/exec/{exec_id}/start", json={"Detach": False, "Tty": False})
    started.raise_for_status()
    # The multiplexed stream: 8-byte headers (stream, 0, 0, 0, big-endian length) + payload.
    raw, output = started.content, bytearray()
    while len(raw) >= 8:
        (length,) = struct.unpack(">I", raw[4:8])
        output += raw[8 : 8 + length]
        raw = raw[8 + length :]
    status = engine.get(f"/exec/{exec_id}/json").json()["ExitCode"]
    return int(status), output.decode("utf-8", "replace")


# -- the storefront, through the published gateway -------------------------------------------


def _ip() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=BASE_URL + "/api/v1", timeout=30) as client:
        yield client


@pytest.fixture
async def admin(api: httpx.AsyncClient) -> dict[str, str]:
    """Request headers of the admin account."""
    ip = _ip()
    response = await api.post(
        "/auth/token",
        json={"email": ADMIN[0], "password": ADMIN[1]},
        headers={"X-Forwarded-For": ip},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}", "X-Forwarded-For": ip}


async def _product(api: httpx.AsyncClient, admin: dict[str, str], on_hand: int) -> str:
    sku = f"COMPOSE-{uuid.uuid4().hex[:12]}"
    created = await api.post(
        "/admin/products",
        json={"sku": sku, "name": f"Product {sku}", "price": {"amount": 900, "currency": "EUR"}},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    product_id: str = created.json()["id"]
    stock = await api.put(
        f"/admin/products/{product_id}/stock", json={"on_hand": on_hand}, headers=admin
    )
    assert stock.status_code == 200, stock.text
    return product_id


async def _shopper(api: httpx.AsyncClient) -> dict[str, str]:
    """Request headers of a new signed-in customer."""
    ip = _ip()
    email = f"compose-{uuid.uuid4().hex[:12]}@e2e.emporium.test"
    body = {"email": email, "password": "correct horse 1", "name": "Compose Shopper"}
    registered = await api.post("/auth/register", json=body, headers={"X-Forwarded-For": ip})
    assert registered.status_code == 201, registered.text
    token = await api.post(
        "/auth/token",
        json={"email": email, "password": body["password"]},
        headers={"X-Forwarded-For": ip},
    )
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}", "X-Forwarded-For": ip}


async def _place_order(api: httpx.AsyncClient, shopper: dict[str, str], product_id: str) -> str:
    async def in_cart() -> bool:
        put = await api.put(
            f"/cart/items/{product_id}", json={"quantity": 1}, headers=shopper
        )  # orders hears of the product through an event
        assert put.status_code == 200, put.text
        return True

    await eventually(in_cart, timeout=60, interval=0.5)
    placed = await api.post(
        "/orders",
        json={"shipping_address": ADDRESS, "payment": {"card_token": "tok_visa"}},
        headers={**shopper, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert placed.status_code == 202, placed.text
    order_id: str = placed.json()["id"]
    return order_id


# -- the checks ------------------------------------------------------------------------------


def test_the_run_used_the_committed_compose_file(engine: httpx.Client) -> None:
    committed = subprocess.run(
        ["git", "-C", str(ROOT), "show", "HEAD:docker-compose.yml"],
        capture_output=True,
        check=True,
    ).stdout
    used = Path(os.environ["EMPORIUM_COMPOSE_USED"]).read_bytes()
    assert used == committed, "the stack was started from a modified docker-compose.yml"
    assert (ROOT / "docker-compose.yml").read_bytes() == committed
    labels = _container(engine, "gateway")["Config"]["Labels"]
    assert labels["com.docker.compose.project.config_files"] == str(ROOT / "docker-compose.yml")


async def test_an_uploaded_image_is_read_back_from_s3(
    engine: httpx.Client, api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    product_id = await _product(api, admin, on_hand=1)
    png = io.BytesIO()
    Image.new("RGB", (80, 60), (20, 140, 90)).save(png, format="PNG")
    upload = await api.post(
        f"/admin/products/{product_id}/images",
        files={"file": ("photo.png", png.getvalue(), "image/png")},
        headers=admin,
    )
    assert upload.status_code == 201, upload.text
    url = upload.json()["url"]
    async with httpx.AsyncClient(base_url=BASE_URL, timeout=30) as browser:
        served = await browser.get(url)
    assert served.status_code == 200, served.text[:200]
    key = url.removeprefix("/api/v1/media/")
    # Straight from the bucket, with the S3 client and credentials of the catalog container.
    status, output = _exec(engine, "catalog", ["python", "-c", _READ_BACK, key])
    assert status == 0, output
    digest, content_type = output.split()[-2:]
    assert content_type == "image/webp"
    assert digest == hashlib.sha256(served.content).hexdigest()


_READ_BACK = """
import asyncio, hashlib, sys
from emporium.catalog.settings import Settings
from emporium.kit.storage.factory import make_storage

async def main() -> None:
    settings = Settings()
    assert settings.storage == "s3", settings.storage
    async with make_storage(settings) as storage:
        stored = await storage.get(sys.argv[1])
    print(hashlib.sha256(stored.data).hexdigest(), stored.content_type)

asyncio.run(main())
"""


async def test_a_killed_service_is_restarted_and_no_order_is_lost(
    engine: httpx.Client, api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    before = _container(engine, "orders")
    assert before["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    product_id = await _product(api, admin, on_hand=20)
    shoppers = await asyncio.gather(*(_shopper(api) for _ in range(3)))
    orders = await asyncio.gather(*(_place_order(api, s, product_id) for s in shoppers))

    # A crash while the orders' sagas are in flight: SIGKILL, not a stop through the engine
    # (a container stopped through the engine is not restarted by `unless-stopped`).
    os.kill(int(before["State"]["Pid"]), signal.SIGKILL)

    async def restarted() -> dict[str, Any]:
        now = _container(engine, "orders")
        assert now["RestartCount"] > before["RestartCount"], "not restarted yet"
        assert now["State"]["Running"], now["State"]
        assert now["State"]["Health"]["Status"] == "healthy", now["State"]["Health"]
        return now

    after = await eventually(restarted, timeout=180, interval=1)
    assert after["Id"] == before["Id"], "the same container, restarted in place"

    async def completed(order_id: str, shopper: dict[str, str]) -> str:
        async def probe() -> str:
            response = await api.get(f"/orders/{order_id}", headers=shopper)
            assert response.status_code == 200, response.text
            status: str = response.json()["status"]
            assert status == "confirmed", status
            return status

        return await eventually(probe, timeout=120, interval=1)

    statuses = await asyncio.gather(
        *(completed(order, shopper) for order, shopper in zip(orders, shoppers, strict=True))
    )
    assert statuses == ["confirmed"] * len(orders)
    # And the restarted service takes new orders.
    late = await _shopper(api)
    assert await completed(await _place_order(api, late, product_id), late) == "confirmed"
