"""``/admin/shipping-zones``, ``/admin/tax-rates``, ``/admin/promotions``: admin only."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(prefix="/admin", tags=["admin"])
