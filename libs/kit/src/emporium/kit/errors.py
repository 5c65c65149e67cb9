"""Errors as RFC 9457 problem details (``application/problem+json``).

Domain code raises a ``ProblemError`` subclass; ``install_problem_handlers`` turns it, and
everything else that can go wrong in a request, into one response shape::

    {"type": "https://emporium.dev/problems/not-found", "title": "Not Found", "status": 404,
     "detail": "product 42 does not exist", "instance": "/products/42",
     "request_id": "0196..."}

``type`` is always ``https://emporium.dev/problems/<slug>`` (see ``problem_type``): a stable
identifier clients can switch on; it is not meant to be dereferenced. A service declares
its own kinds by subclassing::

    class ProductNotFound(NotFound):
        type = problem_type("product-not-found")
        title = "Product not found"

A dependency that is down (database, bus, object storage, any refused connection) gives a
503 with ``Retry-After``; anything unexpected gives a 500 whose body says nothing but the
request id (the stack trace goes to the log, never to the client).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from emporium.kit.logs import current_request_id

__all__ = [
    "DEPENDENCY_RETRY_AFTER",
    "PROBLEM_BASE",
    "PROBLEM_CONTENT_TYPE",
    "Conflict",
    "FieldError",
    "Forbidden",
    "NotFound",
    "Problem",
    "ProblemError",
    "ProblemKind",
    "ProblemResponse",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "Unprocessable",
    "ValidationProblem",
    "install_problem_handlers",
    "internal_error_response",
    "problem_response",
    "problem_responses",
    "problem_schema",
    "problem_type",
    "problem_types",
    "unavailable_dependency",
]

log = logging.getLogger("emporium.errors")

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://emporium.dev/problems/"
#: Seconds a client is asked to wait when a dependency of the service is down.
DEPENDENCY_RETRY_AFTER = 5

_RESERVED = frozenset({"type", "title", "status", "detail", "instance", "request_id"})

# Stable slugs for the statuses the framework itself produces (HTTPStatus phrases change
# between Python versions: 413 became "Content Too Large").
_STATUS_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "content-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "too-many-requests",
    500: "internal-error",
    502: "bad-gateway",
    503: "service-unavailable",
    504: "gateway-timeout",
}


def problem_type(slug: str) -> str:
    """The ``type`` URI of the problem kind ``slug`` (``not-found`` -> ``https://.../not-found``)."""
    return PROBLEM_BASE + slug


def _status_type(status: int) -> str:
    slug = _STATUS_SLUGS.get(status)
    if slug is None:
        try:
            slug = HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")
        except ValueError:
            slug = f"http-{status}"
    return problem_type(slug)


def _status_title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


class Problem(BaseModel):
    """The shape of every error body (for the OpenAPI schema; responses are built as dicts)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None


class FieldError(BaseModel):
    """One field at fault in a 422: ``body.price``, what is wrong, and pydantic's error type."""

    field: str
    message: str
    type: str


class ValidationProblem(Problem):
    """A 422: every field at fault is listed in ``errors``."""

    errors: list[FieldError]


class ProblemResponse(JSONResponse):
    """A JSON response with the ``application/problem+json`` media type."""

    media_type = PROBLEM_CONTENT_TYPE


def problem_response(
    *,
    status: int,
    type: str | None = None,
    title: str | None = None,
    detail: str | None = None,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> ProblemResponse:
    """Build a problem+json response; ``request_id`` is filled from the current request."""
    body: dict[str, Any] = {
        "type": type or _status_type(status),
        "title": title or _status_title(status),
        "status": status,
    }
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    request_id = current_request_id()
    if request_id is not None:
        body["request_id"] = request_id
    for key, value in (extra or {}).items():
        if key not in _RESERVED:
            body[key] = jsonable_encoder(value)
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}))


