"""One pooled HTTP client per upstream service, built once for the process."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx

from emporium.gateway.settings import Settings
from emporium.kit.app import Resources

__all__ = ["Upstreams", "upstreams_lifespan"]


class Upstreams:
    """The gateway's clients, by service name; ``readiness_check`` asks a service's /readyz."""

    def __init__(self, settings: Settings) -> None:
        timeout = httpx.Timeout(settings.upstream_timeout_seconds, connect=2.0)
        self.clients = {
            name: httpx.AsyncClient(base_url=url, timeout=timeout)
            for name, url in settings.upstreams().items()
        }

    def readiness_check(self, name: str) -> Callable[[], Awaitable[None]]:
        client = self.clients[name]

        async def check() -> None:
            response = await client.get("/readyz")
            if response.status_code != 200:
                raise ConnectionError(f"{name} is not ready ({response.status_code})")

        return check

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()


@contextlib.asynccontextmanager
async def upstreams_lifespan(resources: Resources) -> AsyncIterator[Upstreams]:
    settings = resources.settings
    assert isinstance(settings, Settings)
    upstreams = Upstreams(settings)
    resources.put(upstreams)
    resources.probes.add_checks(
        {f"upstream:{name}": upstreams.readiness_check(name) for name in upstreams.clients}
    )
    try:
        yield upstreams
    finally:
        await upstreams.close()
