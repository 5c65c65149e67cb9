"""One OpenAPI document for the whole public API, from the services' own, and Swagger UI."""

from __future__ import annotations

from typing import Any

from emporium.gateway.openapi import merge
from emporium.gateway.testing import GatewayFactory, free_port


async def test_the_document_has_every_service_s_public_paths(gateway: GatewayFactory) -> None:
    gw = await gateway()
    response = await gw.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    paths = document["paths"]
    assert "/api/v1/products/items" in paths
    assert "/api/v1/orders/{order_id}/events" in paths
    assert "/api/v1/auth/jwks" in paths
    assert not [p for p in paths if not p.startswith("/api/v1/")]
    assert "/api/v1/readyz" not in paths  # not a public route
    # Each service's "Item" kept its own shape; the refs follow the renamed ones.
    schemas = document["components"]["schemas"]
    assert set(schemas["Item"]["properties"]) == {"value"}
    assert set(schemas["CustomersItem"]["properties"]) == {"value", "label"}
    catalog_item = paths["/api/v1/products/items"]["get"]["responses"]["200"]
    assert catalog_item["content"]["application/json"]["schema"]["$ref"].endswith("/Item")
    assert "429" in paths["/api/v1/products/items"]["get"]["responses"]
    assert "Problem" in schemas
    assert "x-emporium-missing" not in document


async def test_a_missing_service_is_left_out_until_it_answers(gateway: GatewayFactory) -> None:
    gw = await gateway(orders_url=f"http://127.0.0.1:{free_port()}")
    document = (await gw.client.get("/api/v1/openapi.json")).json()
    assert document["x-emporium-missing"] == ["orders"]
    assert "/api/v1/products/items" in document["paths"]


async def test_swagger_ui_shows_the_public_document(gateway: GatewayFactory) -> None:
    gw = await gateway()
    docs = await gw.client.get("/docs")
    assert docs.status_code == 200
    assert "/api/v1/openapi.json" in docs.text


