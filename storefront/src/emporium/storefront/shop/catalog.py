"""Browsing: home, search (filters, sorting, pages), category pages, the product page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from emporium.storefront import variants
from emporium.storefront.api import Api, ApiProblem, get_api, path
from emporium.storefront.auth import client_ip
from emporium.storefront.shop.listing import SORTS, facet_view, parse_listing
from emporium.storefront.variants import with_variants
from emporium.storefront.web import render, shown_currency

__all__ = ["router", "srcset"]

router = APIRouter()
ApiDep = Annotated[Api, Depends(get_api)]
_PAGE_SIZE = 12


async def _categories(api: Api, request: Request) -> list[dict[str, Any]]:
    found = await api.json("GET", "/categories", client_ip=client_ip(request))
    return list(found) if isinstance(found, list) else []


def srcset(image: dict[str, Any]) -> str:
    """The image's derived sizes for ``srcset``: the thumbnail (320 px) and display (1200)."""
    width = int(image.get("width") or 1200)
    return f"{image['thumbnail_url']} {min(width, 320)}w, {image['url']} {min(width, 1200)}w"


def _not_found(request: Request, what: str) -> HTMLResponse:
    return render(request, "errors/not_found.html", {"what": what}, status=404)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, api: ApiDep) -> HTMLResponse:
    """Categories and the newest products."""
    ip = client_ip(request)
    categories = await _categories(api, request)
    params = {"sort": "newest", "limit": _PAGE_SIZE, "currency": shown_currency(request).code}
    newest = await api.json("GET", "/products", params=params, client_ip=ip)
    return render(
        request,
        "shop/home.html",
        {"categories": categories, "products": newest.get("items", [])},
    )


async def _listing_page(
    request: Request, api: Api, *, category: dict[str, Any] | None = None
) -> HTMLResponse:
    query = dict(request.query_params)
    if category is not None:
        query["category"] = str(category["slug"])
    currency = shown_currency(request).code
    listing = parse_listing(query, request.query_params.multi_items(), currency=currency)
    categories = await _categories(api, request)
    products: list[dict[str, Any]] = []
    next_cursor = None
    facets: dict[str, Any] = {}
    problem = None
    try:
        answer = await api.json(
            "GET", "/products", params=listing.api_params(_PAGE_SIZE), client_ip=client_ip(request)
        )
        products, next_cursor = answer.get("items", []), answer.get("next_cursor")
        facets = answer.get("facets") or {}
    except ApiProblem as error:
        if error.status >= 500 or error.status == 429:
            raise
        problem = error
    from emporium.storefront.problems import explain

    feedback = explain(problem, ("q", "min_price", "max_price")) if problem else None
    return render(
        request,
        "shop/search.html",
        {
            "listing": listing,
            "q": listing.q,
            "category": category,
            "categories": categories,
            "products": products,
            "next_cursor": next_cursor,
            "facets": facet_view(facets, categories),
            "sorts": SORTS,
            "errors": {**listing.errors, **(feedback.messages if feedback else {})},
        },
    )


@router.get("/search", response_class=HTMLResponse)
async def search(request: Request, api: ApiDep) -> HTMLResponse:
    """Products by text, category, price and stock, sorted, one page at a time."""
    return await _listing_page(request, api)


@router.get("/categories/{slug}", response_class=HTMLResponse)
async def category_page(slug: str, request: Request, api: ApiDep) -> HTMLResponse:
    """One category's products (the search page, with the category fixed)."""
    category = next((c for c in await _categories(api, request) if c["slug"] == slug), None)
    if category is None:
        return _not_found(request, "category")
    return await _listing_page(request, api, category=category)


@router.get("/products/{product_id}", response_class=HTMLResponse)
async def product_page(product_id: str, request: Request, api: ApiDep) -> HTMLResponse:
    """A product: its images, option pickers, the chosen variant's price and availability
    (in the shown currency), and adding that variant to the cart."""
    currency = shown_currency(request).code
    params = {"currency": currency}
    try:
        product = await api.json(
            "GET", path("products", product_id), params=params, client_ip=client_ip(request)
        )
    except ApiProblem as error:
        if error.status in (400, 404, 422):
            return _not_found(request, "product")
        raise
    categories = await _categories(api, request)
    category = next((c for c in categories if c["id"] == product.get("category_id")), None)
    options = [o for o in product.get("options") or [] if isinstance(o, dict)]
    chosen = variants.chosen_options(request.query_params.multi_items(), options)
    variant = variants.choose_variant(with_variants(product), chosen)
    return render(
        request,
        "shop/product.html",
        {
            "product": product,
            "category": category,
            "srcset": srcset,
            "variant": variant,
            # The pickers show the variant's own values (those not chosen yet filled in).
            "selected": dict(variant["options"]) if variant else chosen,
            "options_label": variants.options_label,
        },
    )
