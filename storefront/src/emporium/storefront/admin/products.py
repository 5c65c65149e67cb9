"""``/admin/products``: the catalog's list, a new product, editing, stock, images, deleting."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from emporium.storefront.admin.common import (
    ApiDep,
    currencies,
    feedback_of,
    next_page_url,
    problem_status,
)
from emporium.storefront.admin.forms import format_amount, product_body, stock_body
from emporium.storefront.admin.variant_forms import options_rows
from emporium.storefront.api import Api, ApiProblem, path
from emporium.storefront.auth import AdminDep, SignedIn, client_ip
from emporium.storefront.problems import Feedback, explain
from emporium.storefront.session import get_session
from emporium.storefront.web import render

__all__ = ["category_options", "edit_page", "load_categories", "load_product", "router"]

router = APIRouter(prefix="/products")

PRODUCT_FIELDS = ("sku", "name", "price", "description", "category_id")
_PAGE = 20
#: Image types the catalog takes (the API says 415 to anything else; told before sending).
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")


def _fields(form: Any) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def load_categories(api: Api, request: Request) -> list[dict[str, Any]]:
    found = await api.json("GET", "/categories", client_ip=client_ip(request))
    return list(found) if isinstance(found, list) else []


def category_options(categories: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(id, label) for the category list: a child reads "Parent / Child", sorted by label."""
    names = {c["id"]: str(c["name"]) for c in categories}
    labelled = [
        (str(c["id"]), f"{names[c['parent_id']]} / {c['name']}" if c.get("parent_id") in names
         else str(c["name"]))
        for c in categories
    ]  # fmt: skip
    return sorted(labelled, key=lambda option: option[1].lower())


async def load_product(api: Api, request: Request, product_id: str) -> dict[str, Any]:
    found: dict[str, Any] = await api.json(
        "GET", path("products", product_id), client_ip=client_ip(request)
    )
    return found


def _form_values(product: dict[str, Any]) -> dict[str, str]:
    return {
        "sku": str(product["sku"]),
        "name": str(product["name"]),
        "description": str(product.get("description") or ""),
        "price": format_amount(int(product["price"]["amount"]), str(product["price"]["currency"])),
        "category_id": str(product.get("category_id") or ""),
    }


@router.get("", response_class=HTMLResponse)
async def product_list(
    request: Request, who: AdminDep, api: ApiDep, q: str = "", cursor: str | None = None
) -> HTMLResponse:
    """Every product, newest first, or those matching ``q``."""
    params: dict[str, str | int] = {"limit": _PAGE, "sort": "newest"}
    if q.strip():
        params["q"] = q.strip()[:200]
    if cursor:
        params["cursor"] = cursor
    feedback = Feedback()
    page: dict[str, Any] = {"items": [], "next_cursor": None}
    try:
        page = await api.json(
            "GET", "/products", token=who.token, client_ip=client_ip(request), params=params
        )
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        feedback = explain(problem, ("q",))
    categories = {c["id"]: c["name"] for c in await load_categories(api, request)}
    return render(
        request,
        "admin/products.html",
        {
            "products": page["items"],
            "categories": categories,
            "q": q,
            "search_q": q,
            "next_url": next_page_url(request.url, page.get("next_cursor")),
            "first_url": ("/admin/products?" + urlencode({"q": q})) if cursor else None,
            "list_feedback": feedback,
        },
    )


async def _new_form(
    request: Request,
    api: Api,
    values: dict[str, str],
    feedback: Feedback,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "admin/product_new.html",
        {
            "values": values,
            "category_options": category_options(await load_categories(api, request)),
            "form_feedback": feedback,
        },
        status=status,
    )


@router.get("/new", response_class=HTMLResponse)
async def new_product(request: Request, who: AdminDep, api: ApiDep) -> HTMLResponse:
    """The form of a new product."""
    return await _new_form(request, api, {"on_hand": "0"}, Feedback())


@router.post("/new", response_class=HTMLResponse)
async def create_product(request: Request, who: AdminDep, api: ApiDep) -> Response:
    """Create the product, then set its stock (the new product's page follows)."""
    values = _fields(await request.form())
    result = product_body(values, currencies(request)[0])
    stock = stock_body(values)
    result.errors.update(stock.errors)
    if not result.ok:
        return await _new_form(request, api, values, feedback_of(result), 422)
    ip = client_ip(request)
    try:
        product = await api.json(
            "POST", "/admin/products", token=who.token, client_ip=ip, json=result.body
        )
    except ApiProblem as problem:
        feedback = explain(problem, PRODUCT_FIELDS)
        return await _new_form(request, api, values, feedback, problem_status(problem))
    session = get_session(request)
    try:
        await api.call(
            "PUT",
            path("admin", "products", product["id"], "stock"),
            token=who.token,
            client_ip=ip,
            json=stock.body,
        )
    except ApiProblem as problem:
        session.flash(f"Created, but the stock was not set: {explain(problem).form}", "error")
    else:
        session.flash(f"Created {product['name']}. Add its images below.")
    return RedirectResponse(f"/admin/products/{product['id']}", status_code=303)


