"""One OpenAPI document for the whole public API, built from the services' own specs.

Each service's ``/openapi.json`` is fetched on the first request for the document and kept;
a service that could not be fetched is asked again after ``retry_seconds`` (the document
is served without its paths meanwhile, marked in ``x-emporium-missing``). Only the paths
the route table sends to that service are taken, prefixed with ``/api/v1``. Schemas with
the same name and the same content are shared; a name two services use for different
schemas is renamed ``<Service><Name>`` in the second one (its ``$ref``s with it). Every
operation also documents the answers the gateway itself may give (401/403 where the route
needs a token, 429, 502, 503, 504). OpenAPI ``links`` join the operations a client chains
(register -> sign in, create a product -> read, change, delete it, fill the cart -> check out
-> read the order, create a promotion -> read, change, delete it, a page's ``next_cursor`` ->
the next page...): they document the flows and drive schemathesis' stateful phase.
A free-text path parameter gets the pattern of what the gateway routes in one segment (no
``/``, ``\\``, ``@`` or control character, not dots only): its canonical-path rule is
part of the contract.

The document also names its server (``/``: the origin it is served from), defines every tag
its operations use (``TAGS``) and declares each problem an operation may answer with the
``type``s it carries (``emporium.kit.errors.problem_schema``): the services' own, and the
gateway's (400 for a target it will not route, 401, 403, 413 on a body, 429) merged into
them; a cached catalog read documents its 304.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse, JSONResponse, Response

from emporium.gateway.errors import TooManyStreams
from emporium.gateway.routes import API_PREFIX, Route, match
from emporium.gateway.target import BadTarget
from emporium.gateway.upstreams import Upstreams
from emporium.kit.app import get_resources
from emporium.kit.errors import (
    PROBLEM_CONTENT_TYPE,
    Forbidden,
    Problem,
    ProblemError,
    ProblemKind,
    TooManyRequests,
    Unauthorized,
    problem_responses,
    problem_schema,
    problem_type,
    problem_types,
)

__all__ = ["LINKS", "SEGMENT_PATTERN", "TAGS", "Link", "OpenAPIAggregator", "merge", "router"]

log = logging.getLogger("emporium.gateway.openapi")

_REF = "#/components/schemas/"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_GATEWAY_ANSWERS = {
    "502": "The service gave no valid answer",
    "503": "The service is unavailable",
    "504": "The service did not answer in time",
}


#: Every tag of the public document, in the order a reader meets them, with what it holds.
TAGS: dict[str, str] = {
    "auth": "Accounts and tokens: register, sign in, refresh, sign out, the signing keys",
    "me": "The signed-in customer's own profile and addresses",
    "categories": "The category tree; admins add categories",
    "products": "The public product listing and detail; admins create, change, delete",
    "inventory": "Stock on hand (admin)",
    "images": "Product images: admin upload and delete, and the stored files",
    "cart": "The signed-in customer's cart",
    "orders": "Checkout, the signed-in customer's orders and their live status events",
    "admin": "Admins only: every order (and shipping it), the customers, and the checkout"
    " pricing rules (shipping zones and rates, tax rates, promotions)",
}
#: Where the API is: the origin that serves this document (its paths carry ``/api/v1``).
SERVERS = [{"url": "/", "description": "The gateway serving this document"}]
CONTACT = {"name": "Emporium", "url": "https://emporium.dev"}


class _ContentTooLarge(ProblemError):
    # The kit's body limit (gateway and services alike) answers with this kind.
    status = 413
    type = problem_type("content-too-large")
    title = HTTPStatus(413).phrase


class _MalformedBody(ProblemError):
    # A body that is not JSON at all: the framework's parse error, as the kit's handler
    # answers it in every service (a JSON body of the wrong shape is a 422 instead).
    status = 400
    type = problem_type("bad-request")
    title = HTTPStatus(400).phrase


def _answers_of(
    route: Route, method: str, path: str, operation: dict[str, Any]
) -> list[ProblemKind]:
    """The problems the gateway itself may answer to this operation (before the service)."""
    # Any target can be one the gateway refuses to route (a control character or an encoded
    # slash in a path parameter, a dot segment...): ``reason`` in the problem says which.
    kinds: list[ProblemKind] = [(BadTarget, "The request target is ambiguous: see `reason`")]
    if route.auth != "anonymous":
        kinds.append((Unauthorized, "No valid access token (missing, expired or revoked)"))
    if route.auth == "admin":
        kinds.append((Forbidden, "The token is not an admin's"))
    if "requestBody" in operation:
        kinds.append((_MalformedBody, "The request body could not be parsed"))
        kinds.append((_ContentTooLarge, "The request body is larger than the limit"))
    kinds.append((TooManyRequests, "Too many requests: see Retry-After and RateLimit-*"))
    segments = tuple(path.removeprefix(API_PREFIX).strip("/").split("/"))
    if method == "get" and segments[::2] == ("orders", "events"):
        kinds.append((TooManyStreams, "The customer has as many event streams open as allowed"))
    return kinds


def _add_answer(responses: dict[str, Any], status: str, answer: dict[str, Any]) -> None:
    """Document ``answer`` (a ``problem_responses`` entry) under ``status``: a status the
    service declared with its own problem types gets ours added to them."""
    existing = responses.get(status)
    if existing is None:
        responses[status] = answer
        return
    theirs = existing.get("content", {}).get(PROBLEM_CONTENT_TYPE)
    declared = problem_types(theirs.get("schema", {})) if theirs else None
    if theirs is None or declared is None:
        return  # documented as any problem already
    ours = answer["content"][PROBLEM_CONTENT_TYPE]
    added = [kind for kind in problem_types(ours["schema"]) or [] if kind not in declared]
    if not added:
        return
    theirs["schema"] = problem_schema([*declared, *added])
    theirs.setdefault("examples", {}).update(ours["examples"])
    existing["description"] = f"{existing.get('description', '')}; {answer['description']}"


def _document_gateway_answers(
    route: Route, method: str, path: str, operation: dict[str, Any]
) -> None:
    responses = operation.setdefault("responses", {})
    answers = problem_responses(*_answers_of(route, method, path, operation))
    for status, answer in answers.items():
        _add_answer(responses, str(status), answer)
    for status, text in _GATEWAY_ANSWERS.items():
        responses.setdefault(status, _problem_response(text))
    if route.cache and method == "get":
        responses.setdefault(
            "304", {"description": "Not modified: `If-None-Match` names the current `ETag`"}
        )
    operation["responses"] = dict(sorted(responses.items()))


def _tags(used: list[str], declared: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every tag an operation uses, defined: ours first (``TAGS``), then any other."""
    tags = [{"name": name, "description": text} for name, text in TAGS.items() if name in used]
    for name in used:
        if name not in TAGS:
            tags.append(declared.get(name, {"name": name}))
    return tags


