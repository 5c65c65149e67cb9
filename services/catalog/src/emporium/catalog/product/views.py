"""Product models to response bodies (images as browser-ready URLs, availability)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from emporium.catalog.models import Product as ProductRow
from emporium.catalog.models import ProductImage
from emporium.catalog.models import ProductOption as ProductOptionRow
from emporium.catalog.models import Variant as VariantRow
from emporium.catalog.product.schemas import (
    Availability,
    Image,
    Money,
    Option,
    Product,
    ProductVariant,
)

__all__ = ["Details", "image_keys", "image_view", "product_view"]


def image_keys(image: ProductImage) -> dict[str, str]:
    """Object keys of an image's files: the re-encoded original and the derived sizes."""
    base = image.content_key
    return {
        "original": f"{base}/original.{image.original_format}",
        "display": f"{base}/display.webp",
        "thumbnail": f"{base}/thumb.webp",
    }


def image_view(image: ProductImage, media_prefix: str) -> Image:
    keys = image_keys(image)
    prefix = media_prefix.rstrip("/")
    return Image(
        id=image.id,
        url=f"{prefix}/{keys['display']}",
        thumbnail_url=f"{prefix}/{keys['thumbnail']}",
        original_url=f"{prefix}/{keys['original']}",
        width=image.width,
        height=image.height,
    )


@dataclass(frozen=True)
class Details:
    """What a product's answer is made of besides its row, read in a few batched queries
    for a whole page: its options, live variants with their option rows (name, value) by
    name key, their price in the asked currency, their units available, its images."""

    options: Sequence[ProductOptionRow]
    variants: Sequence[VariantRow]
    variant_options: Mapping[UUID, Mapping[str, tuple[str, str]]]
    prices: Mapping[UUID, Mapping[str, int]]
    available: Mapping[UUID, int]
    images: Sequence[ProductImage]


def _variant_view(variant: VariantRow, details: Details, currency: str) -> ProductVariant:
    rows = details.variant_options.get(variant.id, {})
    # In the product's option order, as pickers show them.
    options = dict(rows[o.name_key] for o in details.options if o.name_key in rows)
    amount = details.prices.get(variant.id, {}).get(currency)
    units = details.available.get(variant.id, 0)
    return ProductVariant(
        id=variant.id,
        sku=variant.sku,
        options=options,
        price=None if amount is None else Money(amount=amount, currency=currency),
        availability=Availability(in_stock=units > 0, available=units),
    )


def product_view(
    product: ProductRow, details: Details, currency: str, media_prefix: str
) -> Product:
    """The product in ``currency``: its price is its variants' lowest there (None if no
    variant is sold in it), its availability their sum."""
    variants = [_variant_view(variant, details, currency) for variant in details.variants]
    prices = [variant.price.amount for variant in variants if variant.price is not None]
    available = sum(variant.availability.available for variant in variants)
    return Product(
        id=product.id,
        sku=product.sku,
        name=product.name,
        description=product.description,
        price=Money(amount=min(prices), currency=currency) if prices else None,
        category_id=product.category_id,
        attributes=product.attributes,
        weight_grams=product.weight_grams,
        tax_class=product.tax_class,
        images=[image_view(i, media_prefix) for i in details.images],
        availability=Availability(in_stock=available > 0, available=available),
        options=[Option(name=o.name, values=list(o.values)) for o in details.options],
        variants=variants,
        created_at=product.created_at,
        updated_at=product.updated_at,
    )
