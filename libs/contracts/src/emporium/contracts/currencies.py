"""ISO 4217 currencies a price can be in, with their minor units (the exponent: an amount of
1234 in a currency of 2 minor units is 12.34, of 0 is 1234, of 3 is 1.234).

Every amount in Emporium is an integer in minor units, so this is the one table that says
what "one unit" of a currency is, shared by every service (catalog prices per currency,
orders' carts, the storefront's formatting).

The data is ISO 4217 List One as it stands after the changes of recent years: ``XCG``
replaced ``ANG`` (2025), ``ZWG`` replaced ``ZWL`` (2024), ``SLE`` replaced ``SLL``, ``VED``
was added beside ``VES``, ``HRK`` (2023) and ``BGN`` (2026) left for the euro, ``CUC``
was withdrawn. Left out on purpose: the codes without minor units (precious metals ``XAU``
``XAG`` ``XPT`` ``XPD``, the bond-market and SDR units ``XBA``-``XBD`` ``XDR`` ``XSU``
``XUA``, the testing and "no currency" codes ``XTS`` ``XXX``): nothing is sold in them.
"""

from __future__ import annotations

import re

__all__ = ["CURRENCY_CODES", "MINOR_UNITS", "currency_code", "minor_units"]


def _table(rows: str) -> dict[str, int]:
    table: dict[str, int] = {}
    for row in rows.strip().splitlines():
        exponent, codes = row.split(":")
        for code in codes.split():
            if code in table:  # a code under two exponents would silently take the last
                raise ValueError(f"{code} is listed twice")
            table[code] = int(exponent)
    return table


#: Code → minor units, grouped by exponent (2 is the rule, the others the exceptions).
MINOR_UNITS: dict[str, int] = _table(
    """
    0: BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF
    2: AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BMD BND BOB BOV BRL BSD BTN BWP
    2: BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB
    2: EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES
    2: KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR
    2: MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD
    2: RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP
    2: TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG
    3: BHD IQD JOD KWD LYD OMR TND
    4: CLF UYW
    """
)

CURRENCY_CODES: frozenset[str] = frozenset(MINOR_UNITS)

_SHAPE = re.compile(r"[A-Za-z]{3}")


def currency_code(value: str) -> str:
    """``value`` as the canonical code (``eur`` and `` EUR `` → ``EUR``); ValueError if it
    is not an ISO 4217 currency a price can be in."""
    if not isinstance(value, str):
        raise ValueError(f"a currency code is a string of 3 letters, not {type(value).__name__}")
    code = value.strip()
    if not _SHAPE.fullmatch(code):
        raise ValueError(f"{value!r} is not a currency code (3 letters, ISO 4217)")
    code = code.upper()
    if code not in MINOR_UNITS:
        raise ValueError(f"{code} is not an ISO 4217 currency")
    return code


def minor_units(code: str) -> int:
    """How many decimal places ``code``'s amounts have (JPY 0, EUR 2, KWD 3, CLF 4)."""
    return MINOR_UNITS[currency_code(code)]