@dataclass(frozen=True, slots=True)
class Link:
    """An OpenAPI link: ``source``'s ``status`` answer feeds ``target`` (``METHOD /path``).

    ``parameters`` and ``body`` map the target's inputs to runtime expressions
    (``$response.body#/id``, ``$request.path.product_id``); paths are public (``/api/v1``).
    """

    source: str
    status: str
    name: str
    target: str
    parameters: dict[str, str] = field(default_factory=dict)
    body: dict[str, str] | None = None


_NEW_ID = "$response.body#/id"

# One path segment the gateway routes: none of / \ @ or a control character, and not made
# of dots only (written without look-arounds, so that generators can use it).
_SEGMENT_CHAR = r"[^\x00-\x1f\x7f/\\@]"
SEGMENT_PATTERN = rf"^{_SEGMENT_CHAR}*[^\x00-\x1f\x7f/\\@.]{_SEGMENT_CHAR}*$"


def _constrain_path_parameters(operation: dict[str, Any]) -> None:
    """Free-text path parameters get ``SEGMENT_PATTERN`` (a uuid or a number needs none)."""
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema")
        if parameter.get("in") != "path" or not isinstance(schema, dict):
            continue
        if schema.get("type") == "string" and "format" not in schema and "pattern" not in schema:
            schema["pattern"] = SEGMENT_PATTERN


