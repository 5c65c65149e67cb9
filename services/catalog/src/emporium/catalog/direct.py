"""Routes tried before FastAPI's route search, for the hottest reads as callers send them.

On a cached answer, FastAPI's route search and parameter solving were about a third of the
CPU of a product GET. A ``DirectRoute`` matches one exact form of one GET (a path and query
that need no validation beyond its patterns) and calls the same endpoint function; any other
request is routed as if it were not there, so validation, errors and the OpenAPI document
stay FastAPI's. It sets ``scope["route"]`` to itself, with the documented path template, so
metrics, logs and spans name the same route.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

__all__ = ["DirectRoute"]


class DirectRoute(Route):
    """``GET path_template`` when the path fully matches ``path`` and the raw query string
    fully matches ``query``; ``path``'s named groups are the path parameters."""

    def __init__(
        self,
        path_template: str,
        *,
        path: re.Pattern[str],
        query: re.Pattern[bytes],
        endpoint: Callable[[Request], Awaitable[Response]],
    ) -> None:
        super().__init__(path_template, endpoint, methods=["GET"], include_in_schema=False)
        self.path_pattern = path
        self.query_pattern = query

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] != "GET":
            return Match.NONE, {}
        found = self.path_pattern.fullmatch(scope["path"])
        if found is None or self.query_pattern.fullmatch(scope["query_string"]) is None:
            return Match.NONE, {}
        return Match.FULL, {
            "endpoint": self.endpoint,
            "path_params": found.groupdict(),
            "route": self,
        }
