"""HTTP from chosen loopback source addresses (aiohttp), with the answers' timings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

__all__ = ["Api", "ApiError", "session_from"]


class ApiError(RuntimeError):
    """An answer other than the expected one, naming the call."""


@asynccontextmanager
async def session_from(
    address: str, *, limit: int = 100, timeout: float = 30.0
) -> AsyncIterator[aiohttp.ClientSession]:
    """A session whose connections all leave from ``address``."""
    connector = aiohttp.TCPConnector(
        local_addr=(address, 0),
        limit=limit,
        force_close=False,
        keepalive_timeout=3.0,
        ttl_dns_cache=None,
    )
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=timeout), auto_decompress=False
    ) as session:
        yield session


class Api:
    """JSON calls on one session; 429 waits for Retry-After and tries again."""

    def __init__(self, session: aiohttp.ClientSession, base: str, token: str | None = None) -> None:
        self.session = session
        self.base = base.rstrip("/")
        self.token = token

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers | (extra or {})

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        expect: tuple[int, ...] = (200,),
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        for _ in range(20):
            async with self.session.request(
                method, self.base + path, json=json, headers=self._headers(headers), params=params
            ) as answer:
                body = await answer.read()
                if answer.status == 429:
                    await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
                    continue
                if answer.status not in expect:
                    raise ApiError(f"{method} {path}: {answer.status} {body[:300]!r}")
                data = None
                if body and answer.content_type.endswith("json"):
                    import json as json_module

                    data = json_module.loads(body)
                return answer.status, data
        raise ApiError(f"{method} {path}: still 429 after 20 tries")
