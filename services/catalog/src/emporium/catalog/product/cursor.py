"""Opaque listing cursors: the sort and the last row's sort key, base64url JSON.

A keyset cursor (not an offset) keeps pages stable while products are added: a page
continues strictly after the last row the client saw, in the sort's total order.

A cursor comes from the client, so it is checked like any input: its sort key must be of
the sort's type (a name: a string of at most ``MAX_NAME_LENGTH``; a price: an integer that
fits a signed 64-bit column; newest: none), else 422, never a database error.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from uuid import UUID

from emporium.catalog.errors import InvalidCursor

__all__ = [
    "MAX_INT64",
    "MAX_NAME_LENGTH",
    "MIN_INT64",
    "Cursor",
    "decode_cursor",
    "encode_cursor",
    "valid_sort_value",
]

MAX_INT64 = 2**63 - 1
MIN_INT64 = -(2**63)
#: The product name column's length.
MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class Cursor:
    sort: str
    value: str | int | None
    last_id: UUID


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps([cursor.sort, cursor.value, str(cursor.last_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def valid_sort_value(sort: str, value: object) -> bool:
    """Whether ``value`` can be the last row's sort key under ``sort``."""
    if sort == "name":
        return isinstance(value, str) and len(value) <= MAX_NAME_LENGTH
    if sort in ("price", "-price"):
        # bool is an int in Python; JSON true is not a price.
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and MIN_INT64 <= value <= MAX_INT64
        )
    return value is None


def decode_cursor(token: str, sort: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        name, value, last = json.loads(raw)
        cursor = Cursor(sort=str(name), value=value, last_id=UUID(str(last)))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, RecursionError):
        raise InvalidCursor("the cursor is not one this service gave out", field="cursor") from None
    if cursor.sort != sort:
        raise InvalidCursor("the cursor belongs to another sort order", field="cursor")
    if not valid_sort_value(sort, cursor.value):
        raise InvalidCursor(
            "the cursor's sort key is out of range for this sort order", field="cursor"
        )
    return cursor
