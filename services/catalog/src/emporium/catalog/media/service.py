"""Image rules: a checked upload becomes three content-addressed objects and a row.

Keys are ``images/<sha256 of the upload>/{original.<ext>,display.webp,thumb.webp}``: the
same file uploaded twice is stored once, and an object under a key never changes, which is
what lets it be served with a one-year immutable cache lifetime.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import BinaryIO
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.catalog.errors import ImageNotFound, ImageTooLarge, ProductNotFound
from emporium.catalog.invalidation import mark_stale, product_family
from emporium.catalog.media.limits import image_work_slot
from emporium.catalog.media.processing import Processed, process_image
from emporium.catalog.models import ProductImage
from emporium.catalog.product import repository as products
from emporium.catalog.product.views import image_keys
from emporium.kit.errors import ServiceUnavailable
from emporium.kit.storage.base import ObjectStorage
from emporium.kit.storage.errors import StorageUnavailable

__all__ = ["IMMUTABLE", "add_image", "delete_image", "purge_objects"]

log = logging.getLogger(__name__)

#: Content-addressed objects never change: browsers and CDNs may keep them for a year.
IMMUTABLE = "public, max-age=31536000, immutable"


def _digest(file: BinaryIO, limit: int) -> tuple[str, int]:
    file.seek(0)
    digest, size = hashlib.sha256(), 0
    while chunk := file.read(1024 * 1024):
        size += len(chunk)
        if size > limit:
            raise ImageTooLarge(f"the image is larger than {limit} bytes")
        digest.update(chunk)
    file.seek(0)
    return digest.hexdigest(), size


async def add_image(
    session: AsyncSession,
    storage: ObjectStorage,
    product_id: UUID,
    file: BinaryIO,
    *,
    max_bytes: int,
    max_pixels: int,
    max_webp_pixels: int | None = None,
    max_concurrent: int = 2,
) -> ProductImage:
    if await products.live_product(session, product_id) is None:
        raise ProductNotFound(f"no product {product_id}")
    sha, _ = await asyncio.to_thread(_digest, file, max_bytes)
    async with image_work_slot(max_concurrent):
        work = asyncio.ensure_future(
            asyncio.to_thread(
                process_image, file, max_pixels=max_pixels, max_webp_pixels=max_webp_pixels
            )
        )
        try:
            processed: Processed = await asyncio.shield(work)
        except asyncio.CancelledError:
            # The thread cannot be stopped: keep the slot until it is done with its pixels.
            await asyncio.wait([work])
            if not work.cancelled():
                work.exception()  # retrieved: nobody is left to report it to
            raise
    position = await session.scalar(
        select(func.coalesce(func.max(ProductImage.position), -1) + 1).where(
            ProductImage.product_id == product_id
        )
    )
    image = ProductImage(
        product_id=product_id,
        position=int(position or 0),
        content_key=f"images/{sha}",
        original_format=processed.original_format,
        width=processed.width,
        height=processed.height,
    )
    keys = image_keys(image)
    try:
        # Objects first, row second: a failed commit leaves unreferenced objects (harmless),
        # never a row whose files are missing.
        await storage.put(
            keys["original"],
            processed.original,
            content_type=processed.original_type,
            cache_control=IMMUTABLE,
        )
        await storage.put(
            keys["display"], processed.display, content_type="image/webp", cache_control=IMMUTABLE
        )
        await storage.put(
            keys["thumbnail"],
            processed.thumbnail,
            content_type="image/webp",
            cache_control=IMMUTABLE,
        )
    except StorageUnavailable as exc:
        raise ServiceUnavailable(
            "the image store is not available right now; try again shortly", retry_after=5
        ) from exc  # fmt: skip
    session.add(image)
    await session.flush()
    # A product's images move it in no listing: its listings see its generation (answers.py).
    mark_stale(session, product_family(product_id))
    return image


async def delete_image(session: AsyncSession, product_id: UUID, image_id: UUID) -> list[str]:
    """Delete the row; returns the object keys nothing else references (purge after commit)."""
    image = await session.get(ProductImage, image_id)
    if image is None or image.product_id != product_id:
        raise ImageNotFound(f"no image {image_id} on product {product_id}")
    await session.delete(image)
    await session.flush()
    mark_stale(session, product_family(product_id))
    still_used = await session.scalar(
        select(func.count()).where(ProductImage.content_key == image.content_key)
    )
    return [] if still_used else list(image_keys(image).values())


async def purge_objects(storage: ObjectStorage, keys: list[str]) -> None:
    """Delete objects no row references any more; a failure only leaves garbage behind."""
    for key in keys:
        try:
            await storage.delete(key)
        except Exception:  # the row is gone already; an orphan object costs only space
            log.warning("could not delete image object %s", key, exc_info=True)
