"""The demo shop's products with options and variants, and its second stock location.

A T-shirt in sizes S/M/L and colours red/blue, and a hoodie in sizes, each variant with a
price in EUR (and USD) and its stock split between the ``default`` location and
``vienna`` (priority 1: it ships once ``default`` has none left). These are apart from
``data.PRODUCTS``: the single-SKU demo products stay exactly as they were.

Idempotent like the rest of the seed: the location is found by code, a product by its SKU,
a variant by its SKU; prices and stock are set while the product has no image yet, and the
image comes last (an image means complete), so a second run changes nothing and a run cut
short is finished by the next.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from emporium.storefront.seed.api import Api
from emporium.storefront.seed.images import product_picture

__all__ = [
    "LOCATION",
    "VARIANT_PRODUCTS",
    "DemoVariant",
    "DemoVariantProduct",
    "VariantReport",
    "seed_variants",
]

Json = dict[str, Any]

#: (code, name, priority) of the second location.
LOCATION = ("vienna", "Vienna", 1)


@dataclass(frozen=True)
class DemoVariant:
    sku: str
    options: dict[str, str]
    price: int  # minor units, EUR
    usd: int | None
    stock: dict[str, int]  # location code -> on hand


@dataclass(frozen=True)
class DemoVariantProduct:
    name: str
    category: str
    description: str
    options: tuple[tuple[str, tuple[str, ...]], ...]
    variants: tuple[DemoVariant, ...]  # the first is made with the product
    weight_grams: int = 0

    @property
    def sku(self) -> str:
        return self.variants[0].sku


def _tee(size: str, colour: str, price: int, default: int, vienna: int) -> DemoVariant:
    return DemoVariant(
        f"DEMO-TEE-{colour.upper()}-{size}",
        {"Size": size, "Colour": colour},
        price,
        price + 300,
        {"default": default, "vienna": vienna},
    )


VARIANT_PRODUCTS: tuple[DemoVariantProduct, ...] = (
    DemoVariantProduct(
        name="Organic cotton T-shirt",
        category="shirts",
        description="A soft everyday T-shirt of organic cotton, in three sizes and two colours.",
        options=(("Size", ("S", "M", "L")), ("Colour", ("red", "blue"))),
        variants=(
            _tee("S", "red", 1900, 6, 4),
            _tee("M", "red", 1900, 2, 8),
            _tee("L", "red", 2100, 0, 5),
            _tee("S", "blue", 1900, 5, 0),
            _tee("M", "blue", 1900, 0, 0),  # sold out in every location
            _tee("L", "blue", 2100, 3, 3),
        ),
        weight_grams=180,
    ),
    DemoVariantProduct(
        name="Merino hoodie",
        category="clothing",
        description="A warm hooded jumper of merino wool.",
        options=(("Size", ("S", "M", "L")),),
        variants=tuple(
            DemoVariant(f"DEMO-HOODIE-{size}", {"Size": size}, 6900, None, stock)
            for size, stock in (
                ("S", {"default": 4, "vienna": 2}),
                ("M", {"default": 0, "vienna": 6}),
                ("L", {"default": 3, "vienna": 0}),
            )
        ),
        weight_grams=520,
    ),
)


@dataclass
class VariantReport:
    locations: int = 0
    variant_products: int = 0
    variants: int = 0


def _prices(variant: DemoVariant) -> list[Json]:
    prices: list[Json] = [{"amount": variant.price, "currency": "EUR"}]
    if variant.usd is not None:
        prices.append({"amount": variant.usd, "currency": "USD"})
    return prices


async def _location(admin: Api, report: VariantReport) -> None:
    code, name, priority = LOCATION
    known = {str(x["code"]) for x in (await admin.call("GET", "/admin/locations")).json()}
    if code not in known:
        body = {"code": code, "name": name, "priority": priority}
        await admin.call("POST", "/admin/locations", json=body, ok=(201,))
        report.locations += 1


async def _stock(admin: Api, variant_id: str, demo: DemoVariant) -> None:
    for code, on_hand in demo.stock.items():
        await admin.call(
            "PUT", f"/admin/variants/{variant_id}/stock/{code}", json={"on_hand": on_hand}
        )


async def _product(
    admin: Api,
    demo: DemoVariantProduct,
    existing: Json | None,
    category_ids: dict[str, str],
    hue: float,
    report: VariantReport,
) -> None:
    first = demo.variants[0]
    product = existing
    if product is None:
        body = {
            "sku": first.sku,
            "name": demo.name,
            "description": demo.description,
            "price": {"amount": first.price, "currency": "EUR"},
            "category_id": category_ids[demo.category],
            "weight_grams": demo.weight_grams,
            "options": [{"name": n, "values": list(v)} for n, v in demo.options],
        }
        product = (await admin.call("POST", "/admin/products", json=body, ok=(201,))).json()
        report.variant_products += 1
    have = {str(v["sku"]): str(v["id"]) for v in product.get("variants") or []}
    have.setdefault(first.sku, str(product["id"]))  # the first variant has the product's id
    for variant in demo.variants[1:]:
        if variant.sku in have:
            continue
        body = {
            "sku": variant.sku,
            "options": variant.options,
            "prices": _prices(variant),
            "weight_grams": demo.weight_grams,
        }
        path = f"/admin/products/{product['id']}/variants"
        created = (await admin.call("POST", path, json=body, ok=(201,))).json()
        have[variant.sku] = str(created["id"])
        report.variants += 1
    if product["images"]:
        return
    # Not complete yet (the image comes last): the first variant's other prices and every
    # variant's stock, as the plan says (the same values again after a run cut short).
    await admin.call("PATCH", f"/admin/variants/{product['id']}", json={"prices": _prices(first)})
    for variant in demo.variants:
        await _stock(admin, have[variant.sku], variant)
    picture = await asyncio.to_thread(product_picture, demo.name, demo.category, hue)
    await admin.call(
        "POST",
        f"/admin/products/{product['id']}/images",
        files={"file": (f"{first.sku.lower()}.jpg", picture, "image/jpeg")},
        ok=(201,),
    )


async def seed_variants(
    admin: Api, category_ids: dict[str, str], by_sku: dict[str, Json]
) -> VariantReport:
    """The second location and the products with variants that the shop lacks
    (``by_sku``: the products the shop lists, by SKU)."""
    report = VariantReport()
    await _location(admin, report)
    for n, demo in enumerate(VARIANT_PRODUCTS):
        existing = by_sku.get(demo.sku)
        if existing is not None:
            # The listing's item may lack what the product page has (variants).
            existing = (await admin.call("GET", f"/products/{existing['id']}")).json()
        hue = 0.05 + n / (len(VARIANT_PRODUCTS) + 1)
        await _product(admin, demo, existing, category_ids, hue, report)
    return report
