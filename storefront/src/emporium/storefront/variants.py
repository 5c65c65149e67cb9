"""A product's options and variants as the shop shows them (pure, no I/O).

The API answers a product with ``options`` [{name, values}] and ``variants`` [{id, sku,
options {name: value}, price or null, availability}]. The product page is a plain form of
one picker per option (``option.<name>`` in its query), so it works without JavaScript:
``chosen_options`` reads the query, ``choose_variant`` finds the variant those values name
(or, before anything is chosen, the first one that can be bought), and ``purchasable``
says whether it can go in a cart. Names and values are compared as the catalog compares
them (case-insensitively, ``casefold``), so ``option.Size=m`` picks ``Size M``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

__all__ = [
    "PREFIX",
    "asked_currency",
    "choose_variant",
    "chosen_options",
    "option_query",
    "options_label",
    "purchasable",
    "variant_of",
    "with_variants",
]

#: The query parameters of the pickers: ``option.<name>=<value>`` (as the API's listing).
PREFIX = "option."
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


def asked_currency(text: str) -> str | None:
    """A ``currency`` from the query as the API takes it (``usd`` is ``USD``), None for
    none or anything that is not three letters (the shop's base currency then)."""
    cleaned = text.strip()
    return cleaned.upper() if _CURRENCY.match(cleaned) else None


def with_variants(product: Mapping[str, Any]) -> dict[str, Any]:
    """The product with ``variants``; a product answered without any (an API before
    variants) is its own single variant, so every page has one shape to show."""
    if product.get("variants"):
        return dict(product)
    single = {
        "id": product.get("id"),
        "sku": product.get("sku", ""),
        "options": {},
        "price": product.get("price"),
        "availability": product.get("availability") or {},
    }
    return {**product, "variants": [single]}


def _key(text: str) -> str:
    return unicodedata.normalize("NFC", text.strip()).casefold()


def chosen_options(
    pairs: Iterable[tuple[str, str]], options: list[dict[str, Any]]
) -> dict[str, str]:
    """The values the query picks, by the product's own option names and values; anything
    the product does not have is ignored (an old link, a hand-made URL)."""
    given = {_key(k[len(PREFIX) :]): _key(v) for k, v in pairs if k.startswith(PREFIX)}
    chosen: dict[str, str] = {}
    for option in options:
        name = str(option.get("name", ""))
        wanted = given.get(_key(name))
        value = next((str(v) for v in option.get("values", []) if _key(str(v)) == wanted), None)
        if value is not None:
            chosen[name] = value
    return chosen


def purchasable(variant: Mapping[str, Any] | None) -> bool:
    """A variant can go in a cart: it has a price (in the shown currency) and stock."""
    if not variant or variant.get("price") is None:
        return False
    return bool((variant.get("availability") or {}).get("in_stock"))


def _matches(variant: Mapping[str, Any], chosen: Mapping[str, str]) -> bool:
    have = {_key(str(k)): _key(str(v)) for k, v in (variant.get("options") or {}).items()}
    return all(have.get(_key(k)) == _key(v) for k, v in chosen.items())


def choose_variant(product: Mapping[str, Any], chosen: Mapping[str, str]) -> dict[str, Any] | None:
    """The variant ``chosen`` names. Values left unchosen are filled by the first variant
    that matches the rest, preferring one that can be bought; None if none matches."""
    variants = [v for v in product.get("variants") or [] if isinstance(v, dict)]
    matching = [v for v in variants if _matches(v, chosen)]
    if not matching:
        return None
    return next((v for v in matching if purchasable(v)), matching[0])


def variant_of(product: Mapping[str, Any], variant_id: str) -> dict[str, Any] | None:
    """The product's variant with this id (None if it has none such any more)."""
    return next(
        (
            v
            for v in product.get("variants") or []
            if isinstance(v, dict) and str(v.get("id")) == variant_id
        ),
        None,
    )


def options_label(options: Mapping[str, Any] | None) -> str:
    """``{"size": "M", "colour": "red"}`` as ``Size M, Colour red`` (``""`` for none)."""
    return ", ".join(
        f"{str(name)[:1].upper()}{str(name)[1:]} {value}" for name, value in (options or {}).items()
    )


def option_query(options: Mapping[str, Any] | None) -> str:
    """The product page's query that picks these options (``option.size=M&...``)."""
    return urlencode([(PREFIX + str(name), str(value)) for name, value in (options or {}).items()])
