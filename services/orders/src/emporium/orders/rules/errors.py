"""The problems the pricing rules' admin API answers."""

from __future__ import annotations

from emporium.kit.errors import Conflict, NotFound, problem_type

__all__ = [
    "DuplicateCode",
    "DuplicateTaxRate",
    "PromotionNotFound",
    "TaxRateNotFound",
    "ZoneNotFound",
]


class ZoneNotFound(NotFound):
    type = problem_type("shipping-zone-not-found")
    title = "Shipping zone not found"


class TaxRateNotFound(NotFound):
    type = problem_type("tax-rate-not-found")
    title = "Tax rate not found"


class PromotionNotFound(NotFound):
    type = problem_type("promotion-not-found")
    title = "Promotion not found"


class DuplicateCode(Conflict):
    type = problem_type("duplicate-promotion-code")
    title = "Duplicate promotion code"


class DuplicateTaxRate(Conflict):
    type = problem_type("duplicate-tax-rate")
    title = "Duplicate tax rate"
