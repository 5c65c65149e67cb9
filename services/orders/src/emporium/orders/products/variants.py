"""The variants a product event describes (pure).

A v3 event lists every live variant with its prices per currency. A v1 or v2 event comes
from before variants (or from a catalog not yet publishing v3): it describes the product's
one variant, whose id is the product's, sold at the event's price in the event's currency
only, weighing what the product weighs (0 g for v1, which knows no weight).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from emporium.contracts.catalog import (
    ProductCreated,
    ProductCreatedV2,
    ProductCreatedV3,
    ProductUpdated,
    ProductUpdatedV2,
    ProductUpdatedV3,
)

__all__ = ["ProductEvent", "VariantFacts", "variants_of"]

ProductEvent = (
    ProductCreated
    | ProductUpdated
    | ProductCreatedV2
    | ProductUpdatedV2
    | ProductCreatedV3
    | ProductUpdatedV3
)


@dataclass(frozen=True, slots=True)
class VariantFacts:
    """One variant as orders keeps it: no price in a currency means not sold in it."""

    id: UUID
    sku: str
    weight_grams: int
    prices: dict[str, int]
    options: dict[str, str] = field(default_factory=dict)


def variants_of(event: ProductEvent) -> list[VariantFacts]:
    """Every live variant of the product as ``event`` states it."""
    if isinstance(event, ProductCreatedV3 | ProductUpdatedV3):
        return [
            VariantFacts(
                id=v.variant_id,
                sku=v.sku,
                weight_grams=v.weight_grams,
                prices={p.currency: p.amount for p in v.prices},
                options=dict(v.options),
            )
            for v in event.variants
        ]
    weight = event.weight_grams if isinstance(event, ProductCreatedV2 | ProductUpdatedV2) else 0
    return [
        VariantFacts(
            id=event.product_id,
            sku=event.sku,
            weight_grams=weight,
            prices={event.currency: event.price_amount},
        )
    ]
