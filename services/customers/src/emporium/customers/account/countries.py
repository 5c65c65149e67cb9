"""ISO 3166-1 alpha-2 country codes (the 249 officially assigned ones)."""

from __future__ import annotations

from emporium.contracts.countries import COUNTRY_CODES

__all__ = ["ACCEPTED_SPELLINGS", "COUNTRY_CODES", "country_code"]


#: What ``country_code`` accepts: each code in upper case (canonical) or in lower case.
ACCEPTED_SPELLINGS: tuple[str, ...] = (
    *sorted(COUNTRY_CODES),
    *sorted(code.lower() for code in COUNTRY_CODES),
)


def country_code(value: str) -> str:
    """``value`` upper-cased if it is an assigned ISO 3166-1 alpha-2 code, in upper or lower
    case (``ACCEPTED_SPELLINGS``, the schema's enum); ValueError if not."""
    code = value.upper()
    if code not in COUNTRY_CODES or value not in (code, code.lower()):
        raise ValueError("not an ISO 3166-1 alpha-2 country code")
    return code
