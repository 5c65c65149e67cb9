"""The pricing rules every quote needs, kept in memory while ``pricing_rules_version`` stays.

A quote used to read the zones with their rates, the destination's tax rates and the
automatic promotions on every cart view and checkout. They change only by the admin API
(``rules.service``), which adds one to ``pricing_rules_version`` in the transaction of each
change (``bump``). A quote reads that one number (``current``): the same as the set held
in memory, the set is used; otherwise the set is read again and kept. So a change is seen
by the next quote in every process and replica as soon as it commits, with no message to
lose: the number is read in the quote's own session, like the rules were.

The number is read before the rules: a set read while a change commits may be newer than
its number says, never older, and the next quote then reads it again.

What stays per quote: the cart's code (its promotion and the customer's uses change with
every redemption) and the chosen rate's zone, which the set holds.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.orders import pricing
from emporium.orders.rules import repository
from emporium.orders.rules.models import Promotion, RulesVersion, TaxRate
from emporium.orders.rules.tax import region_code

__all__ = ["RuleSet", "bump", "current"]

_ROW = 1


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules as of ``version``; every quote of the process reads it, nobody changes it."""

    version: int
    #: Every zone with its rates, by name (as ``repository.zones``).
    zones: tuple[pricing.Zone, ...]
    #: Every tax rate, by country, class, region (none first) and name.
    tax_rates: tuple[pricing.TaxRate, ...]
    #: The live promotions without a code, whatever their window, in creation order.
    automatic: tuple[pricing.Promotion, ...]

    def rate(self, rate_id: UUID) -> pricing.Rate | None:
        """The shipping rate ``rate_id`` (None: none, or its zone was deleted)."""
        for zone in self.zones:
            for rate in zone.rates:
                if rate.id == rate_id:
                    return rate
        return None

    def automatic_at(self, now: datetime) -> list[pricing.Promotion]:
        """The automatic promotions valid at ``now`` (``starts_at <= now < ends_at``)."""
        return [
            p
            for p in self.automatic
            if (p.starts_at is None or p.starts_at <= now)
            and (p.ends_at is None or p.ends_at > now)
        ]

    async def rates_for(self, country: str, region: str | None) -> Sequence[pricing.TaxRate]:
        """``pricing.TaxProvider``: as ``TableTaxProvider`` reads them from the table."""
        wanted, code = country.upper(), region_code(country, region)
        return [
            r
            for r in self.tax_rates
            if r.country == wanted and (r.region is None or r.region == code)
        ]


#: The set last read, per engine (a process has one per database; tests have several).
_HELD: weakref.WeakKeyDictionary[Engine, RuleSet] = weakref.WeakKeyDictionary()


async def _version(session: AsyncSession) -> int:
    found = await session.scalar(select(RulesVersion.version).where(RulesVersion.id == _ROW))
    return int(found or 0)


async def _load(session: AsyncSession, version: int) -> RuleSet:
    taxes = await session.scalars(
        select(TaxRate).order_by(
            TaxRate.country, TaxRate.tax_class, TaxRate.region.nulls_first(), TaxRate.name
        )
    )
    automatic = await session.scalars(
        select(Promotion)
        .where(Promotion.deleted_at.is_(None), Promotion.code.is_(None))
        .order_by(Promotion.created_at, Promotion.id)
    )
    return RuleSet(
        version=version,
        zones=tuple(await repository.zones(session)),
        tax_rates=tuple(
            pricing.TaxRate(
                country=row.country,
                region=row.region,
                tax_class=row.tax_class,
                rate_bp=row.rate_bp,
                name=row.name,
            )
            for row in taxes
        ),
        automatic=tuple(repository.to_promotion(row) for row in automatic),
    )


async def current(session: AsyncSession) -> RuleSet:
    """The rules as committed now: one statement while they have not changed."""
    engine = session.get_bind().engine
    version = await _version(session)
    held = _HELD.get(engine)
    if held is not None and held.version == version:
        return held
    loaded = await _load(session, version)
    latest = _HELD.get(engine)
    if latest is None or latest.version <= version:
        _HELD[engine] = loaded
    return loaded


async def bump(session: AsyncSession) -> None:
    """Say the rules changed, in the transaction that changes them."""
    result = await session.execute(
        update(RulesVersion).where(RulesVersion.id == _ROW).values(version=RulesVersion.version + 1)
    )
    if getattr(result, "rowcount", 1) == 0:
        # A schema made without migration 0010's row: make it, or no quote would ever see
        # a change (a missing row reads as version 0).
        session.add(RulesVersion(id=_ROW, version=1))
        await session.flush()
