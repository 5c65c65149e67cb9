"""Variant HTTP endpoints (admin): add, change and delete a product's variants."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status

from emporium.catalog.dependencies import AdminDep, SessionDep, SettingsDep
from emporium.catalog.errors import (
    DuplicateCombination,
    DuplicateSku,
    InvalidOptions,
    LastVariant,
    ProductNotFound,
    TooManyVariants,
    VariantNotFound,
)
from emporium.catalog.variants import service
from emporium.catalog.variants.schemas import Variant, VariantCreate, VariantUpdate
from emporium.kit.errors import problem_responses

__all__ = ["router"]

router = APIRouter(tags=["variants"])

_NO_PRODUCT = (ProductNotFound, "No product has this id (or it was deleted)")
_NO_VARIANT = (VariantNotFound, "No variant has this id (or it or its product was deleted)")
_SKU_TAKEN = (DuplicateSku, "Another variant has this SKU")
_COMBINATION_TAKEN = (DuplicateCombination, "Another variant of the product has these options")
_BAD_OPTIONS = (InvalidOptions, "`options` are not one value of each of the product's options")


@router.post(
    "/admin/products/{product_id}/variants",
    response_model=Variant,
    status_code=status.HTTP_201_CREATED,
    operation_id="createVariant",
    responses=problem_responses(
        _NO_PRODUCT,
        _SKU_TAKEN,
        _COMBINATION_TAKEN,
        (TooManyVariants, "The product has the most variants a product can have"),
        _BAD_OPTIONS,
    ),
)
async def create_variant(
    product_id: UUID, data: VariantCreate, session: SessionDep, settings: SettingsDep, _: AdminDep
) -> Variant:
    """Add a variant to a product (admin); 409 if its SKU or option values are taken."""
    variant = await service.create_variant(session, product_id, data, settings.base_currency)
    return await service.get_variant(session, variant.id)


@router.patch(
    "/admin/variants/{variant_id}",
    response_model=Variant,
    operation_id="updateVariant",
    responses=problem_responses(_NO_VARIANT, _SKU_TAKEN, _COMBINATION_TAKEN, _BAD_OPTIONS),
)
async def update_variant(
    variant_id: UUID, data: VariantUpdate, session: SessionDep, settings: SettingsDep, _: AdminDep
) -> Variant:
    """Change any of a variant's fields (admin); `prices` given replaces them all."""
    await service.update_variant(session, variant_id, data, settings.base_currency)
    return await service.get_variant(session, variant_id)


@router.delete(
    "/admin/variants/{variant_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deleteVariant",
    responses=problem_responses(_NO_VARIANT, (LastVariant, "It is the product's last variant")),
)
async def delete_variant(
    variant_id: UUID, session: SessionDep, settings: SettingsDep, _: AdminDep
) -> Response:
    """Delete a variant (admin); a product keeps at least one (409 for the last)."""
    await service.delete_variant(session, variant_id, settings.base_currency)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
