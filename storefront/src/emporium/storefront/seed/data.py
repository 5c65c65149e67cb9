"""What the demo shop holds: categories, products, the demo customer's orders, and the
checkout's pricing rules (a shipping zone with its rates, a tax rate, two promotions).

Plain data and pure functions, no I/O: the seed (``run.py``) compares this plan with what
the API answers and creates only what is missing. Every product is found again by its SKU,
so the plan is the identity: changing a name here does not rename a product already seeded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "CATEGORIES",
    "DEMO_ADDRESS",
    "ORDERS",
    "PRODUCTS",
    "PROMOTIONS",
    "TAX_RATES",
    "ZONES",
    "DemoCategory",
    "DemoOrder",
    "DemoProduct",
    "DemoPromotion",
    "DemoRate",
    "DemoTaxRate",
    "DemoZone",
]


@dataclass(frozen=True)
class DemoCategory:
    slug: str
    name: str
    parent: str | None = None


@dataclass(frozen=True)
class DemoProduct:
    sku: str
    name: str
    category: str
    price: int  # minor units, EUR
    on_hand: int
    description: str
    attributes: dict[str, str] = field(default_factory=dict)
    weight_grams: int = 0


@dataclass(frozen=True)
class DemoOrder:
    """One order of the demo customer and the state it is left in.

    ``final`` is what the shop ends up showing: ``confirmed`` (paid), ``shipped`` (the admin
    shipped it), ``cancelled`` (the customer cancelled it, or ``card_token`` declined it) or
    ``rejected`` (a line was out of stock).
    """

    key: str  # the Idempotency-Key: the same order again on a second run
    lines: tuple[tuple[str, int], ...]  # (sku, quantity)
    card_token: str
    final: str
    cancel: bool = False
    ship: bool = False


#: Parents before children (a child names its parent's slug).
CATEGORIES: tuple[DemoCategory, ...] = (
    DemoCategory("home", "Home"),
    DemoCategory("kitchen", "Kitchen", "home"),
    DemoCategory("lighting", "Lighting", "home"),
    DemoCategory("garden", "Garden"),
    DemoCategory("clothing", "Clothing"),
    DemoCategory("shirts", "Shirts", "clothing"),
    DemoCategory("shoes", "Shoes", "clothing"),
    DemoCategory("books", "Books"),
)

# category slug -> [(name, material or detail)]; prices and stock are derived below.
_RANGE: dict[str, list[tuple[str, str]]] = {
    "home": [("Wool throw", "wool"), ("Wall clock", "oak"), ("Stoneware vase", "stoneware")],
    "kitchen": [
        ("Copper kettle", "copper"),
        ("Cast-iron pan", "cast iron"),
        ("Chef's knife", "steel"),
        ("Oak cutting board", "oak"),
        ("Espresso cups, set of 4", "porcelain"),
        ("Mixing bowl", "stoneware"),
        ("Glass teapot", "glass"),
        ("Linen tea towels", "linen"),
        ("Pepper mill", "walnut"),
    ],
    "lighting": [
        ("Brass desk lamp", "brass"),
        ("Paper floor lamp", "paper"),
        ("Pendant light", "aluminium"),
        ("Beeswax candles", "beeswax"),
        ("Storm lantern", "steel"),
        ("Reading light", "aluminium"),
        ("String lights", "copper"),
    ],
    "garden": [
        ("Watering can", "galvanised steel"),
        ("Garden hose, 25 m", "rubber"),
        ("Pruning shears", "steel"),
        ("Terracotta planter", "terracotta"),
        ("Bird feeder", "cedar"),
        ("Garden gloves", "leather"),
        ("Seed starter kit", "bamboo"),
        ("Folding chair", "teak"),
    ],
    "clothing": [("Wool scarf", "merino"), ("Canvas tote", "canvas")],
    "shirts": [
        ("Linen shirt", "linen"),
        ("Oxford shirt", "cotton"),
        ("Plain T-shirt", "organic cotton"),
        ("Flannel shirt", "cotton flannel"),
        ("Denim shirt", "denim"),
        ("Polo shirt", "piqué cotton"),
        ("Chambray shirt", "chambray"),
        ("Henley", "cotton"),
    ],
    "shoes": [
        ("Running shoe", "mesh"),
        ("Leather boot", "leather"),
        ("Canvas sneaker", "canvas"),
        ("Sandal", "leather"),
        ("Hiking boot", "suede"),
        ("Slipper", "felt"),
        ("Loafer", "leather"),
    ],
    "books": [
        ("The Home Cook", "hardback"),
        ("Field Guide to Birds", "paperback"),
        ("A Quiet Garden", "hardback"),
        ("Atlas of Islands", "hardback"),
        ("The Long Walk", "paperback"),
        ("Bread and Salt", "paperback"),
        ("Night Trains", "paperback"),
        ("Small Rooms", "hardback"),
    ],
}
_SOLD_OUT = {"DEMO-007", "DEMO-026", "DEMO-041"}  # so the shop shows "sold out" somewhere


def _products() -> tuple[DemoProduct, ...]:
    products = []
    number = 0
    for category in CATEGORIES:
        for name, detail in _RANGE[category.slug]:
            number += 1
            sku = f"DEMO-{number:03d}"
            products.append(
                DemoProduct(
                    sku=sku,
                    name=name,
                    category=category.slug,
                    # A spread of prices from 4.90 to about 150: the price filters have
                    # something to do.
                    price=490 + (number * 7919) % 14_500 // 10 * 10,
                    on_hand=0 if sku in _SOLD_OUT else 3 + (number * 7) % 40,
                    description=(
                        f"{name}, made of {detail}. A demo product of the Emporium shop: "
                        f"it can be searched, filtered, put in the cart and ordered."
                    ),
                    attributes={"material": detail},
                    # 150 g to about 3 kg: the shipping zone's weight bands have work to do.
                    weight_grams=150 + (number * 331) % 2900 // 10 * 10,
                )
            )
    return tuple(products)


PRODUCTS: tuple[DemoProduct, ...] = _products()

#: The demo customer lives in Austria: the one country the demo's shipping zone and tax rate
#: cover. The test suites that run against ``make dev`` after its seed ship to other
#: countries (Germany, mostly), where no zone asks for a shipping method and no tax is added.
DEMO_ADDRESS: dict[str, str] = {
    "line1": "Praterstrasse 12",
    "city": "Wien",
    "postal_code": "1020",
    "country": "AT",
}


@dataclass(frozen=True)
class DemoRate:
    name: str
    amount: int  # minor units, EUR
    min_subtotal: int | None = None
    max_weight_grams: int | None = None
    estimated_days: int | None = None


@dataclass(frozen=True)
class DemoZone:
    name: str  # the zone is found again by its name
    countries: tuple[str, ...]
    rates: tuple[DemoRate, ...]


@dataclass(frozen=True)
class DemoTaxRate:
    country: str  # found again by (country, region, tax class)
    rate_bp: int
    name: str
    region: str | None = None
    tax_class: str = "standard"


@dataclass(frozen=True)
class DemoPromotion:
    name: str  # found again by its code, or (automatic) by its name
    kind: str  # percentage | fixed
    value: int
    code: str | None = None
    category: str | None = None  # a category slug: only its lines are discounted
    per_customer_limit: int | None = None
    min_subtotal: int | None = None


#: Standard is one method of three rates (the cheapest that applies is offered): by weight up
#: to 2 kg, heavier, and free from 50.00; Express is dearer and faster.
ZONES: tuple[DemoZone, ...] = (
    DemoZone(
        "Austria",
        ("AT",),
        (
            DemoRate("Standard", 490, max_weight_grams=2000, estimated_days=3),
            DemoRate("Standard", 890, estimated_days=4),
            DemoRate("Standard", 0, min_subtotal=5000, estimated_days=4),
            DemoRate("Express", 1290, max_weight_grams=10_000, estimated_days=1),
        ),
    ),
)
#: EUR prices are entered tax-inclusive: the VAT is the part of the price the shop owes.
TAX_RATES: tuple[DemoTaxRate, ...] = (DemoTaxRate("AT", 2000, "USt"),)
#: The automatic one is scoped to a seeded category (only the demo products are in it), so
#: no test's own products get a discount from it.
PROMOTIONS: tuple[DemoPromotion, ...] = (
    DemoPromotion("Books week: 10 % off books", "percentage", 10, category="books"),
    DemoPromotion(
        "Welcome: 10 % off", "percentage", 10, code="WELCOME10", per_customer_limit=1,
        min_subtotal=2000,
    ),
)  # fmt: skip

#: Oldest first. DEMO-007 is sold out (``_SOLD_OUT``), so the last order is rejected.
ORDERS: tuple[DemoOrder, ...] = (
    DemoOrder("emporium-demo-order-1", (("DEMO-004", 1), ("DEMO-013", 2)), "tok_visa", "shipped",
              ship=True),
    DemoOrder("emporium-demo-order-2", (("DEMO-038", 1),), "tok_visa", "cancelled", cancel=True),
    DemoOrder("emporium-demo-order-3", (("DEMO-046", 1),), "tok_decline", "cancelled"),
    DemoOrder("emporium-demo-order-4", (("DEMO-007", 1),), "tok_visa", "rejected"),
    DemoOrder("emporium-demo-order-5", (("DEMO-030", 1), ("DEMO-052", 1)), "tok_visa",
              "confirmed"),
)  # fmt: skip
