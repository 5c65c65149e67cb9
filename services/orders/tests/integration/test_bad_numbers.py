"""Query values, cursors and the Last-Event-ID header are bounded: 422 problem, never 500."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from emporium.orders.order.stream import MAX_EVENT_ID


def _is_problem_422(response: Any, names: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert names in response.text


@pytest.mark.parametrize(
    "value",
    [str(MAX_EVENT_ID + 1), str(2**64), "9" * 400, "-1", "abc", "1.5", "0x10", ""],
)
async def test_a_last_event_id_beyond_64_bits_or_not_a_number_is_422(
    orders: Any, value: str
) -> None:
    customer = uuid.uuid4()
    order = await orders.place(customer)

    response = await orders.client.get(
        f"/orders/{order['id']}/events",
        headers={**orders.auth(customer), "Last-Event-ID": value},
    )

    _is_problem_422(response, "Last-Event-ID")


async def test_a_last_event_id_in_range_resumes_the_stream(orders: Any) -> None:
    customer = uuid.uuid4()
    order = await orders.place(customer)
    cancel = await orders.client.post(
        f"/orders/{order['id']}/cancel", headers=orders.auth(customer)
    )
    assert cancel.status_code == 200, cancel.text

    response = await orders.client.get(
        f"/orders/{order['id']}/events", headers={**orders.auth(customer), "Last-Event-ID": "1"}
    )

    assert response.status_code == 200
    assert "id: 1\n" not in response.text
    assert "cancelled" in response.text


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/orders", {"limit": str(2**64)}),
        ("/orders", {"limit": "0"}),
        ("/orders", {"limit": "101"}),
        ("/orders", {"cursor": "A" * 10_000}),
        ("/orders", {"cursor": "not a cursor"}),
        ("/admin/orders", {"limit": "9" * 100}),
        ("/admin/orders", {"cursor": "A" * 23}),
    ],
)
async def test_out_of_range_list_parameters_are_422(
    orders: Any, path: str, params: dict[str, str]
) -> None:
    response = await orders.client.get(path, params=params, headers=orders.admin())

    _is_problem_422(response, "")


async def test_an_orders_body_over_the_limit_is_413(orders: Any) -> None:
    response = await orders.client.put(
        f"/cart/items/{uuid.uuid4()}",
        content=b'{"quantity": 1, "pad": "' + b"x" * (1024 * 1024) + b'"}',
        headers={**orders.auth(uuid.uuid4()), "Content-Type": "application/json"},
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("last_seen", ["2", str(MAX_EVENT_ID)])
async def test_a_stream_resumed_after_the_final_status_ends_at_once(
    orders: Any, last_seen: str
) -> None:
    customer = uuid.uuid4()
    order = await orders.place(customer)
    cancel = await orders.client.post(
        f"/orders/{order['id']}/cancel", headers=orders.auth(customer)
    )
    assert cancel.status_code == 200, cancel.text

    async with asyncio.timeout(60):  # a deadline against a hang, not a timing assertion
        response = await orders.client.get(
            f"/orders/{order['id']}/events",
            headers={**orders.auth(customer), "Last-Event-ID": last_seen},
        )

    assert response.status_code == 200
    assert "event: status" not in response.text
