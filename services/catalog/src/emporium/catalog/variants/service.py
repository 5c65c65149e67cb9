"""Variant rules: a product's options and its variants' option values, SKUs and prices.

Every change locks the product row first, so two changes of one product's variants run
one after the other: the checks (a combination or SKU taken, the last variant) see what the
other committed, and the lowest prices kept on the product (``product.price_amount`` in the
base currency, ``product_price`` in every currency) are rewritten in the same transaction,
with the product's ``version`` one up and its events published (``product.events``).

A product keeps at least one variant (its first has the product's id); deleting the last
one is a 409, and deleting the product deletes them all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.catalog.errors import (
    DuplicateCombination,
    DuplicateSku,
    InvalidOptions,
    LastVariant,
    ProductNotFound,
    TooManyVariants,
    VariantNotFound,
)
from emporium.catalog.models import Product
from emporium.catalog.models import ProductOption as ProductOptionRow
from emporium.catalog.models import Variant as VariantRow
from emporium.catalog.product import repository as products
from emporium.catalog.product.events import publish_update
from emporium.catalog.variants import options as rules
from emporium.catalog.variants import repository
from emporium.catalog.variants.schemas import (
    Price,
    Variant,
    VariantAvailability,
    VariantCreate,
    VariantUpdate,
)
from emporium.kit.errors import Unprocessable
from emporium.kit.outbox import utcnow

__all__ = [
    "create_variant",
    "delete_variant",
    "get_variant",
    "lock_product",
    "option_rules",
    "refresh_prices",
    "set_options",
    "update_variant",
]


def _invalid(error: rules.OptionError, prefix: str = "body.") -> InvalidOptions:
    return InvalidOptions(error.message, field=prefix + error.field)


def option_rules(rows: Sequence[ProductOptionRow]) -> tuple[rules.ProductOption, ...]:
    """The stored options as the pure rules see them."""
    return tuple(rules.ProductOption(row.name, tuple(row.values)) for row in rows)


def _combination_key(combination: rules.Combination) -> str:
    return json.dumps(list(combination.key))


def _option_rows(combination: rules.Combination) -> list[tuple[str, str, str, str]]:
    return [
        (rules.key(name), rules.key(value), name, value)
        for name, value in zip(combination.names, combination.values, strict=True)
    ]


async def lock_product(session: AsyncSession, product_id: UUID) -> Product:
    product = await products.live_product(session, product_id, lock=True)
    if product is None:
        raise ProductNotFound(f"no product {product_id}")
    return product


async def _locked_variant(session: AsyncSession, variant_id: UUID) -> tuple[VariantRow, Product]:
    """The live variant and its product, the product row locked (then the variant re-read:
    a concurrent change may have deleted it while this waited for the lock)."""
    variant = await repository.live_variant(session, variant_id)
    if variant is None:
        raise VariantNotFound(f"no variant {variant_id}")
    product = await lock_product(session, variant.product_id)
    await session.refresh(variant)
    if variant.deleted_at is not None:
        raise VariantNotFound(f"no variant {variant_id}")
    return variant, product


def _prices(prices: Sequence[Price], base_currency: str) -> dict[str, int]:
    by_currency = {price.currency: price.amount for price in prices}
    if base_currency not in by_currency:
        raise Unprocessable(
            f"a variant needs a price in the shop's base currency {base_currency}",
            field="body.prices",
        )
    return by_currency


async def _combination(
    session: AsyncSession, product_id: UUID, given: Mapping[str, str]
) -> rules.Combination:
    stored = (await repository.options_of(session, [product_id]))[product_id]
    try:
        return rules.variant_combination(option_rules(stored), given)
    except rules.OptionError as error:
        raise _invalid(error) from None


async def _check_free(
    session: AsyncSession, product_id: UUID, *, sku: str | None, combination_key: str | None,
    variant_id: UUID | None,
) -> None:  # fmt: skip
    if combination_key is not None and await repository.combination_taken(
        session, product_id, combination_key, other_than=variant_id
    ):
        raise DuplicateCombination("another variant of the product has these option values")
    if sku is not None and await repository.sku_taken(session, sku, other_than=variant_id):
        raise DuplicateSku(f"a variant already has the SKU {sku!r}", sku=sku)


async def _flush(session: AsyncSession, variant: VariantRow) -> None:
    """Flush; a concurrent insert that won the race for the SKU (the unique index) is a 409."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise DuplicateSku(
            f"a variant already has the SKU {variant.sku!r}", sku=variant.sku
        ) from None


async def refresh_prices(session: AsyncSession, product: Product, base_currency: str) -> None:
    """Rewrite the product's lowest prices from its live variants (in this transaction)."""
    await session.flush()
    lowest = await repository.lowest_prices(session, product.id)
    await repository.replace_product_prices(session, product.id, lowest)
    if base_currency in lowest:
        product.price_amount, product.currency = lowest[base_currency], base_currency


