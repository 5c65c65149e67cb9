"""The search page's query: what the shopper asked, checked, as the API's parameters.

Pure: ``parse_listing(query)`` turns the page's query string into a ``Listing`` (bad values
become messages, never a 500), and ``Listing.api_params()`` gives ``GET /products``'s.
Prices are typed in the shop's units (``12.50``) and sent in minor units (``1250``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

__all__ = ["SORTS", "Listing", "parse_listing", "parse_price"]

#: The API's sort keys and how the page names them.
SORTS: dict[str, str] = {
    "name": "Name (A-Z)",
    "price": "Price, low to high",
    "-price": "Price, high to low",
    "newest": "Newest first",
}


def parse_price(text: str) -> int | None:
    """``"12.50"`` as 1250; ``""`` as None; ValueError for anything else."""
    cleaned = text.strip().replace(",", ".").lstrip("€$£").strip()
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError("Enter a price as a number, for example 12.50.") from None
    if not value.is_finite() or value < 0:
        raise ValueError("Enter a price of 0 or more.")
    cents = (value * 100).to_integral_value()
    if cents > 10**12:
        raise ValueError("That price is too large.")
    return int(cents)


@dataclass
class Listing:
    q: str = ""
    category: str = ""
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool = False
    sort: str = "name"
    cursor: str = ""
    page: int = 1
    raw: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def api_params(self, limit: int) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = [("sort", self.sort), ("limit", str(limit))]
        if self.q:
            params.append(("q", self.q))
        if self.category:
            params.append(("category", self.category))
        if self.min_price is not None:
            params.append(("min_price", str(self.min_price)))
        if self.max_price is not None:
            params.append(("max_price", str(self.max_price)))
        if self.in_stock:
            params.append(("in_stock", "true"))
        if self.cursor:
            params.append(("cursor", self.cursor))
        return params

    def page_query(self, **changes: str | int | None) -> str:
        """This listing's query string with ``changes`` (None removes a field)."""
        values: dict[str, str] = {
            k: v for k, v in self.raw.items() if k not in ("cursor", "page") and v
        }
        for key, value in changes.items():
            if value is None or value == "":
                values.pop(key, None)
            else:
                values[key] = str(value)
        return urlencode(values)


def parse_listing(query: Mapping[str, str]) -> Listing:
    """The listing the page's query asks for; bad fields get a message and are dropped."""
    names = ("q", "category", "min_price", "max_price", "in_stock", "sort", "cursor", "page")
    raw = {name: str(query.get(name, "")) for name in names}
    listing = Listing(raw=raw)
    listing.q = raw["q"].strip()[:200]
    listing.category = raw["category"].strip()[:120]
    for name in ("min_price", "max_price"):
        try:
            setattr(listing, name, parse_price(raw[name]))
        except ValueError as error:
            listing.errors[name] = str(error)
    if (
        listing.min_price is not None
        and listing.max_price is not None
        and listing.min_price > listing.max_price
    ):
        listing.errors["max_price"] = "The highest price must not be below the lowest."
        listing.max_price = None
    listing.in_stock = raw["in_stock"] in ("1", "true", "on", "yes")
    listing.sort = raw["sort"] if raw["sort"] in SORTS else "name"
    listing.cursor = raw["cursor"][:2048]
    listing.page = int(raw["page"]) if raw["page"].isdigit() and 0 < int(raw["page"]) < 10**6 else 1
    if not listing.cursor:
        listing.page = 1
    return listing
