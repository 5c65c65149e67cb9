"""The built-in tax provider: the admin's ``tax_rate`` table.

Another provider (an external tax service) implements the same ``pricing.TaxProvider``
protocol; pricing itself never knows where the rates came from.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.orders import pricing
from emporium.orders.rules.models import TaxRate

__all__ = ["TableTaxProvider", "region_code"]


def region_code(country: str, region: str | None) -> str | None:
    """A region as the table stores it: upper case, without its country (``US-ca`` of US is
    ``CA``); None for none or a blank one."""
    if region is None:
        return None
    code = region.strip().upper()
    code = code.removeprefix(f"{country.upper()}-")
    return code or None


class TableTaxProvider:
    """The rates of the ``tax_rate`` table, read in the caller's session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def rates_for(self, country: str, region: str | None) -> Sequence[pricing.TaxRate]:
        """The country-wide rates of ``country`` plus those of ``region``, every tax class."""
        where_region: ColumnElement[bool] = TaxRate.region.is_(None)
        code = region_code(country, region)
        if code is not None:
            where_region = or_(where_region, TaxRate.region == code)
        rows = await self.session.scalars(
            select(TaxRate)
            .where(TaxRate.country == country.upper(), where_region)
            .order_by(TaxRate.tax_class, TaxRate.region.nulls_first(), TaxRate.name)
        )
        return [
            pricing.TaxRate(
                country=row.country,
                region=row.region,
                tax_class=row.tax_class,
                rate_bp=row.rate_bp,
                name=row.name,
            )
            for row in rows
        ]
