"""Every error a client can get is an RFC 9457 problem+json with the request id."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from emporium.kit.bus.base import BusUnavailable
from emporium.kit.errors import PROBLEM_CONTENT_TYPE, problem_type, unavailable_dependency
from emporium.kit.storage.errors import StorageUnavailable

MakeApp = Callable[..., FastAPI]
Serve = Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]]


async def test_validation_error_lists_every_field_without_echoing_input(
    make_app: MakeApp, serve: Serve
) -> None:
    secret = "4111-secret-1111"
    async with serve(make_app()) as client:
        response = await client.post(
            "/items?limit=lots",
            json={"name": "", "price": -3, "card_number": secret},
        )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    problem = response.json()
    assert problem["type"] == problem_type("validation-error")
    assert problem["status"] == 422
    assert problem["instance"] == "/items"
    assert problem["request_id"] == response.headers["x-request-id"]
    fields = {error["field"] for error in problem["errors"]}
    assert fields == {"body.name", "body.price", "body.card_number", "query.limit"}
    assert all(error["message"] and error["type"] for error in problem["errors"])
    assert secret not in response.text


async def test_missing_body_fields_are_each_named(make_app: MakeApp, serve: Serve) -> None:
    async with serve(make_app()) as client:
        response = await client.post("/items", json={})

    assert response.status_code == 422
    fields = [error["field"] for error in response.json()["errors"]]
    assert sorted(fields) == ["body.card_number", "body.name", "body.price"]


async def test_unknown_route_is_a_404_problem(make_app: MakeApp, serve: Serve) -> None:
    async with serve(make_app()) as client:
        response = await client.get("/nowhere")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    problem = response.json()
    assert problem["type"] == problem_type("not-found")
    assert problem["title"] == "Not Found"
    assert problem["instance"] == "/nowhere"
    assert problem["request_id"] == response.headers["x-request-id"]


async def test_wrong_method_is_a_405_problem_with_allow(make_app: MakeApp, serve: Serve) -> None:
    async with serve(make_app()) as client:
        response = await client.delete("/items")

    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert response.json()["type"] == problem_type("method-not-allowed")
    assert response.headers["allow"] == "POST"


async def test_domain_not_found_keeps_its_type_and_extra_fields(
    make_app: MakeApp, serve: Serve
) -> None:
    async with serve(make_app()) as client:
        response = await client.get("/products/42")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert response.json() == {
        "type": problem_type("product-not-found"),
        "title": "Product not found",
        "status": 404,
        "detail": "product 42 does not exist",
        "instance": "/products/42",
        "request_id": response.headers["x-request-id"],
        "product_id": 42,
    }


async def test_unhandled_error_is_a_bare_500_and_the_traceback_is_logged(
    make_app: MakeApp, serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    async with serve(make_app()) as client:
        response = await client.get("/boom")

    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    problem = response.json()
    request_id = response.headers["x-request-id"]
    assert problem["type"] == problem_type("internal-error")
    assert problem["request_id"] == request_id
    assert "Traceback" not in response.text
    assert "kaboom" not in response.text
    assert "RuntimeError" not in response.text

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert len(errors) == 1
    assert errors[0]["request_id"] == request_id
    assert "Traceback" in errors[0]["exception"]
    assert "RuntimeError: kaboom: internal detail" in errors[0]["exception"]


async def test_a_database_error_that_is_not_an_outage_is_a_500(
    make_app: MakeApp, serve: Serve
) -> None:
    async with serve(make_app()) as client:
        response = await client.get("/integrity")

    assert response.status_code == 500
    assert response.json()["type"] == problem_type("internal-error")
    assert "duplicate key" not in response.text


def _in_asyncpg() -> OSError:
    # A socket error as asyncpg raises it while connecting (its frames in the traceback).
    try:
        asyncio.run(asyncpg.connect("postgresql://x:y@127.0.0.1:1/x"))
    except OSError as exc:
        return exc
    raise AssertionError("connected to port 1?")


@pytest.mark.parametrize(
    ("make_error", "dependency"),
    [
        (lambda: OperationalError("SELECT 1", {}, Exception("gone")), "database"),
        (
            lambda: DBAPIError("SELECT 1", {}, Exception("x"), connection_invalidated=True),
            "database",
        ),
        (lambda: asyncpg.CannotConnectNowError("the database system is starting up"), "database"),
        (lambda: asyncpg.TooManyConnectionsError("too many clients"), "database"),
        (_in_asyncpg, "database"),
        (lambda: BusUnavailable("no broker"), "bus"),
        (lambda: StorageUnavailable("no s3"), "storage"),
        (lambda: ConnectionRefusedError(111, "refused"), "dependency"),
        (lambda: OSError("Multiple exceptions: [Errno 111] Connect call failed"), "dependency"),
        (lambda: IntegrityError("INSERT", {}, Exception("dup")), None),
        (lambda: FileNotFoundError("/etc/nothing"), None),
        (lambda: RuntimeError("bug"), None),
    ],
)
def test_which_errors_mean_a_dependency_is_down(
    make_error: Callable[[], BaseException], dependency: str | None
) -> None:
    assert unavailable_dependency(make_error()) == dependency


async def test_rate_limit_sets_retry_after(make_app: MakeApp, serve: Serve) -> None:
    async with serve(make_app()) as client:
        response = await client.get("/busy")

    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["type"] == problem_type("too-many-requests")


@pytest.mark.parametrize(
    ("path", "dependency"), [("/bus-down", "bus"), ("/storage-down", "storage")]
)
async def test_an_unavailable_dependency_is_a_503_with_retry_after(
    make_app: MakeApp, serve: Serve, path: str, dependency: str
) -> None:
    async with serve(make_app()) as client:
        response = await client.get(path)

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert int(response.headers["retry-after"]) > 0
    problem = response.json()
    assert problem["type"] == problem_type("dependency-unavailable")
    assert problem["dependency"] == dependency
    assert "gone" not in response.text


async def test_openapi_documents_the_422_as_problem_json(make_app: MakeApp, serve: Serve) -> None:
    async with serve(make_app()) as client:
        schema = (await client.get("/openapi.json")).json()
        docs = await client.get("/docs")

    responses = schema["paths"]["/items"]["post"]["responses"]
    assert list(responses["422"]["content"]) == [PROBLEM_CONTENT_TYPE]
    errors = schema["components"]["schemas"]["ValidationProblem"]["properties"]["errors"]
    assert errors["type"] == "array"
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert docs.status_code == 200