def _links() -> tuple[Link, ...]:
    product = {"path.product_id": _NEW_ID}
    same_product = {"path.product_id": "$request.path.product_id"}
    order = {"path.order_id": _NEW_ID}
    address = {"path.address_id": _NEW_ID}
    customer = {"path.customer_id": _NEW_ID}
    next_page = {"query.cursor": "$response.body#/next_cursor"}
    zone = {"path.zone_id": _NEW_ID}
    tax_rate = {"path.tax_rate_id": _NEW_ID}
    promotion = {"path.promotion_id": _NEW_ID}
    a = API_PREFIX
    return (
        Link(
            f"POST {a}/auth/register",
            "201",
            "SignIn",
            f"POST {a}/auth/token",
            body={"email": "$request.body#/email", "password": "$request.body#/password"},
        ),
        Link(
            f"POST {a}/auth/register",
            "201",
            "AdminGetCustomer",
            f"GET {a}/admin/customers/{{customer_id}}",
            customer,
        ),
        Link(
            f"POST {a}/auth/register",
            "201",
            "AdminCustomerAudit",
            f"GET {a}/admin/customers/{{customer_id}}/audit",
            customer,
        ),
        Link(
            f"POST {a}/auth/register",
            "201",
            "AdminUpdateCustomer",
            f"PATCH {a}/admin/customers/{{customer_id}}",
            customer,
        ),
        Link(
            f"POST {a}/auth/register",
            "201",
            "AdminDeleteCustomer",
            f"DELETE {a}/admin/customers/{{customer_id}}",
            customer,
        ),
        Link(
            f"POST {a}/auth/token",
            "200",
            "Refresh",
            f"POST {a}/auth/refresh",
            body={"refresh_token": "$response.body#/refresh_token"},
        ),
        Link(
            f"POST {a}/auth/refresh",
            "200",
            "RefreshAgain",
            f"POST {a}/auth/refresh",
            body={"refresh_token": "$response.body#/refresh_token"},
        ),
        Link(
            f"POST {a}/admin/categories",
            "201",
            "CreateProductInCategory",
            f"POST {a}/admin/products",
            body={"category_id": _NEW_ID},
        ),
        Link(
            f"POST {a}/admin/products",
            "201",
            "GetProduct",
            f"GET {a}/products/{{product_id}}",
            product,
        ),
        Link(
            f"POST {a}/admin/products",
            "201",
            "UpdateProduct",
            f"PATCH {a}/admin/products/{{product_id}}",
            product,
        ),
        Link(
            f"POST {a}/admin/products",
            "201",
            "DeleteProduct",
            f"DELETE {a}/admin/products/{{product_id}}",
            product,
        ),
        Link(
            f"POST {a}/admin/products",
            "201",
            "SetStock",
            f"PUT {a}/admin/products/{{product_id}}/stock",
            product,
        ),
        Link(
            f"POST {a}/admin/products",
            "201",
            "UploadImage",
            f"POST {a}/admin/products/{{product_id}}/images",
            product,
        ),
        Link(
            f"POST {a}/admin/products",
            "201",
            "AddToCart",
            f"PUT {a}/cart/items/{{product_id}}",
            product,
        ),
        Link(
            f"POST {a}/admin/products/{{product_id}}/images",
            "201",
            "DeleteImage",
            f"DELETE {a}/admin/products/{{product_id}}/images/{{image_id}}",
            {**same_product, "path.image_id": _NEW_ID},
        ),
        Link(
            f"PUT {a}/admin/products/{{product_id}}/stock",
            "200",
            "AddStockedToCart",
            f"PUT {a}/cart/items/{{product_id}}",
            same_product,
        ),
        Link(
            f"GET {a}/products/{{product_id}}",
            "200",
            "AddToCart",
            f"PUT {a}/cart/items/{{product_id}}",
            same_product,
        ),
        Link(f"PUT {a}/cart/items/{{product_id}}", "200", "CheckOut", f"POST {a}/orders"),
        Link(
            f"PUT {a}/cart/items/{{product_id}}",
            "200",
            "RemoveFromCart",
            f"DELETE {a}/cart/items/{{product_id}}",
            same_product,
        ),
        Link(f"POST {a}/orders", "202", "GetOrder", f"GET {a}/orders/{{order_id}}", order),
        Link(
            f"POST {a}/orders", "202", "CancelOrder", f"POST {a}/orders/{{order_id}}/cancel", order
        ),
        Link(
            f"POST {a}/orders", "202", "AdminGetOrder", f"GET {a}/admin/orders/{{order_id}}", order
        ),
        Link(
            f"POST {a}/orders",
            "202",
            "ShipOrder",
            f"POST {a}/admin/orders/{{order_id}}/ship",
            order,
        ),
        Link(
            f"POST {a}/me/addresses",
            "201",
            "GetAddress",
            f"GET {a}/me/addresses/{{address_id}}",
            address,
        ),
        Link(
            f"POST {a}/me/addresses",
            "201",
            "UpdateAddress",
            f"PATCH {a}/me/addresses/{{address_id}}",
            address,
        ),
        Link(
            f"POST {a}/me/addresses",
            "201",
            "DeleteAddress",
            f"DELETE {a}/me/addresses/{{address_id}}",
            address,
        ),
        # The checkout pricing rules: what an admin creates is read, changed and deleted by id.
        Link(
            f"POST {a}/admin/shipping-zones",
            "201",
            "DeleteShippingZone",
            f"DELETE {a}/admin/shipping-zones/{{zone_id}}",
            zone,
        ),
        Link(
            f"POST {a}/admin/tax-rates",
            "201",
            "DeleteTaxRate",
            f"DELETE {a}/admin/tax-rates/{{tax_rate_id}}",
            tax_rate,
        ),
        Link(
            f"POST {a}/admin/promotions",
            "201",
            "GetPromotion",
            f"GET {a}/admin/promotions/{{promotion_id}}",
            promotion,
        ),
        Link(
            f"POST {a}/admin/promotions",
            "201",
            "UpdatePromotion",
            f"PATCH {a}/admin/promotions/{{promotion_id}}",
            promotion,
        ),
        Link(
            f"POST {a}/admin/promotions",
            "201",
            "DeletePromotion",
            f"DELETE {a}/admin/promotions/{{promotion_id}}",
            promotion,
        ),
        # Cursor pagination: a page's ``next_cursor`` is the next request's ``cursor`` (opaque:
        # only the cursors the API gave out are valid), in the same sort order for products.
        Link(
            f"GET {a}/products",
            "200",
            "NextPage",
            f"GET {a}/products",
            {**next_page, "query.sort": "$request.query.sort"},
        ),
        Link(f"GET {a}/orders", "200", "NextPage", f"GET {a}/orders", next_page),
        Link(f"GET {a}/admin/orders", "200", "NextPage", f"GET {a}/admin/orders", next_page),
        Link(f"GET {a}/admin/customers", "200", "NextPage", f"GET {a}/admin/customers", next_page),
        Link(
            f"GET {a}/admin/promotions", "200", "NextPage", f"GET {a}/admin/promotions", next_page
        ),
    )


