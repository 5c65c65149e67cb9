"""Inventory request and response bodies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["StockLevel", "StockSet"]


class StockSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on_hand: int = Field(ge=0, le=10_000_000)


class StockLevel(BaseModel):
    on_hand: int
    reserved: int
    available: int
