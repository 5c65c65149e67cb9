"""What the domains share: money, pages and cursors, the event publisher."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.contracts.base import EventData
from emporium.kit.errors import Unprocessable, problem_type
from emporium.kit.events import Envelope
from emporium.kit.outbox import Outbox

__all__ = ["BadCursor", "EventPublisher", "Money", "Page", "decode_cursor", "encode_cursor"]

T = TypeVar("T")


class Money(BaseModel):
    amount: int = Field(description="Minor units (cents).")
    currency: str = Field(min_length=3, max_length=3)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null last.")


class BadCursor(Unprocessable):
    type = problem_type("bad-cursor")
    title = "Bad cursor"


def encode_cursor(last_id: UUID) -> str:
    """An opaque cursor after ``last_id`` (ids are UUIDv7, so id order is creation order)."""
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


#: An encoded cursor is 22 characters (16 bytes, base64url without padding).
_MAX_CURSOR_LENGTH = 24


def decode_cursor(cursor: str) -> UUID:
    """The id a cursor of ``encode_cursor`` holds; ``BadCursor`` (422) for anything else."""
    if len(cursor) > _MAX_CURSOR_LENGTH:
        raise BadCursor("the cursor is not one this service gave out")
    try:
        return UUID(bytes=base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, binascii.Error):
        raise BadCursor("the cursor is not one this service gave out") from None


@dataclass(frozen=True)
class EventPublisher:
    """Stages the service's events in the caller's transaction, on their contract's topic
    (the relay puts the service's ``topic_prefix`` in front on the bus)."""

    outbox: Outbox

    async def publish(self, session: AsyncSession, data: EventData, *, key: UUID) -> Envelope:
        """Stage ``data``; returns its envelope (whose id is the outbox row's)."""
        return await self.outbox.add(session, data, key=key)