#: The chains of the public API, added to the merged document where both ends exist.
LINKS = _links()


def _add_links(paths: dict[str, Any], links: tuple[Link, ...]) -> None:
    """Each link on its source's answer, naming the target by ``operationId``."""

    def operation(label: str) -> dict[str, Any] | None:
        method, _, path = label.partition(" ")
        found: dict[str, Any] | None = paths.get(path, {}).get(method.lower())
        return found

    for link in links:
        source, target = operation(link.source), operation(link.target)
        if source is None or target is None or not target.get("operationId"):
            continue  # a service that is missing, or a route gone: no dangling link
        answer = source.get("responses", {}).get(link.status)
        if answer is None:
            continue
        definition: dict[str, Any] = {"operationId": target["operationId"]}
        if link.parameters:
            definition["parameters"] = dict(link.parameters)
        if link.body is not None:
            definition["requestBody"] = dict(link.body)
        answer.setdefault("links", {})[link.name] = definition


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(_REF):
                name = value.removeprefix(_REF)
                out[key] = _REF + renames.get(name, name)
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, renames) for item in node]
    return node


def _problem_response(description: str) -> dict[str, Any]:
    schema = {"$ref": _REF + "Problem"}
    return {"description": description, "content": {PROBLEM_CONTENT_TYPE: {"schema": schema}}}


