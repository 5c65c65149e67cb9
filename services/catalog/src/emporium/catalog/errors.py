"""The catalog's own problem kinds (each a stable ``type`` in problem+json)."""

from __future__ import annotations

from emporium.catalog.variants.options import MAX_VARIANTS
from emporium.kit.errors import Conflict, NotFound, ProblemError, Unprocessable, problem_type

__all__ = [
    "CategoryNotFound",
    "DuplicateCombination",
    "DuplicateLocation",
    "DuplicateSku",
    "DuplicateSlug",
    "ImageNotFound",
    "ImageTooLarge",
    "InvalidCursor",
    "InvalidOptions",
    "LastVariant",
    "LocationNotFound",
    "NotAnImage",
    "NotSoldInCurrency",
    "ProductNotFound",
    "StockBelowReserved",
    "TooManyVariants",
    "VariantNotFound",
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


class VariantNotFound(NotFound):
    type = problem_type("variant-not-found")
    title = "Variant not found"


class LocationNotFound(NotFound):
    type = problem_type("location-not-found")
    title = "Stock location not found"


class DuplicateSku(Conflict):
    type = problem_type("duplicate-sku")
    title = "SKU already in use"


class DuplicateSlug(Conflict):
    type = problem_type("duplicate-slug")
    title = "Slug already in use"


class DuplicateCombination(Conflict):
    """Two live variants of one product would have the same option values (by key)."""

    type = problem_type("duplicate-option-combination")
    title = "Duplicate option combination"


class DuplicateLocation(Conflict):
    type = problem_type("duplicate-location")
    title = "Stock location code already in use"


class LastVariant(Conflict):
    type = problem_type("last-variant")
    title = "A product keeps at least one variant"


class TooManyVariants(Conflict):
    type = problem_type("too-many-variants")
    title = f"A product has at most {MAX_VARIANTS} variants"


class StockBelowReserved(Conflict):
    type = problem_type("stock-below-reserved")
    title = "On hand below reserved"


class InvalidCursor(Unprocessable):
    type = problem_type("invalid-cursor")
    title = "Invalid cursor"


class InvalidOptions(Unprocessable):
    """Options or option values that break a rule of ``variants.options`` (the problem's
    ``field`` names the body path or query parameter at fault)."""

    type = problem_type("invalid-options")
    title = "Invalid options"


class NotSoldInCurrency(Unprocessable):
    """A variant without a price in the asked currency cannot be bought in it."""

    type = problem_type("not-sold-in-currency")
    title = "Not sold in this currency"


class NotAnImage(ProblemError):
    status = 415
    type = problem_type("unsupported-image")
    title = "Not a JPEG, PNG or WebP image"


class ImageTooLarge(ProblemError):
    status = 413
    type = problem_type("image-too-large")
    title = "Image too large"
