"""The storefront's client of the public API (``/api/v1``): the only way it reaches data.

One pooled ``httpx.AsyncClient`` per process (made in the app's lifespan). Every answer of
400 or more becomes an ``ApiProblem`` carrying the problem+json members (``status``,
``type``, ``detail``, ``errors``...), which ``problems.py`` turns into plain words. A
gateway that cannot be reached is an ``ApiProblem`` of status 503 too, so a page always has
one kind of failure to show.

Paths are built from segments, each percent-encoded whole (``path("products", id)``): an
id taken from the browser's URL can never add a segment or a query to the API call.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import Request
from httpx import USE_CLIENT_DEFAULT

from emporium.kit.app import Resources, get_resources

__all__ = ["Api", "ApiProblem", "api_lifespan", "get_api", "path"]

log = logging.getLogger("emporium.storefront.api")

Params = Mapping[str, str | int] | list[tuple[str, str | int | float | bool | None]]


def path(*segments: object) -> str:
    """``/a/b`` from segments, each percent-encoded whole (``/`` and ``?`` included)."""
    return "".join("/" + quote(str(segment), safe="") for segment in segments)


@dataclass
class ApiProblem(Exception):
    """An API answer of 400 or more (or no answer at all: status 503)."""

    status: int
    type: str = "about:blank"
    title: str = ""
    detail: str = ""
    errors: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    retry_after: int | None = None

    def __str__(self) -> str:
        return f"{self.status} {self.kind}: {self.detail or self.title}"

    @property
    def kind(self) -> str:
        """The last part of ``type`` (``email-taken``, ``validation-error``...)."""
        return self.type.rstrip("/").rsplit("/", 1)[-1]

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiProblem:
        body: Any = None
        with contextlib.suppress(ValueError):
            body = response.json()
        if not isinstance(body, dict):
            body = {}
        known = {"status", "type", "title", "detail", "errors", "instance"}
        errors = body.get("errors")
        retry = response.headers.get("retry-after", "")
        return cls(
            status=response.status_code,
            type=str(body.get("type") or "about:blank"),
            title=str(body.get("title") or ""),
            detail=str(body.get("detail") or ""),
            errors=[e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else [],
            extra={k: v for k, v in body.items() if k not in known},
            retry_after=int(retry) if retry.isdigit() else None,
        )


class Api:
    """``/api/v1`` of one gateway. ``client_ip`` is passed on as ``X-Forwarded-For`` (the
    gateway trusts it only from its trusted proxies), so each shopper has their own rate
    limit instead of all of them sharing the storefront's."""

    def __init__(self, client: httpx.AsyncClient, *, upload_timeout: float = 30.0) -> None:
        self.client = client
        self.upload_timeout = upload_timeout

    async def call(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        client_ip: str | None = None,
        json: Any = None,
        params: Params | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One call; raises ``ApiProblem`` for an answer of 400 or more."""
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        if client_ip:
            sent["X-Forwarded-For"] = client_ip
        try:
            response = await self.client.request(
                method,
                url.lstrip("/"),
                json=json,
                params=params,
                files=files,
                headers=sent,
                timeout=httpx.Timeout(self.upload_timeout) if files else USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError as error:
            log.warning("API call %s %s failed: %s", method, url, type(error).__name__)
            raise ApiProblem(
                503,
                type="unreachable",
                title="The shop's API cannot be reached",
                detail="the shop's API does not answer",
            ) from None
        if response.status_code >= 400:
            raise ApiProblem.from_response(response)
        return response

    async def json(self, method: str, url: str, **kwargs: Any) -> Any:
        """``call`` and the answer's JSON body (None for an empty one, e.g. a 204)."""
        response = await self.call(method, url, **kwargs)
        return response.json() if response.content else None

    @contextlib.asynccontextmanager
    async def stream(
        self,
        url: str,
        *,
        token: str,
        client_ip: str | None = None,
        last_event_id: str | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """A streamed GET (an order's event stream); raises ``ApiProblem`` like ``call``."""
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        if client_ip:
            headers["X-Forwarded-For"] = client_ip
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        request = self.client.build_request(
            "GET", url.lstrip("/"), headers=headers, timeout=httpx.Timeout(10.0, read=None)
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError:
            raise ApiProblem(
                503, type="unreachable", title="The shop's API cannot be reached"
            ) from None
        try:
            if response.status_code >= 400:
                await response.aread()
                raise ApiProblem.from_response(response)
            yield response
        finally:
            await response.aclose()


async def get_api(request: Request) -> Api:
    """The app's ``Api`` (a FastAPI dependency; ``async``, as a plain ``def`` one would run in
    the thread pool on every request)."""
    return get_resources(request).get(Api)


@contextlib.asynccontextmanager
async def api_lifespan(resources: Resources) -> AsyncIterator[Api]:
    from emporium.storefront.settings import Settings

    settings = resources.settings
    assert isinstance(settings, Settings)
    # The base URL ends with "/" so relative paths append to /api/v1 instead of replacing it.
    async with httpx.AsyncClient(
        base_url=settings.api_url.rstrip("/") + "/",
        timeout=settings.api_timeout_seconds,
        limits=httpx.Limits(max_connections=100, keepalive_expiry=4.0),
    ) as client:
        api = Api(client, upload_timeout=settings.upload_timeout_seconds)
        resources.put(api)
        yield api