class ProblemError(Exception):
    """Base of the errors a request handler raises on purpose; becomes a problem+json response.

    ``status``, ``type`` and ``title`` come from the class (subclass to declare a kind) and
    can be overridden per instance; keyword arguments beyond those become extra members of
    the problem body (``Conflict("SKU taken", sku="X-1")`` adds ``"sku": "X-1"``).
    """

    status: int = 500
    type: str = problem_type("internal-error")
    title: str = "Internal Server Error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        type: str | None = None,
        title: str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        if type is not None:
            self.type = type
        if title is not None:
            self.title = title
        if status is not None:
            self.status = status
        self.headers: dict[str, str] = dict(headers or {})
        self.extra: dict[str, Any] = extra
        if self.status == 422 and "errors" not in extra:
            # Every 422 has the one documented shape (ValidationProblem): the fields at fault.
            self.extra["errors"] = [
                {
                    "field": str(extra.get("field", "")),
                    "message": detail or self.title,
                    "type": self.type.rsplit("/", 1)[-1],
                }
            ]

    def to_response(self, instance: str | None = None) -> ProblemResponse:
        return problem_response(
            status=self.status,
            type=self.type,
            title=self.title,
            detail=self.detail,
            instance=instance,
            headers=self.headers,
            extra=self.extra,
        )


class NotFound(ProblemError):
    """404: the thing asked for does not exist."""

    status = 404
    type = problem_type("not-found")
    title = "Not Found"


class Conflict(ProblemError):
    """409: the request contradicts the current state (duplicate, stale version...)."""

    status = 409
    type = problem_type("conflict")
    title = "Conflict"


class Unprocessable(ProblemError):
    """422: well-formed but semantically wrong (a business rule says no)."""

    status = 422
    type = problem_type("unprocessable")
    title = "Unprocessable Content"


class Unauthorized(ProblemError):
    """401: no valid credentials; carries ``WWW-Authenticate: Bearer`` as RFC 9110 asks."""

    status = 401
    type = problem_type("unauthorized")
    title = "Unauthorized"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class Forbidden(ProblemError):
    """403: authenticated, but not allowed to do this."""

    status = 403
    type = problem_type("forbidden")
    title = "Forbidden"


