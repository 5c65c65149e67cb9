"""The demo shop's checkout pricing through the public admin API, idempotently: the shipping
zone and its rates, the tax rate, the promotions of ``data.py``; and a cart shipped to an
address with the cheapest method offered (the demo orders need one: their country has a
zone).

A shop without checkout pricing (an older platform: the admin paths answer 404) is seeded
without it, and its carts ship as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from emporium.storefront.seed.api import Api
from emporium.storefront.seed.data import PROMOTIONS, TAX_RATES, ZONES

__all__ = ["PricingCreated", "cheapest_option", "seed_pricing", "ship_the_cart"]

_ABSENT = (404, 405)


@dataclass
class PricingCreated:
    shipping_zones: int = 0
    tax_rates: int = 0
    promotions: int = 0


async def seed_pricing(
    admin: Api, category_ids: Mapping[str, str], *, say: Callable[[str], None]
) -> PricingCreated:
    """Create whatever of the demo zones, tax rates and promotions the shop lacks."""
    created = PricingCreated()
    body: dict[str, Any]
    answer = await admin.call("GET", "/admin/shipping-zones", ok=(200, *_ABSENT))
    if answer.status_code != 200:
        say("[seed] this shop has no checkout pricing: no shipping zones, taxes or promotions")
        return created
    zones = {zone["name"] for zone in answer.json()}
    for zone in ZONES:
        if zone.name in zones:
            continue
        body = {
            "name": zone.name,
            "countries": list(zone.countries),
            "rates": [
                {
                    "name": rate.name,
                    "amount": rate.amount,
                    "currency": "EUR",
                    "min_subtotal": rate.min_subtotal,
                    "max_weight_grams": rate.max_weight_grams,
                    "estimated_days": rate.estimated_days,
                }
                for rate in zone.rates
            ],
        }
        await admin.call("POST", "/admin/shipping-zones", json=body, ok=(201,))
        created.shipping_zones += 1
    rates = (await admin.call("GET", "/admin/tax-rates")).json()
    taxed = {(r["country"], r.get("region"), r["tax_class"]) for r in rates}
    for tax in TAX_RATES:
        if (tax.country, tax.region, tax.tax_class) in taxed:
            continue
        body = {
            "country": tax.country,
            "region": tax.region,
            "tax_class": tax.tax_class,
            "rate_bp": tax.rate_bp,
            "name": tax.name,
        }
        await admin.call("POST", "/admin/tax-rates", json=body, ok=(201,))
        created.tax_rates += 1
    have = [p async for p in admin.pages("/admin/promotions", {})]
    codes = {str(p["code"]).upper() for p in have if p.get("code")}
    automatic = {p["name"] for p in have if not p.get("code")}
    for promotion in PROMOTIONS:
        if (promotion.code or "").upper() in codes or (
            promotion.code is None and promotion.name in automatic
        ):
            continue
        scope = [category_ids[promotion.category]] if promotion.category else []
        body = {
            "name": promotion.name,
            "kind": promotion.kind,
            "value": promotion.value,
            "code": promotion.code,
            "applies_to": {"categories": scope, "products": []} if scope else None,
            "per_customer_limit": promotion.per_customer_limit,
            "min_subtotal": promotion.min_subtotal,
        }
        await admin.call("POST", "/admin/promotions", json=body, ok=(201,))
        created.promotions += 1
    return created


def cheapest_option(options: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The offered shipping option that costs least (the faster of two at one price)."""
    if not options:
        return None
    return min(
        options,
        key=lambda o: (int(o["amount"]["amount"]), o.get("estimated_days") or 0, str(o["id"])),
    )


async def ship_the_cart(shopper: Api, address: Mapping[str, str]) -> None:
    """The cart's address, and the cheapest shipping method offered for it (if any)."""
    answer = await shopper.call("PUT", "/cart/shipping-address", json=address, ok=(200, *_ABSENT))
    if answer.status_code != 200:
        return  # no checkout pricing: the order ships as before
    cart = answer.json()
    option = cheapest_option(list(cart.get("shipping_options") or []))
    if option is not None and (cart.get("shipping") or {}).get("id") != option["id"]:
        await shopper.call("PUT", "/cart/shipping-method", json={"id": option["id"]})
