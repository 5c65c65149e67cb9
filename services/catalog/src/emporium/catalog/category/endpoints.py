"""Category HTTP endpoints."""

from __future__ import annotations

from fastapi import APIRouter, status

from emporium.catalog.category import repository, service
from emporium.catalog.category.schemas import Category, CategoryCreate
from emporium.catalog.dependencies import AdminDep, SessionDep
from emporium.catalog.errors import CategoryNotFound, DuplicateSlug
from emporium.kit.errors import problem_responses

__all__ = ["router"]

router = APIRouter(tags=["categories"])


@router.get("/categories", response_model=list[Category], operation_id="listCategories")
async def list_categories(session: SessionDep) -> list[Category]:
    """Every category; the tree is given by ``parent_id``."""
    return [Category.model_validate(c) for c in await repository.all_categories(session)]


@router.post(
    "/admin/categories",
    response_model=Category,
    status_code=status.HTTP_201_CREATED,
    operation_id="createCategory",
    responses=problem_responses(
        (CategoryNotFound, "`parent_id` names no category"),
        (DuplicateSlug, "Another category has this slug"),
    ),
)
async def create_category(data: CategoryCreate, session: SessionDep, _: AdminDep) -> Category:
    """Create a category (admin)."""
    return Category.model_validate(await service.create_category(session, data))