def merge(
    specs: dict[str, dict[str, Any]], *, title: str, version: str, description: str
) -> dict[str, Any]:
    """The public document from each service's spec (by service name)."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    security: dict[str, Any] = {}
    tags: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    used_tags: list[str] = []
    for service, spec in specs.items():
        components = spec.get("components", {})
        renames: dict[str, str] = {}
        for name, schema in components.get("schemas", {}).items():
            if name in schemas and schemas[name] != _rewrite_refs(schema, renames):
                renames[name] = service.capitalize() + name
        service_schemas = {
            renames.get(name, name): _rewrite_refs(schema, renames)
            for name, schema in components.get("schemas", {}).items()
        }
        for name, schema in service_schemas.items():
            schemas.setdefault(name, schema)
        for name, scheme in components.get("securitySchemes", {}).items():
            security.setdefault(name, scheme)
        for tag in spec.get("tags", []):
            tags.setdefault(tag["name"], tag)
        for path, item in spec.get("paths", {}).items():
            public = API_PREFIX + path
            operations: dict[str, Any] = {}
            for method, operation in _rewrite_refs(item, renames).items():
                if method not in _METHODS:
                    operations[method] = operation  # path-level parameters, summary...
                    continue
                route = match(path, method.upper())
                if route is None or route.upstream != service:
                    continue  # not part of the public API (or another service's)
                operation_id = operation.get("operationId")
                if operation_id:
                    if operation_id in operation_ids:
                        operation["operationId"] = f"{service}_{operation_id}"
                    operation_ids.add(operation["operationId"])
                _document_gateway_answers(route, method, public, operation)
                for tag in operation.get("tags", []):
                    if tag not in used_tags:
                        used_tags.append(tag)
                _constrain_path_parameters(operation)
                operations[method] = operation
            if any(method in _METHODS for method in operations):
                paths.setdefault(public, {}).update(operations)
    _add_links(paths, LINKS)
    problem = Problem.model_json_schema(ref_template=_REF + "{model}")
    schemas.setdefault("Problem", problem)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": description,
            "contact": dict(CONTACT),
        },
        "servers": [dict(server) for server in SERVERS],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(schemas.items()))},
    }
    if security:
        document["components"]["securitySchemes"] = security
    if used_tags:
        document["tags"] = _tags(used_tags, tags)
    return document


class OpenAPIAggregator:
    """Fetches the services' specs (lazily, once; again later for missing ones) and merges."""

    def __init__(
        self,
        upstreams: Upstreams,
        *,
        title: str,
        version: str,
        description: str,
        retry_seconds: float = 15.0,
    ) -> None:
        self.upstreams = upstreams
        self.title = title
        self.version = version
        self.description = description
        self.retry_seconds = retry_seconds
        self._specs: dict[str, dict[str, Any]] = {}
        self._tried_at = float("-inf")
        self._document: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    async def document(self) -> dict[str, Any]:
        async with self._lock:
            missing = [name for name in self.upstreams.by_name if name not in self._specs]
            due = time.monotonic() - self._tried_at >= self.retry_seconds
            if self._document is None or (missing and due):
                self._tried_at = time.monotonic()
                fetched = await asyncio.gather(*(self._fetch(name) for name in missing))
                for name, spec in zip(missing, fetched, strict=True):
                    if spec is not None:
                        self._specs[name] = spec
                ordered = {n: self._specs[n] for n in self.upstreams.by_name if n in self._specs}
                document = merge(
                    ordered, title=self.title, version=self.version, description=self.description
                )
                still_missing = [n for n in self.upstreams.by_name if n not in self._specs]
                if still_missing:
                    document["x-emporium-missing"] = still_missing
                self._document = document
            return self._document

    async def _fetch(self, name: str) -> dict[str, Any] | None:
        upstream = self.upstreams[name]
        try:
            async with asyncio.timeout(upstream.timeout):
                async with upstream.session.get(upstream.base_url + "/openapi.json") as answer:
                    answer.raise_for_status()
                    spec: dict[str, Any] = await answer.json()
                    return spec
        except Exception as error:  # any failure: serve without it, try again later
            log.warning("cannot fetch the %s OpenAPI document: %r", name, error)
            return None


router = APIRouter(include_in_schema=False)


@router.get(API_PREFIX + "/openapi.json")
async def openapi_document(request: Request) -> Response:
    """The OpenAPI document of the whole public API."""
    aggregator = get_resources(request).get(OpenAPIAggregator)
    return JSONResponse(await aggregator.document())


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    """Swagger UI on the public API."""
    return get_swagger_ui_html(openapi_url=API_PREFIX + "/openapi.json", title="Emporium API")
