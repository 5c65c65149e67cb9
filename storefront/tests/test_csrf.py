"""CSRF: every unsafe request to the storefront must carry its session's token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.middleware import Middleware

from emporium.storefront.csrf import CsrfMiddleware, token_matches
from emporium.storefront.session import Sealer, SessionMiddleware, get_session

KEY = "a-test-secret-key-that-is-long-enough-0123"


async def _refused(request: Request) -> Response:
    return PlainTextResponse("refused", status_code=403)


def _app() -> FastAPI:
    app = FastAPI(
        middleware=[
            Middleware(
                SessionMiddleware,
                sealer=Sealer(KEY, max_age_seconds=3600),
                cookie_name="s",
                secure=False,
            ),
            Middleware(CsrfMiddleware, refuse=_refused),
        ]
    )

    @app.get("/token")
    async def token(request: Request) -> Response:
        return PlainTextResponse(get_session(request).csrf_token)

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        form = await request.form()
        return PlainTextResponse(f"{form.get('name')}|{form.get('csrf_token') is not None}")

    @app.post("/upload")
    async def upload(request: Request) -> Response:
        async with request.form() as form:
            file = form.get("file")
            size = len(await file.read()) if hasattr(file, "read") else -1
        return PlainTextResponse(str(size))

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as http:
        yield http


async def _token(client: httpx.AsyncClient) -> str:
    return (await client.get("/token")).text


async def test_a_form_with_the_sessions_token_goes_through_unchanged(
    client: httpx.AsyncClient,
) -> None:
    token = await _token(client)
    answer = await client.post("/echo", data={"csrf_token": token, "name": "Ada"})
    assert answer.status_code == 200
    assert answer.text == "Ada|True"  # the body reached the page as it was sent


async def test_a_form_without_the_token_is_refused(client: httpx.AsyncClient) -> None:
    await _token(client)
    assert (await client.post("/echo", data={"name": "Ada"})).status_code == 403


async def test_a_token_of_another_session_is_refused(client: httpx.AsyncClient) -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as other:
        theirs = await _token(other)
    await _token(client)
    answer = await client.post("/echo", data={"csrf_token": theirs, "name": "Ada"})
    assert answer.status_code == 403


async def test_the_header_htmx_sends_is_accepted(client: httpx.AsyncClient) -> None:
    token = await _token(client)
    answer = await client.post("/echo", data={"name": "Ada"}, headers={"X-CSRF-Token": token})
    assert answer.text == "Ada|False"


async def test_a_json_post_without_the_header_is_refused(client: httpx.AsyncClient) -> None:
    await _token(client)
    assert (await client.post("/echo", json={"csrf_token": "x"})).status_code == 403


async def test_an_upload_carries_its_token_in_the_multipart_form(
    client: httpx.AsyncClient,
) -> None:
    token = await _token(client)
    answer = await client.post(
        "/upload", data={"csrf_token": token}, files={"file": ("a.png", b"x" * 5000, "image/png")}
    )
    assert answer.status_code == 200
    assert answer.text == "5000"
    refused = await client.post("/upload", files={"file": ("a.png", b"x" * 10, "image/png")})
    assert refused.status_code == 403


async def test_without_a_session_cookie_no_token_matches(client: httpx.AsyncClient) -> None:
    # A fresh visitor (a cross-site form, no cookie) has a new session: no token can match.
    answer = await client.post("/echo", data={"csrf_token": "", "name": "Ada"})
    assert answer.status_code == 403


def test_token_comparison() -> None:
    assert token_matches("abc", "abc")
    assert not token_matches("abc", "abd")
    assert not token_matches("abc", "")
    assert not token_matches("", "")
    assert not token_matches("abc", None)
