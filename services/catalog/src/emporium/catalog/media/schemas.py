"""Image response bodies (the same ``Image`` the product carries)."""

from __future__ import annotations

from emporium.catalog.product.schemas import Image

__all__ = ["Image"]