def _spec(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return {"openapi": "3.1.0", "paths": paths, "components": {"schemas": schemas}}


def test_identical_schemas_are_shared_and_operation_ids_kept_unique() -> None:
    problem = {"type": "object", "properties": {"status": {"type": "integer"}}}
    op = {"operationId": "get_it", "responses": {"200": {"description": "ok"}}}
    document = merge(
        {
            "catalog": _spec({"/products": {"get": dict(op)}}, {"Problem": problem}),
            "orders": _spec({"/cart": {"get": dict(op)}}, {"Problem": dict(problem)}),
        },
        title="t",
        version="1",
        description="",
    )
    assert set(document["components"]["schemas"]) == {"Problem"}
    ids = {item["get"]["operationId"] for item in document["paths"].values()}
    assert ids == {"get_it", "orders_get_it"}
    assert "401" in document["paths"]["/api/v1/cart"]["get"]["responses"]
    assert "401" not in document["paths"]["/api/v1/products"]["get"]["responses"]


def test_links_join_an_answer_to_the_operations_that_use_it() -> None:
    created = {"operationId": "create", "responses": {"201": {"description": "created"}}}
    read = {"operationId": "read", "responses": {"200": {"description": "ok"}}}
    document = merge(
        {
            "catalog": _spec(
                {"/admin/products": {"post": created}, "/products/{product_id}": {"get": read}},
                {},
            )
        },
        title="t",
        version="1",
        description="",
    )
    answer = document["paths"]["/api/v1/admin/products"]["post"]["responses"]["201"]
    assert answer["links"]["GetProduct"] == {
        "operationId": "read",
        "parameters": {"path.product_id": "$response.body#/id"},
    }
    # Targets that are not in the document (PATCH, stock, cart...) get no dangling link.
    ids = {
        operation.get("operationId")
        for item in document["paths"].values()
        for operation in item.values()
    }
    assert {link["operationId"] for link in answer["links"].values()} <= ids


def test_every_link_names_operations_of_the_route_table() -> None:
    from emporium.gateway.openapi import LINKS
    from emporium.gateway.routes import API_PREFIX, match

    for link in LINKS:
        for label in (link.source, link.target):
            method, _, path = label.partition(" ")
            assert path.startswith(API_PREFIX), label
            assert match(path.removeprefix(API_PREFIX), method) is not None, label


def test_a_free_text_path_parameter_documents_the_gateway_s_segment_rule() -> None:
    import re

    from emporium.gateway.openapi import SEGMENT_PATTERN

    def parameter(name: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": schema}

    read = {
        "parameters": [
            parameter("key", {"type": "string"}),
            parameter("product_id", {"type": "string", "format": "uuid"}),
        ],
        "responses": {"200": {"description": "ok"}},
    }
    document = merge(
        {"catalog": _spec({"/media/{key}/{product_id}": {"get": read}}, {})},
        title="t",
        version="1",
        description="",
    )
    key, product_id = document["paths"]["/api/v1/media/{key}/{product_id}"]["get"]["parameters"]
    assert key["schema"]["pattern"] == SEGMENT_PATTERN
    assert "pattern" not in product_id["schema"]
    accepted = re.compile(SEGMENT_PATTERN)
    for routed in ("photo.webp", "a~b", ".x", "x y"):
        assert accepted.match(routed), routed
    for refused in (".", "..", "...", "a/b", "a\\b", "a@b", "a\x00b", "a\x7fb", ""):
        assert not accepted.match(refused), refused


def _problem_kinds(response: dict[str, Any]) -> list[str] | None:
    from emporium.kit.errors import PROBLEM_CONTENT_TYPE, problem_types

    return problem_types(response["content"][PROBLEM_CONTENT_TYPE]["schema"])


def test_the_document_names_its_server_and_defines_every_tag_it_uses() -> None:
    op = {"tags": ["cart"], "responses": {"200": {"description": "ok"}}}
    other = {"tags": ["wishlist"], "responses": {"200": {"description": "ok"}}}
    document = merge(
        {"orders": _spec({"/cart": {"get": op}, "/orders/wishes": {"get": other}}, {})},
        title="t",
        version="1",
        description="",
    )
    assert document["servers"] == [{"url": "/", "description": "The gateway serving this document"}]
    assert document["info"]["contact"]["name"]
    tags = {tag["name"]: tag for tag in document["tags"]}
    # Ours with their description; one the gateway does not know is still defined.
    assert set(tags) == {"cart", "wishlist"}
    assert tags["cart"]["description"]


def test_the_gateway_s_own_problems_join_the_ones_a_service_declares() -> None:
    from emporium.kit.errors import Unauthorized, problem_responses, problem_type

    class WrongPassword(Unauthorized):
        type = problem_type("invalid-credentials")

    erase = {
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
        "responses": {
            "204": {"description": "gone"},
            **{str(k): v for k, v in problem_responses(WrongPassword).items()},
        },
    }
    listing = {"responses": {"200": {"description": "ok"}}}
    document = merge(
        {
            "customers": _spec({"/me": {"delete": erase}}, {}),
            "catalog": _spec({"/products": {"get": listing}}, {}),
        },
        title="t",
        version="1",
        description="",
    )
    me = document["paths"]["/api/v1/me"]["delete"]["responses"]
    # The service's kind and the gateway's token check: one 401 documents both.
    assert _problem_kinds(me["401"]) == [
        problem_type("invalid-credentials"),
        problem_type("unauthorized"),
    ]
    assert _problem_kinds(me["413"]) == [problem_type("content-too-large")]
    # A body that is not JSON at all is the framework's 400, in every service.
    assert sorted(_problem_kinds(me["400"]) or []) == [
        problem_type("bad-request"),
        problem_type("bad-request-target"),
    ]
    assert _problem_kinds(me["429"]) == [problem_type("too-many-requests")]
    assert "403" not in me  # a customer route: no admin check
    products = document["paths"]["/api/v1/products"]["get"]["responses"]
    # Any operation: a target the gateway will not route (e.g. a control character in it).
    assert _problem_kinds(products["400"]) == [problem_type("bad-request-target")]
    assert "413" not in products  # no body
    assert "304" in products  # a cached catalog read answers If-None-Match
    assert "304" not in me
