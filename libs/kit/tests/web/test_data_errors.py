"""A value the database refuses is the client's 422, not a 500, and nothing is stored."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from emporium.kit.errors import PROBLEM_CONTENT_TYPE, problem_type

MakeApp = Callable[..., FastAPI]
Serve = Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]]


async def _notes(url: str) -> list[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return [row[0] for row in await conn.execute(text("SELECT text FROM note"))]
    finally:
        await engine.dispose()


async def test_nul_in_text_and_out_of_range_numbers_are_422_and_store_nothing(
    make_app: MakeApp, serve: Serve, postgres_url: str
) -> None:
    app = make_app(database_url=postgres_url)
    async with serve(app) as client:
        assert (await client.post("/notes", json={"text": "fine"})).status_code == 200
        for body in ({"text": "nul \u0000 inside"}, {"text": "big", "n": "99999"}):
            response = await client.post("/notes", json=body)
            assert response.status_code == 422, response.text
            assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
            problem = response.json()
            assert problem["type"] == problem_type("unstorable-value")
            assert problem["errors"][0]["field"] == "body"
            assert "Traceback" not in response.text
    assert await _notes(postgres_url) == ["fine"]


def test_every_422_problem_lists_the_fields_at_fault() -> None:
    from emporium.kit.errors import Unprocessable

    class InvalidCursor(Unprocessable):
        type = problem_type("invalid-cursor")

    problem = InvalidCursor("the cursor does not decode", field="cursor")
    assert problem.extra["errors"] == [
        {"field": "cursor", "message": "the cursor does not decode", "type": "invalid-cursor"}
    ]
    explicit = Unprocessable("two things", errors=[{"field": "a", "message": "x", "type": "t"}])
    assert explicit.extra["errors"] == [{"field": "a", "message": "x", "type": "t"}]
