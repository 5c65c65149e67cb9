"""The product GET and listing taken before FastAPI's routing (``emporium.catalog.direct``)
answer exactly as the routed endpoints do, and are counted and documented as the same
operations."""

from __future__ import annotations

import json

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from emporium.catalog.testing import Catalog

PROBLEM = "application/problem+json"
UNKNOWN = "01a233f6-0000-7000-8000-000000000000"


def same_answer(direct: httpx.Response, routed: httpx.Response) -> None:
    """Status, headers and body alike, but for the request's own id (and its path)."""
    assert direct.status_code == routed.status_code
    skip = {"date", "x-request-id", "content-length"}
    assert {k: v for k, v in direct.headers.items() if k not in skip} == {
        k: v for k, v in routed.headers.items() if k not in skip
    }
    if direct.headers["content-type"] == PROBLEM:
        ours, theirs = direct.json(), routed.json()
        assert ours["request_id"] == direct.headers["x-request-id"]
        for body in (ours, theirs):
            del body["request_id"], body["instance"]
        assert ours == theirs
    else:
        assert direct.content == routed.content


async def test_the_direct_product_get_answers_as_the_routed_endpoint(catalog: Catalog) -> None:
    product = await catalog.product(name="Kettle", price=1250)
    pid = product["id"]
    hex_id = pid.replace("-", "")  # a form only the routed endpoint takes
    client = catalog.client

    for _ in range(2):  # computed, then cached
        direct = await client.get(f"/products/{pid}")
        routed = await client.get(f"/products/{hex_id}")
        assert direct.status_code == 200
        assert direct.json()["name"] == "Kettle"
        same_answer(direct, routed)
        same_answer(await client.get(f"/products/{pid.upper()}"), routed)
        # A currency goes the direct way; any other parameter the routed one.
        usd = await client.get(f"/products/{pid}?currency=usd")
        assert usd.json()["price"] is None
        same_answer(usd, await client.get(f"/products/{pid}?currency=usd&view=full"))
        same_answer(
            await client.get(f"/products/{pid}?currency=EUR"), await client.get(f"/products/{pid}")
        )

    missing = await client.get(f"/products/{UNKNOWN}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    same_answer(missing, await client.get(f"/products/{UNKNOWN.replace('-', '')}"))
    bad_currency = await client.get(f"/products/{pid}?currency=US")
    assert bad_currency.status_code == 422
    assert bad_currency.headers["content-type"] == PROBLEM


async def test_the_direct_listing_answers_as_the_routed_endpoint(catalog: Catalog) -> None:
    for i in range(3):
        await catalog.product(name=f"Lamp {i}", price=100 + i)
    client = catalog.client

    for _ in range(2):  # computed, then cached
        direct = await client.get("/products?limit=2")
        assert [p["name"] for p in direct.json()["items"]] == ["Lamp 0", "Lamp 1"]
        # Forms only the routed endpoint takes, asking for the same page.
        same_answer(direct, await client.get("/products?limit=02"))
        same_answer(direct, await client.get("/products?limit=2&sort=name"))
        same_answer(await client.get("/products"), await client.get("/products?limit=20"))
        same_answer(await client.get("/products"), await client.get("/products?currency=EUR"))

    too_many = await client.get("/products?limit=101")
    assert too_many.status_code == 422
    assert too_many.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("method", ["HEAD", "POST", "DELETE"])
async def test_other_methods_are_answered_as_before(catalog: Catalog, method: str) -> None:
    product = await catalog.product(name="Teapot")
    response = await catalog.client.request(method, f"/products/{product['id']}")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET"


async def test_direct_answers_are_counted_under_the_route_template(catalog: Catalog) -> None:
    product = await catalog.product(name="Lamp")
    for path in (f"/products/{product['id']}", f"/products/{product['id'].replace('-', '')}"):
        await catalog.client.get(path)
    await catalog.client.get(f"/products/{UNKNOWN}")
    await catalog.client.get("/products?limit=3")

    metrics = await catalog.client.get("/metrics")
    counts = {
        (sample.labels["route"], sample.labels["status"]): sample.value
        for family in text_string_to_metric_families(metrics.text)
        for sample in family.samples
        if sample.name == "emporium_http_requests_total"
        and sample.labels.get("service") == catalog.resources.settings.service_name
        and sample.labels["route"] in ("/products/{product_id}", "/products")
    }
    # Other tests' requests in this process may be counted too: at least ours.
    assert counts[("/products/{product_id}", "200")] >= 2
    assert counts[("/products/{product_id}", "404")] >= 1
    assert counts[("/products", "200")] >= 1


async def test_the_operations_are_documented_once(catalog: Catalog) -> None:
    document = (await catalog.client.get("/openapi.json")).json()

    detail = document["paths"]["/products/{product_id}"]
    assert list(detail) == ["get"]
    assert detail["get"]["operationId"] == "getProduct"
    assert document["paths"]["/products"]["get"]["operationId"] == "listProducts"
    for operation in ("getProduct", "listProducts"):
        assert json.dumps(document).count(f'"{operation}"') == 1
