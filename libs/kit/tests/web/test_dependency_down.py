"""A database outage is a 503 with Retry-After, and the same app serves again once it is back."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from emporium.kit.errors import PROBLEM_CONTENT_TYPE, problem_type

MakeApp = Callable[..., FastAPI]
Serve = Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]]


def assert_database_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert int(response.headers["retry-after"]) > 0
    problem = response.json()
    assert problem["type"] == problem_type("dependency-unavailable")
    assert problem["dependency"] == "database"
    assert problem["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text


async def test_nothing_listening_on_the_database_port_is_a_503(
    make_app: MakeApp, serve: Serve
) -> None:
    app = make_app(database_url="postgresql+asyncpg://x:y@127.0.0.1:1/x")
    async with serve(app) as client:
        response = await client.get("/db")

    assert_database_unavailable(response)
    assert "127.0.0.1" not in response.text


async def test_postgres_going_away_and_coming_back(
    make_app: MakeApp, serve: Serve, pg_proxy: tuple[Any, str]
) -> None:
    proxy, url = pg_proxy  # a TCP proxy to this test's real database (conftest.TcpProxy)
    async with serve(make_app(database_url=url)) as client:
        assert_database_unavailable(await client.get("/db"))
        assert (await client.get("/readyz")).status_code == 503

        await proxy.start()
        back = await client.get("/db")
        assert back.status_code == 200, back.text
        assert back.json() == {"one": 1}
        assert (await client.get("/readyz")).status_code == 200

        await proxy.stop()  # pooled connections die with it
        assert_database_unavailable(await client.get("/db"))

        await proxy.start()
        assert (await client.get("/db")).json() == {"one": 1}


async def test_sqlite_that_cannot_open_its_file_then_can(
    make_app: MakeApp, serve: Serve, tmp_path: Path
) -> None:
    folder = tmp_path / "not-yet"
    async with serve(make_app(database_url=f"sqlite+aiosqlite:///{folder}/db.sqlite")) as client:
        assert_database_unavailable(await client.get("/db"))

        folder.mkdir()
        back = await client.get("/db")

    assert back.status_code == 200
    assert back.json() == {"one": 1}
