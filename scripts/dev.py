"""`make dev`: the whole platform in one process on its embedded default.

Each service is still its own app with its own SQLite file and port; they share one
in-process bus (which keeps Kafka's contract: topics, keys, consumer groups,
at-least-once), use an in-memory cache and a local media folder. Nothing to install.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[1]
# EMPORIUM_DEV_DIR moves the data (SQLite files, media) elsewhere, e.g. for a throwaway run.
DEV = Path(os.environ.get("EMPORIUM_DEV_DIR", ROOT / "var" / "dev"))
DEFAULT_PORTS = {"catalog": 8001, "customers": 8002, "orders": 8003}
GATEWAY_PORT = int(os.environ.get("EMPORIUM_DEV_PORT", "8000"))
# The web shop; the gateway passes it every path that is not its own (one origin). Four
# above the gateway's port by default (8004), so a second `make dev` on other ports
# (EMPORIUM_DEV_PORT=18000 ...) does not collide with the first one's storefront.
STOREFRONT_PORT = int(os.environ.get("STOREFRONT_PORT", str(GATEWAY_PORT + 4)))


def _defaults() -> None:
    """Embedded-default settings, unless the caller's environment says otherwise."""
    for name, port in DEFAULT_PORTS.items():
        prefix = name.upper() + "_"
        os.environ.setdefault(prefix + "DATABASE_URL", f"sqlite+aiosqlite:///{DEV}/{name}.db")
        os.environ.setdefault(prefix + "BUS", "memory")
        os.environ.setdefault(prefix + "STORAGE", "local")
        os.environ.setdefault(prefix + "MEDIA_DIR", str(DEV / "media"))
        os.environ.setdefault(prefix + "PORT", str(port))
        os.environ.setdefault(prefix + "LOG_JSON", "false")
        os.environ.setdefault(
            f"GATEWAY_{prefix}URL", f"http://127.0.0.1:{os.environ[prefix + 'PORT']}"
        )
    keys = f"http://127.0.0.1:{os.environ['CUSTOMERS_PORT']}/auth/jwks"
    for prefix in ("CATALOG_", "ORDERS_"):
        os.environ.setdefault(prefix + "JWKS_URL", keys)
    os.environ.setdefault("GATEWAY_PORT", str(GATEWAY_PORT))
    os.environ.setdefault("GATEWAY_LOG_JSON", "false")
    # The gateway resolves the client itself (uvicorn's proxy headers are off for it below).
    # Everything here is on loopback, so local tools may act as many shoppers through
    # X-Forwarded-For, as the e2e suites do; outside dev this list names real proxies only.
    os.environ.setdefault("GATEWAY_TRUSTED_PROXIES", "127.0.0.1/32")
    os.environ.setdefault("STOREFRONT_PORT", str(STOREFRONT_PORT))
    os.environ.setdefault("STOREFRONT_LOG_JSON", "false")
    os.environ.setdefault("STOREFRONT_API_URL", f"http://127.0.0.1:{GATEWAY_PORT}/api/v1")
    os.environ.setdefault(
        "GATEWAY_STOREFRONT_URL", f"http://127.0.0.1:{os.environ['STOREFRONT_PORT']}"
    )


async def main() -> int:
    started = time.monotonic()
    DEV.mkdir(parents=True, exist_ok=True)
    _defaults()

    from emporium.catalog.app import create_service_app as catalog_app
    from emporium.customers.app import create_service_app as customers_app
    from emporium.gateway.app import create_gateway_app
    from emporium.kit.bus.memory import InMemoryBus
    from emporium.kit.migrations import upgrade_to_head
    from emporium.orders.app import create_service_app as orders_app
    from emporium.storefront.app import create_storefront_app

    # Each service listens where its settings say (<SERVICE>_PORT, default above).
    ports = {name: int(os.environ[name.upper() + "_PORT"]) for name in DEFAULT_PORTS}
    for name in DEFAULT_PORTS:
        url = os.environ[name.upper() + "_DATABASE_URL"]
        await asyncio.to_thread(upgrade_to_head, ROOT / "services" / name / "migrations", url)

    bus = InMemoryBus()
    await bus.start()
    apps: list[tuple[str, FastAPI, int]] = [
        ("catalog", catalog_app(bus=bus), ports["catalog"]),
        ("customers", customers_app(bus=bus), ports["customers"]),
        ("orders", orders_app(bus=bus), ports["orders"]),
        ("gateway", create_gateway_app(), GATEWAY_PORT),
        ("storefront", create_storefront_app(), int(os.environ["STOREFRONT_PORT"])),
    ]
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=port,
                log_config=None,
                lifespan="on",
                # The services trust the gateway's X-Forwarded-For (it replaces the
                # client's); the gateway itself trusts only GATEWAY_TRUSTED_PROXIES.
                proxy_headers=name != "gateway",
                forwarded_allow_ips="127.0.0.1",
            )
        )
        for name, app, port in apps
    ]
    for server in servers:
        server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    tasks = [asyncio.create_task(server.serve()) for server in servers]
    seeding: asyncio.Task[object] | None = None
    while not all(server.started for server in servers):
        if any(task.done() for task in tasks):
            stop.set()
            break
        await asyncio.sleep(0.05)
    else:
        print(
            f"\nEmporium is running on its embedded default ({time.monotonic() - started:.1f} s):\n"
            f"  shop       http://localhost:{GATEWAY_PORT}/   (admin: /admin/)\n"
            f"  gateway    http://localhost:{GATEWAY_PORT}   (API docs: /docs)\n"
            + "".join(f"  {n:<10} http://127.0.0.1:{p}\n" for n, p in ports.items())
            + f"  data       {DEV}\n  Ctrl-C stops it.\n",
            flush=True,
        )
        if os.environ.get("EMPORIUM_DEV_SEED", "1") != "0":  # the demo shop, on first start
            from emporium.storefront.seed import seed_on_first_start

            seeding = asyncio.create_task(seed_on_first_start(f"http://127.0.0.1:{GATEWAY_PORT}"))
    await stop.wait()
    if seeding is not None:
        seeding.cancel()
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)
    await bus.stop()
    failed = [name for (name, _, _), task in zip(apps, tasks, strict=True) if task.exception()]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
