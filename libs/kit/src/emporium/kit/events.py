"""The event envelope: what travels on the bus around an event's ``data``.

The value of a bus record is the whole envelope as JSON; a few fields are copied into
record headers (``type``, ``id``, ``traceparent``) so routers and tools can read them
without decoding the value.
"""

from __future__ import annotations

import builtins
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import orjson
from pydantic import BaseModel, ConfigDict, Field

from emporium.contracts.base import EventData
from emporium.kit.ids import uuid7

__all__ = ["ContractMismatch", "Envelope", "wrap"]

E = TypeVar("E", bound=EventData)


class ContractMismatch(ValueError):
    """An envelope is not the contract its handler expects: retrying cannot help."""


class Envelope(BaseModel):
    """id (UUIDv7), versioned type, source, time, key, trace context and data."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: UUID = Field(default_factory=uuid7)
    type: str = Field(description="Versioned type, e.g. orders.OrderPlaced.v1")
    source: str = Field(description="The producing service, e.g. orders")
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    key: str = Field(description="The aggregate id; events of one key stay in order")
    trace: dict[str, str] = Field(
        default_factory=dict, description="W3C trace context: traceparent, tracestate"
    )
    data: dict[str, Any]

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        return cls.model_validate(orjson.loads(raw))

    def parse(self, schema: builtins.type[E]) -> E:
        """The data as its contract class; raises ValueError when the type does not match."""
        if self.type != schema.type_name():
            raise ContractMismatch(f"event {self.id} is {self.type}, not {schema.type_name()}")
        return schema.model_validate(self.data)

    def headers(self) -> list[tuple[str, bytes]]:
        items = [("type", self.type.encode()), ("id", str(self.id).encode())]
        items.extend((k, v.encode()) for k, v in self.trace.items())
        return items


def wrap(
    data: EventData,
    *,
    source: str,
    key: str | UUID,
    trace: dict[str, str] | None = None,
) -> Envelope:
    """Put ``data`` in a new envelope with a fresh UUIDv7 id and the current time."""
    return Envelope(
        type=data.type_name(),
        source=source,
        key=str(key),
        trace=trace or {},
        data=data.model_dump(mode="json"),
    )
