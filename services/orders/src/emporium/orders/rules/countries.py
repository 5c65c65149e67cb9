"""ISO 3166-1 alpha-2 country codes (the 249 officially assigned ones), for shipping zones
and tax rates: a zone for "UK" (not a code; Great Britain is "GB") would silently never match.

The list is the contracts' (customers' addresses use the same one).
"""

from __future__ import annotations

from emporium.contracts.countries import COUNTRY_CODES

__all__ = ["COUNTRY_CODES", "country_code"]


def country_code(value: str) -> str:
    """``value`` if it is an assigned code in upper case (the stored form); ValueError if not."""
    if value not in COUNTRY_CODES:
        raise ValueError("not an ISO 3166-1 alpha-2 country code (upper case)")
    return value
