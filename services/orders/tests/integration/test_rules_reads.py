"""What pricing reads of the rules, on SQLite and PostgreSQL: zones with their rates, one
rate, the automatic promotions valid now, a code's promotion, and the destination's taxes,
all as ``emporium.orders.pricing`` values."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Uuid, bindparam, text
from sqlalchemy.exc import IntegrityError

from emporium.kit.db import Database
from emporium.kit.migrations import upgrade_to_head
from emporium.kit.outbox import UTCDateTime
from emporium.orders import pricing
from emporium.orders.rules import repository, service
from emporium.orders.rules.errors import DuplicateCode, DuplicateTaxRate
from emporium.orders.rules.schemas import PROMOTION_IN, ShippingZoneIn, TaxRateIn
from emporium.orders.rules.tax import TableTaxProvider

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
NOW = datetime.now(UTC)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    await asyncio.to_thread(upgrade_to_head, MIGRATIONS, database_url)
    db = Database(database_url)
    yield db
    await db.dispose()


async def promotion(database: Database, **fields: Any) -> uuid.UUID:
    data = {"name": "Promo", "kind": "percentage", "value": 10} | fields
    async with database.session() as session:
        return (await service.create_promotion(session, PROMOTION_IN.validate_python(data))).id


async def tax(database: Database, **fields: Any) -> None:
    async with database.session() as session:
        await service.create_tax_rate(session, TaxRateIn.model_validate(fields))


async def test_zones_and_rates_read_as_pricing_values(database: Database) -> None:
    body = {
        "name": "South",
        "countries": ["CL", "ZA"],
        "rates": [
            {"name": "Standard", "amount": 990, "currency": "USD", "estimated_days": 5},
            {"name": "Standard", "amount": 0, "currency": "USD", "min_subtotal": 5000},
            {"name": "Freight", "amount": 4900, "currency": "USD", "max_weight_grams": 90000},
        ],
    }
    async with database.session() as session:
        created = await service.create_zone(session, ShippingZoneIn.model_validate(body))
        await service.create_zone(
            session,
            ShippingZoneIn.model_validate(body | {"name": "Korea", "countries": ["KR"]}),
        )
    async with database.session() as session:
        zones = await repository.zones(session)
        standard = await repository.rate(session, created.rates[0].id)
        assert await repository.rate(session, uuid.uuid4()) is None
    assert [z.name for z in zones] == ["Korea", "South"]
    south = zones[1]
    assert south.countries == frozenset({"CL", "ZA"})
    assert [(r.name, r.amount, r.min_subtotal, r.max_weight_grams) for r in south.rates] == [
        ("Standard", 990, None, None),
        ("Standard", 0, 5000, None),
        ("Freight", 4900, None, 90000),
    ]
    assert standard == pricing.Rate(
        id=created.rates[0].id,
        zone_id=created.id,
        name="Standard",
        amount=990,
        currency="USD",
        min_subtotal=None,
        max_weight_grams=None,
        estimated_days=5,
    )
    # The pricing rules pick from them as the cart will.
    offered = pricing.shipping_options(
        zones, country="ZA", currency="USD", subtotal=6000, weight_grams=1000
    )
    assert [(r.name, r.amount) for r in offered] == [("Standard", 0), ("Freight", 4900)]

    async with database.session() as session:
        await service.delete_zone(session, created.id)
    async with database.session() as session:
        assert [z.name for z in await repository.zones(session)] == ["Korea"]
        assert await repository.rate(session, created.rates[0].id) is None  # gone with it


async def test_automatic_promotions_are_those_valid_now_in_creation_order(
    database: Database,
) -> None:
    product = uuid.uuid4()
    first = await promotion(database, name="First", applies_to={"products": [str(product)]})
    await promotion(database, name="Later", starts_at=(NOW + timedelta(days=1)).isoformat())
    await promotion(database, name="Over", ends_at=NOW.isoformat())  # ends_at is exclusive
    window = await promotion(
        database,
        name="Window",
        kind="fixed",
        value=300,
        currency="USD",
        starts_at=(NOW - timedelta(days=1)).isoformat(),
        ends_at=(NOW + timedelta(seconds=1)).isoformat(),
    )
    await promotion(database, name="Code", code="KR-ONLY")
    gone = await promotion(database, name="Gone")
    async with database.session() as session:
        await service.delete_promotion(session, gone)

    async with database.session() as session:
        found = await repository.automatic_promotions(session, NOW)
    assert [(p.id, p.name) for p in found] == [(first, "First"), (window, "Window")]
    assert found[0].products == frozenset({product})
    assert found[0].categories == frozenset()
    assert (found[1].kind, found[1].value, found[1].currency) == ("fixed", 300, "USD")
    assert found[1].code is None


async def test_a_code_is_found_in_any_case_whatever_its_state(database: Database) -> None:
    expired = await promotion(
        database, code="Winter-24", ends_at=(NOW - timedelta(days=1)).isoformat()
    )
    async with database.session() as session:
        for typed in ("WINTER-24", "winter-24", "  Winter-24 "):
            found = await repository.promotion_by_code(session, typed)
            assert found is not None
            assert (found.id, found.code) == (expired, "WINTER-24")
        for unknown in ("WINTER", "", "x" * 1000):
            assert await repository.promotion_by_code(session, unknown) is None
        # The caller tells the shopper why it does not apply.
        found = await repository.promotion_by_code(session, "winter-24")
        assert found is not None
        refusal = pricing.code_refusal(
            found,
            [pricing.Line(uuid.uuid4(), None, 1000, 1)],
            currency="USD",
            now=NOW,
            customer_uses=0,
        )
        assert refusal is not None
        assert refusal.reason == "expired"
        await service.delete_promotion(session, expired)
    async with database.session() as session:
        assert await repository.promotion_by_code(session, "WINTER-24") is None


async def test_the_table_gives_the_country_s_rates_and_the_region_s(database: Database) -> None:
    await tax(database, country="MX", rate_bp=1600, name="IVA")
    await tax(database, country="MX", rate_bp=0, name="IVA", tax_class="food")
    await tax(database, country="MX", region="BCN", rate_bp=50, name="Local")
    await tax(database, country="MX", region="JAL", rate_bp=75, name="Local")
    await tax(database, country="KR", rate_bp=1000, name="VAT")
    async with database.session() as session:
        taxes: pricing.TaxProvider = TableTaxProvider(session)
        country_wide = await taxes.rates_for("MX", None)
        baja = await taxes.rates_for("MX", "BCN")
        spelled = await taxes.rates_for("MX", "mx-bcn")
        nowhere = await taxes.rates_for("NZ", "BCN")
    assert [(r.tax_class, r.region, r.rate_bp) for r in country_wide] == [
        ("food", None, 0),
        ("standard", None, 1600),
    ]
    assert [(r.tax_class, r.region, r.name, r.rate_bp) for r in baja] == [
        ("food", None, "IVA", 0),
        ("standard", None, "IVA", 1600),
        ("standard", "BCN", "Local", 50),
    ]
    assert spelled == baja
    assert nowhere == []
    assert baja[2] == pricing.TaxRate(
        country="MX", region="BCN", tax_class="standard", rate_bp=50, name="Local"
    )


async def test_the_database_itself_refuses_a_second_country_wide_rate(database: Database) -> None:
    # What the service checks first, the unique key also holds against a concurrent insert.
    insert = text(
        "INSERT INTO tax_rate (id, country, region, tax_class, rate_bp, name, created_at)"
        " VALUES (:id, 'IS', NULL, 'standard', 2400, 'VAT', :now)"
    ).bindparams(bindparam("id", type_=Uuid()), bindparam("now", type_=UTCDateTime()))
    async with database.session() as session:
        await session.execute(insert, {"id": uuid.uuid4(), "now": NOW})
    with pytest.raises(IntegrityError):
        async with database.session() as session:
            await session.execute(insert, {"id": uuid.uuid4(), "now": NOW})


async def test_admins_adding_one_rate_or_code_at_once_get_one_and_conflicts(
    database: Database,
) -> None:
    async def add_rate() -> bool:
        try:
            await tax(database, country="ZA", rate_bp=1500, name="VAT")
        except DuplicateTaxRate:
            return False
        return True

    async def add_code() -> bool:
        try:
            await promotion(database, code="RACE")
        except DuplicateCode:
            return False
        return True

    rates = await asyncio.gather(*(add_rate() for _ in range(10)))
    codes = await asyncio.gather(*(add_code() for _ in range(10)))
    assert (rates.count(True), codes.count(True)) == (1, 1)
    async with database.session() as session:
        assert len(await TableTaxProvider(session).rates_for("ZA", None)) == 1