async def edit_page(
    request: Request,
    api: Api,
    product: dict[str, Any],
    *,
    values: dict[str, str] | None = None,
    options_values: dict[str, str] | None = None,
    variant_values: dict[str, str] | None = None,
    status: int = 200,
    **feedback: Feedback,
) -> HTMLResponse:
    """The product's page: details, options, variants, stock, images; ``values`` and the
    others are what was typed into a form shown again with ``feedback`` beside it."""
    options = product.get("options") or []
    return render(
        request,
        "admin/product_edit.html",
        {
            "product": product,
            "values": values or _form_values(product),
            "category_options": category_options(await load_categories(api, request)),
            "details_feedback": feedback.get("details", Feedback()),
            "stock_feedback": feedback.get("stock", Feedback()),
            "image_feedback": feedback.get("image", Feedback()),
            "delete_feedback": feedback.get("delete", Feedback()),
            "stock_value": (values or {}).get(
                "on_hand", str((product.get("availability") or {}).get("available", 0))
            ),
            "image_types": ", ".join(IMAGE_TYPES),
            "options_rows": options_rows(options),
            "options_values": options_values,
            "options_feedback": feedback.get("options", Feedback()),
            "variant_values": variant_values or {},
            "variant_feedback": feedback.get("variant", Feedback()),
            "currencies": currencies(request),
        },
        status=status,
    )


@router.get("/{product_id}", response_class=HTMLResponse)
async def edit_product(
    request: Request, product_id: str, who: AdminDep, api: ApiDep
) -> HTMLResponse:
    """One product: its details, stock and images."""
    return await edit_page(request, api, await load_product(api, request, product_id))


@router.post("/{product_id}", response_class=HTMLResponse)
async def update_product(request: Request, product_id: str, who: AdminDep, api: ApiDep) -> Response:
    """Save the product's details."""
    values = _fields(await request.form())
    product = await load_product(api, request, product_id)
    result = product_body(values, currencies(request)[0], partial=True)
    if not result.ok:
        return await edit_page(
            request, api, product, values=values, details=feedback_of(result), status=422
        )
    try:
        await api.call(
            "PATCH",
            path("admin", "products", product_id),
            token=who.token,
            client_ip=client_ip(request),
            json=result.body,
        )
    except ApiProblem as problem:
        feedback = explain(problem, PRODUCT_FIELDS)
        return await edit_page(
            request, api, product, values=values, details=feedback, status=problem_status(problem)
        )
    get_session(request).flash("Saved the product's details.")
    return RedirectResponse(f"/admin/products/{product_id}", status_code=303)


@router.post("/{product_id}/stock", response_class=HTMLResponse)
async def set_stock(request: Request, product_id: str, who: AdminDep, api: ApiDep) -> Response:
    """Set how many are on the shelf."""
    values = _fields(await request.form())
    result = stock_body(values)
    if not result.ok:
        product = await load_product(api, request, product_id)
        return await edit_page(
            request, api, product, values={**_form_values(product), **values},
            stock=feedback_of(result), status=422,
        )  # fmt: skip
    try:
        level = await api.json(
            "PUT",
            path("admin", "products", product_id, "stock"),
            token=who.token,
            client_ip=client_ip(request),
            json=result.body,
        )
    except ApiProblem as problem:
        product = await load_product(api, request, product_id)
        return await edit_page(
            request, api, product, values={**_form_values(product), **values},
            stock=explain(problem, ("on_hand",)), status=problem_status(problem),
        )  # fmt: skip
    get_session(request).flash(
        f"Stock set: {level['on_hand']} on hand, {level['reserved']} reserved, "
        f"{level['available']} available."
    )
    return RedirectResponse(f"/admin/products/{product_id}", status_code=303)


@router.post("/{product_id}/images", response_class=HTMLResponse)
async def upload_image(request: Request, product_id: str, who: AdminDep, api: ApiDep) -> Response:
    """Add an image (JPEG, PNG or WebP) to the product."""
    upload = (await request.form()).get("file")
    feedback, status = Feedback(), 422
    if not isinstance(upload, UploadFile) or not upload.filename:
        feedback.add("file", "Choose an image file to upload.")
    elif (upload.content_type or "") not in IMAGE_TYPES:
        feedback.add("file", "That file is not a JPEG, PNG or WebP image.")
    else:
        try:
            await api.call(
                "POST",
                path("admin", "products", product_id, "images"),
                token=who.token,
                client_ip=client_ip(request),
                files={"file": (upload.filename, await upload.read(), upload.content_type or "")},
            )
        except ApiProblem as problem:
            feedback, status = explain(problem, ("file",)), problem_status(problem)
        else:
            get_session(request).flash("Image added.")
            return RedirectResponse(f"/admin/products/{product_id}#images", status_code=303)
    product = await load_product(api, request, product_id)
    return await edit_page(request, api, product, image=feedback, status=status)


@router.post("/{product_id}/images/{image_id}/delete", response_class=HTMLResponse)
async def delete_image(
    request: Request, product_id: str, image_id: str, who: AdminDep, api: ApiDep
) -> Response:
    """Remove one image from the product."""
    await _delete(api, request, who, path("admin", "products", product_id, "images", image_id))
    get_session(request).flash("Image removed.")
    return RedirectResponse(f"/admin/products/{product_id}#images", status_code=303)


@router.post("/{product_id}/delete", response_class=HTMLResponse)
async def delete_product(request: Request, product_id: str, who: AdminDep, api: ApiDep) -> Response:
    """Take the product out of the shop (orders keep their copy)."""
    values = _fields(await request.form())
    product = await load_product(api, request, product_id)
    if values.get("confirm_sku", "").strip() != product["sku"]:
        feedback = Feedback()
        feedback.add("confirm_sku", f"Type the SKU {product['sku']} to confirm.")
        return await edit_page(request, api, product, delete=feedback, status=422)
    await _delete(api, request, who, path("admin", "products", product_id))
    get_session(request).flash(f"Deleted {product['name']} ({product['sku']}).")
    return RedirectResponse("/admin/products", status_code=303)


async def _delete(api: Api, request: Request, who: SignedIn, url: str) -> None:
    await api.call("DELETE", url, token=who.token, client_ip=client_ip(request))
