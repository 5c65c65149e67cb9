"""The few public API calls the seed makes (``/api/v1``), as one account.

Thin on purpose: the seed is a client of the public contract like any storefront, so it
knows paths, bodies and status codes and nothing of the services behind the gateway.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

__all__ = ["TRANSIENT", "Api", "ApiError", "retry_delay"]

#: Answered before anything was done: waiting and sending again is safe for any request.
_RETRIED = frozenset({429})
#: The shop may or may not have done it (a gateway timeout, a service restarting): the seed
#: starts its idempotent pass again rather than repeat one request blindly.
TRANSIENT = frozenset({502, 503, 504})


class ApiError(RuntimeError):
    """An answer the seed cannot go on from (wrong credentials, a refused request...)."""

    def __init__(self, method: str, path: str, response: httpx.Response) -> None:
        detail = response.text[:500]
        super().__init__(f"{method} {path}: {response.status_code} {detail}")
        self.status = response.status_code


def retry_delay(response: httpx.Response, attempt: int) -> float:
    """How long to wait before trying again: the gateway's ``Retry-After``, else backoff."""
    header = response.headers.get("retry-after", "")
    if header.isdigit():
        return min(float(header), 30.0)
    return float(min(0.2 * 2**attempt, 5.0))


class Api:
    """``/api/v1`` of one gateway, signed in as one account once ``sign_in`` succeeds."""

    def __init__(self, client: httpx.AsyncClient, *, retry_for: float = 120.0) -> None:
        self.client = client
        self.retry_for = retry_for
        self.token: str | None = None

    async def call(
        self,
        method: str,
        path: str,
        *,
        ok: tuple[int, ...] = (200,),
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> httpx.Response:
        """One call; past the rate limit it waits (``Retry-After``) and sends it again.

        Raises ``ApiError`` for a status outside ``ok``.
        """
        sent = dict(headers or {})
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        deadline = time.monotonic() + self.retry_for
        attempt = 0
        while True:
            response = await self.client.request(
                method, path, json=json, params=params, headers=sent, files=files
            )
            if response.status_code in _RETRIED and time.monotonic() < deadline:
                await asyncio.sleep(retry_delay(response, attempt))
                attempt += 1
                continue
            if response.status_code not in ok:
                raise ApiError(method, path, response)
            return response

    async def sign_in(self, email: str, password: str) -> None:
        answer = await self.call("POST", "/auth/token", json={"email": email, "password": password})
        self.token = answer.json()["access_token"]

    async def pages(self, path: str, params: Mapping[str, str | int]) -> AsyncIterator[Any]:
        """Every item of a cursor-paginated listing."""
        query = {**params, "limit": 100}
        while True:
            page = (await self.call("GET", path, params=query)).json()
            for item in page["items"]:
                yield item
            if not page.get("next_cursor"):
                return
            query["cursor"] = page["next_cursor"]
