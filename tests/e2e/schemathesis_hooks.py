"""schemathesis hooks of ``test_schemathesis`` (loaded by its CLI runs: ``SCHEMATHESIS_HOOKS``).

A pagination ``cursor`` is opaque: only a cursor the API gave out (a page's ``next_cursor``)
is valid, and the schema cannot say which strings those are. So positive cases keep a
``cursor`` only when it is one the run received from that operation (in the same ``sort``,
which a product cursor belongs to), as the stateful phase's ``NextPage`` links send it; a
made-up one is dropped from the case, which is then what the schema says it is: valid.
Negative cases are left alone (made-up and malformed cursors are the services' own tests:
``test_bad_numbers.py``).
"""

from __future__ import annotations

import threading
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
