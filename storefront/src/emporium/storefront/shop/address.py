"""Addresses typed in the shop's forms (pure): checked here first, so a shopper sees every
missing field at once, then sent to the API in its shape."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["ADDRESS_FIELDS", "COUNTRIES", "AddressForm", "parse_address"]

ADDRESS_FIELDS = ("line1", "line2", "city", "postal_code", "country")
#: The countries the forms offer (ISO 3166-1 alpha-2 -> name).
COUNTRIES: dict[str, str] = {
    "AT": "Austria", "AU": "Australia", "BE": "Belgium", "CA": "Canada", "CH": "Switzerland",
    "CZ": "Czechia", "DE": "Germany", "DK": "Denmark", "ES": "Spain", "FI": "Finland",
    "FR": "France", "GB": "United Kingdom", "GR": "Greece", "HU": "Hungary", "IE": "Ireland",
    "IT": "Italy", "JP": "Japan", "LU": "Luxembourg", "NL": "Netherlands", "NO": "Norway",
    "NZ": "New Zealand", "PL": "Poland", "PT": "Portugal", "RO": "Romania", "SE": "Sweden",
    "SI": "Slovenia", "SK": "Slovakia", "US": "United States",
}  # fmt: skip
_LIMITS = {"line1": 200, "line2": 200, "city": 100, "postal_code": 20}
_LABELS = {"line1": "the street and number", "city": "the city", "postal_code": "the postal code"}


@dataclass
class AddressForm:
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def body(self) -> dict[str, str | None]:
        """The API's address body."""
        return {
            "line1": self.values["line1"],
            "line2": self.values.get("line2") or None,
            "city": self.values["city"],
            "postal_code": self.values["postal_code"],
            "country": self.values["country"],
        }


def parse_address(form: Mapping[str, str]) -> AddressForm:
    """The address fields of ``form``, with a message for each one missing or too long."""
    out = AddressForm({name: str(form.get(name, "")).strip() for name in ADDRESS_FIELDS})
    for name, limit in _LIMITS.items():
        value = out.values[name]
        if not value and name in _LABELS:
            out.errors[name] = f"Enter {_LABELS[name]}."
        elif len(value) > limit:
            out.errors[name] = f"Use at most {limit} characters."
    country = out.values["country"].upper()
    out.values["country"] = country
    if country not in COUNTRIES:
        out.errors["country"] = "Choose a country from the list."
    return out
