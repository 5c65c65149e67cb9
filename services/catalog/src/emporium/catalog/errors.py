"""The catalog's own problem kinds (each a stable ``type`` in problem+json)."""

from __future__ import annotations

from emporium.kit.errors import Conflict, NotFound, ProblemError, Unprocessable, problem_type

__all__ = [
    "CategoryNotFound",
    "DuplicateSku",
    "DuplicateSlug",
    "ImageNotFound",
    "ImageTooLarge",
    "InvalidCursor",
    "NotAnImage",
    "ProductNotFound",
    "StockBelowReserved",
]


class ProductNotFound(NotFound):
    type = problem_type("product-not-found")
    title = "Product not found"


class CategoryNotFound(NotFound):
    type = problem_type("category-not-found")
    title = "Category not found"


class ImageNotFound(NotFound):
    type = problem_type("image-not-found")
    title = "Image not found"


class DuplicateSku(Conflict):
    type = problem_type("duplicate-sku")
    title = "SKU already in use"


class DuplicateSlug(Conflict):
    type = problem_type("duplicate-slug")
    title = "Slug already in use"


class StockBelowReserved(Conflict):
    type = problem_type("stock-below-reserved")
    title = "On hand below reserved"


class InvalidCursor(Unprocessable):
    type = problem_type("invalid-cursor")
    title = "Invalid cursor"


class NotAnImage(ProblemError):
    status = 415
    type = problem_type("unsupported-image")
    title = "Not a JPEG, PNG or WebP image"


class ImageTooLarge(ProblemError):
    status = 413
    type = problem_type("image-too-large")
    title = "Image too large"
