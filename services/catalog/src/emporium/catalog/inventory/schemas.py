"""Inventory request and response bodies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["StockLevel", "StockSet"]


class StockSet(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"on_hand": 25}]})

    on_hand: int = Field(ge=0, le=10_000_000)

    @field_validator("on_hand", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: Any) -> Any:
        # JSON's true/false are not counts (pydantic would read false as 0).
        if isinstance(value, bool):
            raise ValueError("on_hand must be a whole number, not true/false")
        return value


class StockLevel(BaseModel):
    on_hand: int
    reserved: int
    available: int
