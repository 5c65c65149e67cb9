"""Opaque listing cursors: the sort and the last row's sort key, base64url JSON.

A keyset cursor (not an offset) keeps pages stable while products are added: a page
continues strictly after the last row the client saw, in the sort's total order.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from uuid import UUID

from emporium.catalog.errors import InvalidCursor

__all__ = ["Cursor", "decode_cursor", "encode_cursor"]


@dataclass(frozen=True)
class Cursor:
    sort: str
    value: str | int | None
    last_id: UUID


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps([cursor.sort, cursor.value, str(cursor.last_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str, sort: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        name, value, last = json.loads(raw)
        cursor = Cursor(sort=str(name), value=value, last_id=UUID(str(last)))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidCursor("the cursor is not one this service gave out", field="cursor") from None
    if cursor.sort != sort or not isinstance(cursor.value, str | int | type(None)):
        raise InvalidCursor("the cursor belongs to another sort order", field="cursor")
    return cursor
