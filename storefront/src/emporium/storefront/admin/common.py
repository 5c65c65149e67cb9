"""What the admin's pages share: the API dependency, problem status, pagination links."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.datastructures import URL

from emporium.storefront.api import Api, ApiProblem, get_api

__all__ = ["ApiDep", "next_page_url", "problem_status"]

ApiDep = Annotated[Api, Depends(get_api)]


def problem_status(problem: ApiProblem) -> int:
    """The status of a page that shows the form again with ``problem`` explained.

    A 4xx of the API is the person's to fix (kept as it is); anything else means the shop
    itself failed them (503).
    """
    return problem.status if 400 <= problem.status < 500 else 503


def next_page_url(url: URL, cursor: str | None) -> str | None:
    """This listing's URL with ``cursor`` (None on the last page)."""
    if not cursor:
        return None
    moved = url.include_query_params(cursor=cursor)
    return f"{moved.path}?{moved.query}"
