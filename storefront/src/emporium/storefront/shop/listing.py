"""The search page's query: what the shopper asked, checked, as the API's parameters.

Pure: ``parse_listing(query)`` turns the page's query string into a ``Listing`` (bad values
become messages, never a 500), and ``Listing.api_params()`` gives ``GET /products``'s.
Prices are typed in the shown currency's units (``12.50``; ``1200`` yen) and sent in its
minor units (``1250``; ``1200``), with that ``currency``: the API bounds and sorts by the
prices in it.
Option filters are the API's own ``option.<name>=<value>`` (repeatable: several values of
one name are any of them, several names all of them), passed on as they are; the facets'
links toggle one of them (``option_query``) or the category (``category_query``) and keep
every other filter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from emporium.contracts.currencies import MINOR_UNITS

__all__ = [
    "MAX_OPTION_FILTERS",
    "SORTS",
    "Listing",
    "facet_view",
    "parse_listing",
    "parse_price",
]

#: Option filters a page passes on (the API has at most 3 options per product, 50 values).
MAX_OPTION_FILTERS = 20
_OPTION = "option."

#: The API's sort keys and how the page names them.
SORTS: dict[str, str] = {
    "name": "Name (A-Z)",
    "price": "Price, low to high",
    "-price": "Price, high to low",
    "newest": "Newest first",
}


def parse_price(text: str, currency: str = "EUR") -> int | None:
    """``"12.50"`` as 1250 (in ``currency``'s minor units: ``"1200"`` yen is 1200);
    ``""`` as None; ValueError for anything else."""
    places = MINOR_UNITS.get(currency, 2)
    cleaned = text.strip().replace(",", ".").lstrip("€$£¥").strip()
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        example = "1200" if places == 0 else "12.50"
        raise ValueError(f"Enter a price as a number, for example {example}.") from None
    if not value.is_finite() or value < 0:
        raise ValueError("Enter a price of 0 or more.")
    cents = value.scaleb(places).to_integral_value()
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
    options: list[tuple[str, str]] = field(default_factory=list)  # (name, value), sorted
    #: The currency prices are shown, typed and bounded in (None: the API's base one).
    currency: str | None = None
    raw: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def api_params(self, limit: int) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = [("sort", self.sort), ("limit", str(limit))]
        if self.currency:
            params.append(("currency", self.currency))
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
        params.extend((_OPTION + name, value) for name, value in self.options)
        return params

    def has_option(self, name: str, value: str) -> bool:
        return (name.casefold(), value.casefold()) in {
            (n.casefold(), v.casefold()) for n, v in self.options
        }

    def _query(self, values: dict[str, str], options: Iterable[tuple[str, str]]) -> str:
        pairs = list(values.items())
        pairs.extend((_OPTION + name, value) for name, value in options)
        return urlencode(pairs)

    def option_query(self, name: str, value: str) -> str:
        """This listing's first page with the option value added, or taken away if on."""
        if self.has_option(name, value):
            kept = [
                (n, v)
                for n, v in self.options
                if (n.casefold(), v.casefold()) != (name.casefold(), value.casefold())
            ]
        else:
            kept = sorted([*self.options, (name, value)])
        return self._query(self._kept(), kept)

    def category_query(self, slug: str) -> str:
        """This listing's first page in the category (none if it is the one chosen)."""
        values = self._kept()
        if values.get("category") == slug:
            values.pop("category")
        else:
            values["category"] = slug
        return self._query(values, self.options)

    def _kept(self) -> dict[str, str]:
        return {k: v for k, v in self.raw.items() if k not in ("cursor", "page") and v}

    def page_query(self, **changes: str | int | None) -> str:
        """This listing's query string with ``changes`` (None removes a field)."""
        values = self._kept()
        for key, value in changes.items():
            if value is None or value == "":
                values.pop(key, None)
            else:
                values[key] = str(value)
        return self._query(values, self.options)


def _option_filters(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for key, value in pairs:
        name, value = key[len(_OPTION) :].strip(), value.strip()
        if key.startswith(_OPTION) and 0 < len(name) <= 50 and 0 < len(value) <= 50:
            found.add((name, value))
    return sorted(found)[:MAX_OPTION_FILTERS]


def parse_listing(
    query: Mapping[str, str], pairs: Iterable[tuple[str, str]] = (), *, currency: str | None = None
) -> Listing:
    """The listing the page's query asks for (``pairs``: all of it, repeated keys too, for
    the option filters), its prices in ``currency``; bad fields get a message and are
    dropped."""
    names = ("q", "category", "min_price", "max_price", "in_stock", "sort", "cursor", "page")
    raw = {name: str(query.get(name, "")) for name in names}
    listing = Listing(raw=raw, options=_option_filters(pairs), currency=currency)
    listing.q = raw["q"].strip()[:200]
    listing.category = raw["category"].strip()[:120]
    for name in ("min_price", "max_price"):
        try:
            setattr(listing, name, parse_price(raw[name], currency or "EUR"))
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


def facet_view(
    facets: Mapping[str, Any], categories: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """The API's ``facets`` as the page lists them: categories by name with their counts,
    and each option's values with theirs; ``{}`` when the answer has none (the page then
    shows no facet block)."""
    names = {str(c.get("id")): str(c.get("name")) for c in categories}
    found_categories = [
        {"slug": str(c["slug"]), "name": names.get(str(c.get("id")), str(c["slug"])),
         "count": int(c.get("count", 0))}
        for c in facets.get("categories") or []
        if isinstance(c, Mapping) and c.get("slug")
    ]  # fmt: skip
    options = [
        (str(name), [(str(v["value"]), int(v.get("count", 0))) for v in values if "value" in v])
        for name, values in (facets.get("options") or {}).items()
        if isinstance(values, list) and values
    ]
    if not found_categories and not options:
        return {}
    return {"categories": found_categories, "options": options}
