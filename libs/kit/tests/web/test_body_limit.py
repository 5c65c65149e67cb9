"""The request body limit every service's app applies: a setting, per-path exceptions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, Request

from emporium.kit.app import create_app
from emporium.kit.errors import PROBLEM_CONTENT_TYPE
from emporium.kit.middleware import RequestSizeLimitMiddleware, body_limit_for, declared_length
from emporium.kit.settings import ServiceSettings

from .conftest import Serve


def _router() -> APIRouter:
    router = APIRouter()

    @router.post("/notes")
    async def notes(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @router.post("/things/{thing_id}/images")
    async def images(thing_id: str, request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    return router


def _app(unique: str, **kwargs: Any) -> FastAPI:
    settings = ServiceSettings(service_name=unique, max_body_bytes=100, log_json=False)
    return create_app(settings=settings, title="Demo", routers=[_router()], **kwargs)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/notes", 10),
        ("/things/1/images", 500),
        ("/things/1/images/", 99),  # fullmatch: a longer path is not the upload
        ("/x/things/1/images", 99),
        ("/things/a/b/images", 99),
        ("/notes/", 99),
        ("/other", 99),
    ],
)
def test_the_limit_of_a_path_is_its_pattern_s_else_the_default(path: str, expected: int) -> None:
    limits = [(r"/things/[^/]+/images", 500), (r"/notes", 10)]
    default = 99
    assert body_limit_for(path, default, limits) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("0", 0),
        ("42", 42),
        ("99999999999999999999999", 99999999999999999999999),
        ("-1", None),
        ("1e3", None),
        (" 5", None),
        ("\u0661\u0662", None),  # Arabic-Indic digits: str.isdigit() says yes, HTTP says no
    ],
)
def test_a_declared_length_is_plain_ascii_digits(header: str | None, expected: int | None) -> None:
    assert declared_length(header) == expected


def test_a_negative_limit_is_refused_at_startup() -> None:
    with pytest.raises(ValueError, match="max_body_bytes"):
        RequestSizeLimitMiddleware(_router(), max_body_bytes=10, path_limits=[("/a", -1)])


def test_the_setting_defaults_to_one_mebibyte() -> None:
    assert ServiceSettings().max_body_bytes == 1024 * 1024


async def test_the_settings_limit_applies_without_an_explicit_one(
    unique: str, serve: Serve
) -> None:
    async with serve(_app(unique)) as client:
        fits = await client.post("/notes", content=b"x" * 100)
        too_big = await client.post("/notes", content=b"x" * 101)

    assert fits.status_code == 200
    assert too_big.status_code == 413
    assert too_big.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert "100 bytes" in too_big.json()["detail"]


async def test_an_upload_path_keeps_its_own_larger_limit(unique: str, serve: Serve) -> None:
    app = _app(unique, body_path_limits=[(r"/things/[^/]+/images", 1000)])
    async with serve(app) as client:
        upload = await client.post("/things/7/images", content=b"x" * 1000)
        upload_too_big = await client.post("/things/7/images", content=b"x" * 1001)
        note_too_big = await client.post("/notes", content=b"x" * 101)

    assert upload.status_code == 200
    assert upload.json() == {"size": 1000}
    assert upload_too_big.status_code == 413
    assert "1000 bytes" in upload_too_big.json()["detail"]
    assert note_too_big.status_code == 413


async def test_a_chunked_body_on_the_upload_path_is_cut_at_its_limit(
    unique: str, serve: Serve
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(30):
            yield b"y" * 50

    app = _app(unique, body_path_limits=[(r"/things/[^/]+/images", 1000)])
    async with serve(app) as client:
        response = await client.post("/things/7/images", content=chunks())

    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE


async def test_an_explicit_limit_wins_over_the_setting(unique: str, serve: Serve) -> None:
    async with serve(_app(unique, max_body_bytes=300)) as client:
        response = await client.post("/notes", content=b"x" * 300)

    assert response.status_code == 200