async def set_options(
    session: AsyncSession, product: Product, options: Sequence[rules.ProductOption]
) -> None:
    """Give the product these options: each live variant keeps its values of the options
    that stay (compared by key) and takes a new option's first value; a value that is gone
    is a 422 and two variants ending up alike a 409, with nothing changed."""
    variants = await repository.live_variants(session, [product.id])
    rows = await repository.option_rows(session, [variant.id for variant in variants])
    combinations = []
    for variant in variants:
        current = {name_key: row.value for name_key, row in rows[variant.id].items()}
        given = {option.name: current.get(option.key, option.values[0]) for option in options}
        try:
            combinations.append(rules.variant_combination(options, given))
        except rules.OptionError as error:
            raise InvalidOptions(
                f"the variant {variant.sku} has a value the options no longer have: "
                + error.message,
                field="body.options",
            ) from None
    if rules.duplicate_combinations(combinations):
        raise DuplicateCombination("two variants of the product would have the same values")
    await repository.replace_product_options(
        session, product.id, [(o.name, o.key, list(o.values)) for o in options]
    )
    # Two steps, so that no unique (product, combination) key is momentarily held twice.
    for variant in variants:
        variant.combination_key = f"#{variant.id}"
    await session.flush()
    for variant, combination in zip(variants, combinations, strict=True):
        variant.combination_key = _combination_key(combination)
        await repository.replace_options(session, variant, _option_rows(combination))
    await session.flush()


async def create_variant(
    session: AsyncSession, product_id: UUID, data: VariantCreate, base_currency: str
) -> VariantRow:
    product = await lock_product(session, product_id)
    if len(await repository.live_variants(session, [product.id])) >= rules.MAX_VARIANTS:
        raise TooManyVariants(f"the product has {rules.MAX_VARIANTS} variants already")
    combination = await _combination(session, product.id, data.options)
    prices = _prices(data.prices, base_currency)
    key = _combination_key(combination)
    await _check_free(session, product.id, sku=data.sku, combination_key=key, variant_id=None)
    variant = VariantRow(
        product_id=product.id,
        sku=data.sku,
        weight_grams=data.weight_grams,
        position=await repository.next_position(session, product.id),
        combination_key=key,
    )
    session.add(variant)
    await _flush(session, variant)
    await repository.replace_options(session, variant, _option_rows(combination))
    await repository.replace_prices(session, variant.id, prices)
    old = (product.price_amount, product.currency)
    await refresh_prices(session, product, base_currency)
    await publish_update(session, product, old)
    return variant


async def update_variant(
    session: AsyncSession, variant_id: UUID, data: VariantUpdate, base_currency: str
) -> VariantRow:
    variant, product = await _locked_variant(session, variant_id)
    first = variant.id == product.id  # the product's own SKU and weight are its first's
    if data.sku is not None and data.sku != variant.sku:
        await _check_free(
            session, product.id, sku=data.sku, combination_key=None, variant_id=variant.id
        )
        variant.sku = data.sku
        if first:
            product.sku = data.sku
    if data.options is not None:
        combination = await _combination(session, product.id, data.options)
        key = _combination_key(combination)
        if key != variant.combination_key:
            await _check_free(
                session, product.id, sku=None, combination_key=key, variant_id=variant.id
            )
            variant.combination_key = key
            await repository.replace_options(session, variant, _option_rows(combination))
    if data.prices is not None:
        await repository.replace_prices(session, variant.id, _prices(data.prices, base_currency))
    if data.weight_grams is not None:
        variant.weight_grams = data.weight_grams
        if first:
            product.weight_grams = data.weight_grams
    variant.updated_at = utcnow()
    await _flush(session, variant)
    old = (product.price_amount, product.currency)
    await refresh_prices(session, product, base_currency)
    await publish_update(session, product, old)
    return variant


async def delete_variant(session: AsyncSession, variant_id: UUID, base_currency: str) -> None:
    variant, product = await _locked_variant(session, variant_id)
    if len(await repository.live_variants(session, [product.id])) <= 1:
        raise LastVariant(
            "this is the product's last variant: delete the product instead", sku=variant.sku
        )
    await repository.soft_delete(session, [variant], utcnow())
    old = (product.price_amount, product.currency)
    await refresh_prices(session, product, base_currency)
    await publish_update(session, product, old)


async def get_variant(session: AsyncSession, variant_id: UUID) -> Variant:
    """The variant as the admin API answers it."""
    variant = await repository.live_variant(session, variant_id)
    if variant is None:
        raise VariantNotFound(f"no variant {variant_id}")
    order = {
        row.name_key: row.position
        for row in (await repository.options_of(session, [variant.product_id]))[variant.product_id]
    }
    rows = (await repository.option_rows(session, [variant.id]))[variant.id]
    prices = (await repository.prices_of(session, [variant.id]))[variant.id]
    units = (await repository.available(session, [variant.id]))[variant.id]
    return Variant(
        id=variant.id,
        product_id=variant.product_id,
        sku=variant.sku,
        options={
            row.name: row.value
            for row in sorted(rows.values(), key=lambda row: order.get(row.name_key, 0))
        },
        prices=[Price(amount=amount, currency=currency) for currency, amount in prices.items()],
        weight_grams=variant.weight_grams,
        availability=VariantAvailability(in_stock=units > 0, available=units),
    )
