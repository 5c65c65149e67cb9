"""The demo catalog of ``make dev``: a few categories, ~50 products with generated images,
and stock, priced in the shop's base currency (``CATALOG_BASE_CURRENCY``). Idempotent:
does nothing when the catalog already has products.

Everything goes through the services, so the demo products are announced on the bus like
any other (``ProductCreated``, ``StockChanged``) and the orders service learns their prices.

    await seed_demo_catalog()            # from CATALOG_* settings (scripts/dev.py)
    uv run python -m emporium.catalog.seed
"""

from __future__ import annotations

import asyncio
import colorsys
import io
import logging
from uuid import UUID

from PIL import Image, ImageDraw
from sqlalchemy import func, select

from emporium.catalog.category.schemas import CategoryCreate
from emporium.catalog.category.service import create_category
from emporium.catalog.inventory.service import set_on_hand
from emporium.catalog.media.service import add_image
from emporium.catalog.models import Product
from emporium.catalog.product.schemas import Money, ProductCreate
from emporium.catalog.product.service import create_product
from emporium.catalog.settings import Settings
from emporium.kit.db import Database
from emporium.kit.storage.base import ObjectStorage
from emporium.kit.storage.factory import make_storage

__all__ = ["CATEGORIES", "demo_image", "seed_demo_catalog"]

log = logging.getLogger(__name__)

#: slug -> (name, parent slug, product nouns)
CATEGORIES: dict[str, tuple[str, str | None, list[str]]] = {
    "home": ("Home", None, []),
    "kitchen": ("Kitchen", "home", ["Kettle", "Teapot", "Chef's knife", "Cutting board",
                                    "Espresso cup", "Mixing bowl", "Cast-iron pan"]),
    "lighting": ("Lighting", "home", ["Desk lamp", "Floor lamp", "Pendant light",
                                      "Candle holder", "Lantern"]),
    "garden": ("Garden", None, ["Watering can", "Garden hose", "Pruning shears", "Planter",
                                "Bird feeder"]),
    "clothing": ("Clothing", None, []),
    "shirts": ("Shirts", "clothing", ["Linen shirt", "Oxford shirt", "T-shirt", "Flannel shirt"]),
    "shoes": ("Shoes", "clothing", ["Running shoe", "Leather boot", "Sandal", "Sneaker"]),
    "books": ("Books", None, ["Cookbook", "Field guide", "Novel", "Atlas"]),
}  # fmt: skip
_ADJECTIVES = ["Classic", "Nordic", "Copper", "Everyday", "Studio"]


def demo_image(label: str, hue: float, size: int = 480) -> bytes:
    """A JPEG with a colour gradient and ``label``'s initials: a stand-in product photo."""
    image = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(image)
    for y in range(size):
        r, g, b = colorsys.hsv_to_rgb(hue % 1.0, 0.55, 0.95 - 0.45 * y / size)
        draw.line([(0, y), (size, y)], fill=(int(r * 255), int(g * 255), int(b * 255)))
    initials = "".join(word[0] for word in label.split()[:3]).upper()
    draw.ellipse([size * 0.2, size * 0.2, size * 0.8, size * 0.8], outline="white", width=8)
    draw.text((size / 2, size / 2), initials, fill="white", anchor="mm", font_size=size // 5)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


async def seed_demo_catalog(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    storage: ObjectStorage | None = None,
) -> int:
    """Fill an empty catalog; returns how many products were created (0 if not empty).

    ``database``/``storage`` default to what ``settings`` (``CATALOG_*``) describe; the
    schema must be migrated already.
    """
    settings = settings or Settings()
    own_database = database is None
    db = database or Database(settings.database_url)
    store = storage or make_storage(settings)
    if storage is None:
        await store.start()
        await store.ensure_bucket()
    try:
        async with db.session() as session:
            if await session.scalar(select(func.count()).select_from(Product)):
                return 0
        created = 0
        async with db.session() as session:
            ids: dict[str, UUID] = {}
            for slug, (name, parent, _) in CATEGORIES.items():
                parent_id = ids.get(parent) if parent else None
                category = await create_category(
                    session, CategoryCreate(slug=slug, name=name, parent_id=parent_id)
                )
                ids[slug] = category.id
            number = 0
            for slug, (_, _, nouns) in CATEGORIES.items():
                for noun in nouns:
                    for adjective in _ADJECTIVES[(number % 3) :][:2]:
                        number += 1
                        name = f"{adjective} {noun.lower()}"
                        product = await create_product(
                            session,
                            ProductCreate(
                                sku=f"DEMO-{number:03d}",
                                name=name,
                                description=f"A {name} from the {slug} range. Demo product.",
                                price=Money(
                                    amount=500 + (number * 737) % 9500,
                                    currency=settings.base_currency,
                                ),
                                category_id=ids[slug],
                                attributes={"colour": adjective.lower(), "demo": True},
                            ),
                            settings.base_currency,
                        )
                        await set_on_hand(session, product.id, (number * 3) % 17)
                        picture = await asyncio.to_thread(demo_image, name, number / 13)
                        await add_image(
                            session,
                            store,
                            product.id,
                            io.BytesIO(picture),
                            max_bytes=settings.max_image_bytes,
                            max_pixels=settings.max_image_pixels,
                        )
                        created += 1
        log.info("seeded the demo catalog: %d products", created)
        return created
    finally:
        if storage is None:
            await store.close()
        if own_database:
            await db.dispose()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    print(f"{asyncio.run(seed_demo_catalog())} products created")
