"""Product models to response bodies (images as browser-ready URLs, availability)."""

from __future__ import annotations

from emporium.catalog.models import Product as ProductRow
from emporium.catalog.models import ProductImage, Stock
from emporium.catalog.product.schemas import Availability, Image, Money, Product

__all__ = ["image_keys", "image_view", "product_view"]


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


def product_view(
    product: ProductRow, stock: Stock | None, images: list[ProductImage], media_prefix: str
) -> Product:
    available = max(stock.available, 0) if stock is not None else 0
    return Product(
        id=product.id,
        sku=product.sku,
        name=product.name,
        description=product.description,
        price=Money(amount=product.price_amount, currency=product.currency),
        category_id=product.category_id,
        attributes=product.attributes,
        weight_grams=product.weight_grams,
        tax_class=product.tax_class,
        images=[image_view(i, media_prefix) for i in images],
        availability=Availability(in_stock=available > 0, available=available),
        created_at=product.created_at,
        updated_at=product.updated_at,
    )
