"""Numbers from the client (query values, cursors) are bounded: 422 problem, never a 500."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from emporium.catalog.errors import InvalidCursor
from emporium.catalog.product.cursor import (
    MAX_INT64,
    MIN_INT64,
    Cursor,
    decode_cursor,
    encode_cursor,
    valid_sort_value,
)
from emporium.catalog.testing import Catalog

_ID = "018f0000-0000-7000-8000-000000000000"


def _token(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("sort", "value", "ok"),
    [
        ("price", 0, True),
        ("price", 1999, True),
        ("price", MAX_INT64, True),
        ("price", MIN_INT64, True),
        ("price", MAX_INT64 + 1, False),
        ("price", MIN_INT64 - 1, False),
        ("price", 2**64, False),
        ("price", 10**400, False),
        ("-price", MAX_INT64 + 1, False),
        ("-price", 5, True),
        ("price", True, False),
        ("price", 1.5, False),
        ("price", "12", False),
        ("price", None, False),
        ("name", "Kettle", True),
        ("name", "", True),
        ("name", "é" * 200, True),
        ("name", "x" * 201, False),
        ("name", 7, False),
        ("name", None, False),
        ("newest", None, True),
        ("newest", 3, False),
        ("newest", "x", False),
    ],
)
def test_a_sort_key_must_fit_its_sort(sort: str, value: object, ok: bool) -> None:
    assert valid_sort_value(sort, value) is ok


@pytest.mark.parametrize(
    "token",
    [
        _token(["price", 2**64, _ID]),
        _token(["price", -(2**70), _ID]),
        _token(["price", True, _ID]),
        _token(["price", {"a": 1}, _ID]),
        _token(["price", [1], _ID]),
        _token(["name", 1, _ID]),
        _token(["price", 1, "not-a-uuid"]),
        _token(["price", 1]),
        _token("price"),
        base64.urlsafe_b64encode(b"[" * 5000).decode(),
        "!!!",
        "%%%",
        "",
        "é",
    ],
)
def test_a_forged_cursor_is_an_invalid_cursor(token: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(token, "price" if "name" not in token else "name")


def test_a_cursor_round_trips_at_the_bounds() -> None:
    for value in (MAX_INT64, MIN_INT64, 0):
        cursor = Cursor(sort="price", value=value, last_id=uuid.UUID(_ID))
        assert decode_cursor(encode_cursor(cursor), "price") == cursor


@pytest.mark.parametrize(
    "params",
    [
        {"min_price": str(2**63)},
        {"max_price": str(2**63)},
        {"min_price": "9" * 400},
        {"max_price": "99999999999999999999999999"},
        {"min_price": "-1"},
        {"min_price": "1e3"},
        {"limit": str(2**64)},
        {"limit": "0"},
        {"sort": "price", "cursor": _token(["price", 2**64, _ID])},
        {"sort": "-price", "cursor": _token(["-price", -(2**64), _ID])},
        {"sort": "price", "cursor": _token(["price", True, _ID])},
        {"sort": "name", "cursor": _token(["name", "x" * 201, _ID])},
        {"cursor": "x" * 2049},
    ],
)
async def test_out_of_range_numbers_are_a_422_problem(
    catalog: Catalog, params: dict[str, str]
) -> None:
    response = await catalog.client.get("/products", params=params)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_largest_price_bounds_are_accepted(catalog: Catalog) -> None:
    response = await catalog.client.get(
        "/products", params={"min_price": "0", "max_price": str(MAX_INT64)}
    )

    assert response.status_code == 200, response.text


async def test_a_cursor_after_a_long_non_ascii_name_is_accepted(catalog: Catalog) -> None:
    category = await catalog.category("long")
    for letter in "ab":
        await catalog.product(name=letter + "é" * 199, category_id=category["id"])
    first = await catalog.client.get("/products", params={"limit": 1})
    assert first.status_code == 200, first.text
    cursor = first.json()["next_cursor"]
    assert cursor is not None
    assert len(cursor) > 500

    second = await catalog.client.get("/products", params={"limit": 1, "cursor": cursor})

    assert second.status_code == 200, second.text
    assert [item["name"] for item in second.json()["items"]] == ["b" + "é" * 199]


async def test_a_json_body_over_the_general_limit_is_413(catalog: Catalog) -> None:
    response = await catalog.client.post(
        "/admin/products",
        content=b'{"name": "' + b"x" * (1024 * 1024) + b'"}',
        headers={**catalog.admin, "Content-Type": "application/json"},
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
