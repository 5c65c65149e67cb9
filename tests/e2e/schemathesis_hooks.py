"""schemathesis hooks of ``test_schemathesis`` (loaded by its CLI runs: ``SCHEMATHESIS_HOOKS``).

A pagination ``cursor`` is opaque: only a cursor the API gave out (a page's ``next_cursor``)
is valid, and the schema cannot say which strings those are. So positive cases keep a
``cursor`` only when it is one the run received from that operation (in the same ``sort``,
which a product cursor belongs to), as the stateful phase's ``NextPage`` links send it; a
made-up one is dropped from the case, which is then what the schema says it is: valid.
Negative cases are left alone (made-up and malformed cursors are the services' own tests:
``test_bad_numbers.py``).

The checkout pricing rules (orders' ``/admin/shipping-zones``, ``/admin/tax-rates``,
``/admin/promotions``) are global to the shop, and later suites share this platform: every
positive case, in every phase, writes them only where no test shops (zones and tax rates for
Antarctica, promotions on a product that does not exist). And a new promotion is sent as no
schema can say it must be (orders' ``rules.schemas.check_promotion``): its window ends after
it starts, and only a code has usage limits.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime
from typing import Any

import schemathesis

_CURSOR = "cursor"
#: (operation path, sort, cursor) of every ``next_cursor`` received during the run.
_given: set[tuple[str, Any, str]] = set()
_lock = threading.Lock()  # the runs use two workers (threads)


def _page_of(case: Any) -> tuple[str, Any]:
    return case.operation.path, (case.query or {}).get("sort")


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    """Remember the cursors the API hands out."""
    try:
        body = response.json()
    except Exception:  # not JSON: no cursor in it
        return
    cursor = body.get("next_cursor") if isinstance(body, dict) else None
    if isinstance(cursor, str):
        with _lock:
            _given.add((*_page_of(case), cursor))


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    """A positive case sends a cursor only if the API gave it out (for that page's sort)."""
    query = case.query
    if not query or _CURSOR not in query or case.meta is None:
        return case
    if not case.meta.generation.mode.is_positive:
        return case
    with _lock:
        given = (*_page_of(case), query[_CURSOR]) in _given
    if not given:
        case.query = {name: value for name, value in query.items() if name != _CURSOR}
    return case


#: Where a fuzzed shipping zone or tax rate applies: no test ships to Antarctica.
_NOWHERE = "AQ"


def _consistent_promotion(body: dict[str, Any]) -> dict[str, Any]:
    fixed = dict(body)
    starts, ends = fixed.get("starts_at"), fixed.get("ends_at")
    if isinstance(starts, str) and isinstance(ends, str):
        try:
            if datetime.fromisoformat(ends) <= datetime.fromisoformat(starts):
                del fixed["ends_at"]
        except (ValueError, TypeError):  # not a time Python reads: left as generated
            pass
    if fixed.get("code") is None:
        fixed.pop("usage_limit", None)
        fixed.pop("per_customer_limit", None)
    return fixed


def _out_of_the_way(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A pricing rule's body that changes no other test's cart."""
    if path.endswith("/admin/shipping-zones"):
        return {**body, "countries": [_NOWHERE]}
    if path.endswith("/admin/tax-rates"):
        return {**body, "country": _NOWHERE}
    if "/admin/promotions" not in path:
        return body
    if method == "POST":
        body = _consistent_promotion(body)
    if method == "POST" or "applies_to" in body:
        body = {**body, "applies_to": {"products": [str(uuid.uuid4())]}}
    return body


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Every positive write of a pricing rule (examples and links too) as ``_out_of_the_way``
    says."""
    method = case.method.upper()
    if method not in ("POST", "PATCH") or not isinstance(case.body, dict):
        return
    if case.meta is not None and not case.meta.generation.mode.is_positive:
        return
    case.body = _out_of_the_way(method, case.operation.path, case.body)