class ServiceUnavailable(ProblemError):
    """503: cannot serve right now; ``retry_after`` (seconds) becomes ``Retry-After``."""

    status = 503
    type = problem_type("service-unavailable")
    title = "Service Unavailable"

    def __init__(
        self, detail: str | None = None, *, retry_after: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after
        if retry_after is not None:
            self.headers["Retry-After"] = str(int(retry_after))


class TooManyRequests(ProblemError):
    """429: rate limited; ``retry_after`` (seconds) becomes ``Retry-After``."""

    status = 429
    type = problem_type("too-many-requests")
    title = "Too Many Requests"

    def __init__(self, detail: str | None = None, *, retry_after: int, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after
        self.headers["Retry-After"] = str(int(retry_after))


_PROBLEM_REF = "#/components/schemas/Problem"

#: A problem kind an operation may answer: its class, or its class and when it happens.
ProblemKind = type[ProblemError] | tuple[type[ProblemError], str]


def problem_schema(types: Iterable[str]) -> dict[str, Any]:
    """The OpenAPI schema of a problem whose ``type`` is one of ``types`` (an enum a typed
    client can switch on); ``problem_types`` reads them back."""
    kinds = {"type": "string", "enum": sorted(set(types))}
    only = {"type": "object", "properties": {"type": kinds}, "required": ["type"]}
    return {"allOf": [{"$ref": _PROBLEM_REF}, only]}


def problem_types(schema: Mapping[str, Any]) -> list[str] | None:
    """The ``type`` enum of a ``problem_schema``; None for any other schema."""
    parts = schema.get("allOf")
    if not isinstance(parts, list) or len(parts) != 2 or parts[0] != {"$ref": _PROBLEM_REF}:
        return None
    enum = parts[1].get("properties", {}).get("type", {}).get("enum")
    return list(enum) if isinstance(enum, list) else None


def problem_responses(*kinds: ProblemKind) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses=`` of a route for the problems it answers, by status.

    Each status gets a ``problem_schema`` of its kinds' ``type``s and an example of each;
    a kind given as ``(kind, "when")`` is described by ``when`` instead of its title::

        @router.post("/orders", responses=problem_responses(EmptyCart, IdempotencyKeyReused))
    """
    responses: dict[int | str, dict[str, Any]] = {}
    for given in kinds:
        kind, when = given if isinstance(given, tuple) else (given, given.title)
        response = responses.setdefault(kind.status, {"description": "", "types": []})
        response["description"] += ("; " if response["description"] else "") + when
        response["types"].append(kind.type)
        example = {"type": kind.type, "title": kind.title, "status": kind.status, "detail": when}
        response.setdefault("examples", {})[kind.type.removeprefix(PROBLEM_BASE)] = {
            "summary": kind.title,
            "value": example,
        }
    return {
        status: {
            "description": response["description"],
            "content": {
                PROBLEM_CONTENT_TYPE: {
                    "schema": problem_schema(response["types"]),
                    "examples": response["examples"],
                }
            },
        }
        for status, response in responses.items()
    }


def unavailable_dependency(exc: BaseException) -> str | None:
    """Which dependency ``exc`` says is down (``database``, ``bus``, ``storage``...), or None.

    These are conditions a retry can cure, so they map to 503, not to 500.
    """
    from sqlalchemy import exc as sa_exc

    from emporium.kit.bus.base import BusUnavailable

    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        return "database"
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return "database"
    if _is_asyncpg_unavailable(exc):
        return "database"
    if isinstance(exc, BusUnavailable):
        return "bus"
    storage_unavailable = _storage_unavailable_class()
    if storage_unavailable is not None and isinstance(exc, storage_unavailable):
        return "storage"
    # asyncpg (and others) raise the socket error itself when connecting fails; asyncio's
    # "Multiple exceptions: [Errno 111] Connect call failed ..." is a plain OSError.
    if isinstance(exc, ConnectionError | TimeoutError) or (
        isinstance(exc, OSError) and "Connect call failed" in str(exc)
    ):
        return _raised_by(exc) or "dependency"
    return None


# Whose code a bare socket error came out of, by the module names in its traceback.
_CLIENT_MODULES = (
    ("sqlalchemy", "database"),
    ("asyncpg", "database"),
    ("aiosqlite", "database"),
    ("aiokafka", "bus"),
    ("emporium.kit.bus", "bus"),
    ("aiobotocore", "storage"),
    ("botocore", "storage"),
    ("emporium.kit.storage", "storage"),
)


def _raised_by(exc: BaseException) -> str | None:
    found: str | None = None
    tb = exc.__traceback__
    while tb is not None:  # outermost first: the innermost client frame wins
        module = tb.tb_frame.f_globals.get("__name__", "")
        for prefix, dependency in _CLIENT_MODULES:
            if module == prefix or module.startswith(prefix + "."):
                found = dependency
        tb = tb.tb_next
    return found


def _is_asyncpg_unavailable(exc: BaseException) -> bool:
    if "asyncpg" not in sys.modules:  # not loaded: cannot have raised
        return False
    import asyncpg

    # Raised unwrapped by SQLAlchemy while connecting: server starting/stopping, full.
    return isinstance(
        exc,
        asyncpg.PostgresConnectionError
        | asyncpg.CannotConnectNowError
        | asyncpg.TooManyConnectionsError
        | asyncpg.exceptions.OperatorInterventionError
        | asyncpg.ConnectionDoesNotExistError,
    )


def _storage_unavailable_class() -> type[BaseException] | None:
    # Only look at a storage module that is already loaded: one that is not cannot have
    # raised anything, and importing it here would load aiobotocore into every service.
    for name in ("emporium.kit.storage.errors", "emporium.kit.storage"):
        cls = getattr(sys.modules.get(name), "StorageUnavailable", None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            return cls
    return None


def dependency_unavailable_response(
    dependency: str, exc: BaseException, instance: str | None
) -> ProblemResponse:
    """503 for a dependency that is down; logged as a warning without a stack trace."""
    log.warning(
        "%s unavailable: %s: %s",
        dependency,
        type(exc).__name__,
        exc,
        extra={"dependency": dependency},
    )
    what = "A service it depends on" if dependency == "dependency" else f"Its {dependency}"
    return problem_response(
        status=503,
        type=problem_type("dependency-unavailable"),
        title="Service Unavailable",
        detail=f"{what} is not available right now; try again shortly.",
        instance=instance,
        headers={"Retry-After": str(DEPENDENCY_RETRY_AFTER)},
        extra={"dependency": dependency},
    )


def unstorable_value_response(exc: BaseException, instance: str | None) -> ProblemResponse:
    """422 for a value the database refused (a NUL character in text, a number out of its
    column's range): the client's input is at fault, and nothing was stored."""
    log.info("database refused a value: %s", str(exc).splitlines()[0][:300])
    message = "a value cannot be stored (e.g. a NUL character in text, or a number too large)"
    return problem_response(
        status=422,
        type=problem_type("unstorable-value"),
        title="Invalid request",
        detail=f"Invalid: {message}",
        instance=instance,
        extra={"errors": [{"field": "body", "message": message, "type": "unstorable-value"}]},
    )


def internal_error_response(exc: BaseException, instance: str | None) -> ProblemResponse:
    """The response to an unhandled exception: 422 for a value the database refused, 503 if
    a dependency is down, else 500.

    The 500 is logged with its stack trace; the body only carries the request id.
    """
    if _is_data_error(exc):
        return unstorable_value_response(exc, instance)
    dependency = unavailable_dependency(exc)
    if dependency is not None:
        return dependency_unavailable_response(dependency, exc, instance)
    log.error("unhandled %s while serving %s", type(exc).__name__, instance, exc_info=exc)
    return problem_response(
        status=500,
        type=problem_type("internal-error"),
        title="Internal Server Error",
        detail="An unexpected error occurred; quote the request id when reporting it.",
        instance=instance,
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    # Never echo ``input``/``ctx``: the offending value may be a password or a token.
    return [
        {
            "field": ".".join(str(part) for part in error.get("loc", ())),
            "message": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in exc.errors()
    ]


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return exc.to_response(instance=request.url.path)


async def _on_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
    return problem_response(
        status=422,
        type=problem_type("validation-error"),
        title="Invalid request",
        detail=f"Invalid: {fields}" if fields else "The request is not valid.",
        instance=request.url.path,
        extra={"errors": errors},
    )


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    extra: dict[str, Any] = {}
    detail: str | None
    if isinstance(exc.detail, str):
        detail = exc.detail
    else:  # FastAPI allows any JSON as detail; keep it, as data, outside ``detail``.
        detail = _status_title(exc.status_code)
        extra["errors"] = exc.detail
    return problem_response(
        status=exc.status_code,
        detail=detail,
        instance=request.url.path,
        headers=exc.headers,
        extra=extra,
    )


def _is_data_error(exc: BaseException) -> bool:
    """The database refused a value (SQLSTATE class 22, "data exception")."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.DataError):
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    # asyncpg's errors reach SQLAlchemy as a plain DBAPIError; their SQLSTATE tells.
    for error in (exc.orig, getattr(exc.orig, "__cause__", None)):
        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith("22"):
            return True
    return False


async def _on_unavailable(request: Request, exc: Exception) -> Response:
    if _is_data_error(exc):
        return unstorable_value_response(exc, request.url.path)
    dependency = unavailable_dependency(exc)
    if dependency is None:  # e.g. a DBAPIError subclass that is a bug, not an outage
        raise exc
    return dependency_unavailable_response(dependency, exc, request.url.path)


async def _on_unhandled(request: Request, exc: Exception) -> Response:
    return internal_error_response(exc, request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error response of ``app`` a problem+json (see the module docstring)."""
    from sqlalchemy import exc as sa_exc

    from emporium.kit.bus.base import BusUnavailable

    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    unavailable: list[type[Exception]] = [
        sa_exc.OperationalError,
        sa_exc.InterfaceError,
        sa_exc.DBAPIError,
        sa_exc.TimeoutError,
        BusUnavailable,
        ConnectionError,
    ]
    storage_unavailable = _storage_unavailable_class()
    if storage_unavailable is not None and issubclass(storage_unavailable, Exception):
        unavailable.append(storage_unavailable)
    for cls in unavailable:
        app.add_exception_handler(cls, _on_unavailable)
    # Reached only when RequestContextMiddleware is absent (it answers these itself):
    # Starlette's ServerErrorMiddleware sends this, then re-raises to the server.
    app.add_exception_handler(Exception, _on_unhandled)
