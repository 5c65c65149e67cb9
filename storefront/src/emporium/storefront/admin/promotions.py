"""``/admin/promotions``: automatic promotions and codes; new, edit, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from emporium.storefront.admin.common import (
    ApiDep,
    delete_and_go_back,
    items_of,
    next_page_url,
    send_form,
)
from emporium.storefront.admin.pricing_forms import (
    PROMOTION_FIELDS,
    promotion_body,
    promotion_values,
)
from emporium.storefront.admin.products import category_options, load_categories
from emporium.storefront.api import Api, ApiProblem, path
from emporium.storefront.auth import AdminDep, SignedIn, client_ip
from emporium.storefront.problems import Feedback, explain
from emporium.storefront.session import get_session
from emporium.storefront.web import render

__all__ = ["router"]

router = APIRouter(prefix="/promotions")
_PAGE = 50
_NEW: dict[str, Any] = {"kind": "percentage", "currency": "EUR", "categories": []}


async def _promotion(
    request: Request, api: Api, who: SignedIn, promotion_id: str
) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = await api.json(
            "GET",
            path("admin", "promotions", promotion_id),
            token=who.token,
            client_ip=client_ip(request),
        )
    except ApiProblem as problem:
        if problem.status in (404, 422):  # no such promotion, or not even an id
            return None
        raise
    return found


async def _form_page(
    request: Request,
    api: Api,
    *,
    values: dict[str, Any],
    promotion: dict[str, Any] | None = None,
    feedback: Feedback | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "admin/promotion_form.html",
        {
            "promotion": promotion,
            "values": values,
            "category_options": category_options(await load_categories(api, request)),
            "form_feedback": feedback or Feedback(),
        },
        status=status,
    )


def _feedback(problem: ApiProblem) -> Feedback:
    if problem.kind == "duplicate-promotion-code":
        feedback = Feedback()
        feedback.add("code", "Another promotion already has this code.")
        return feedback
    feedback = explain(problem, PROMOTION_FIELDS)
    return feedback


async def _submitted(request: Request) -> tuple[dict[str, Any], list[str]]:
    form = await request.form()
    values: dict[str, Any] = {k: v.strip() for k, v in form.items() if isinstance(v, str)}
    categories = [str(c) for c in form.getlist("categories") if isinstance(c, str) and c]
    values["categories"] = categories
    return values, categories


@router.get("", response_class=HTMLResponse)
async def promotion_list(
    request: Request, who: AdminDep, api: ApiDep, cursor: str | None = None
) -> HTMLResponse:
    """The promotions, newest first: automatic ones and codes, with their use."""
    params: dict[str, str | int] = {"limit": _PAGE}
    if cursor:
        params["cursor"] = cursor[:2048]
    page = await api.json(
        "GET", "/admin/promotions", token=who.token, client_ip=client_ip(request), params=params
    )
    names = {c["id"]: c["name"] for c in await load_categories(api, request)}
    return render(
        request,
        "admin/promotions.html",
        {
            "promotions": items_of(page),
            "category_names": names,
            "next_url": next_page_url(
                request.url, page.get("next_cursor") if isinstance(page, dict) else None
            ),
            "first_url": "/admin/promotions" if cursor else None,
        },
    )


@router.get("/new", response_class=HTMLResponse)
async def new_promotion(request: Request, who: AdminDep, api: ApiDep) -> HTMLResponse:
    """The form of a new promotion."""
    return await _form_page(request, api, values=dict(_NEW))


@router.post("/new", response_class=HTMLResponse)
async def create_promotion(request: Request, who: AdminDep, api: ApiDep) -> Response:
    """Create the promotion."""
    values, categories = await _submitted(request)
    result = promotion_body(values, categories)
    sent = await send_form(
        request, api, who, result, method="POST", url="/admin/promotions",
        explain_problem=_feedback,
    )  # fmt: skip
    if not sent.ok:
        return await _form_page(
            request, api, values=values, feedback=sent.feedback, status=sent.status
        )
    get_session(request).flash(f"Created the promotion {result.body['name']}.")
    return RedirectResponse("/admin/promotions", status_code=303)


@router.get("/{promotion_id}", response_class=HTMLResponse)
async def edit_promotion(
    request: Request, promotion_id: str, who: AdminDep, api: ApiDep
) -> Response:
    """One promotion's form."""
    promotion = await _promotion(request, api, who, promotion_id)
    if promotion is None:
        return render(request, "errors/not_found.html", status=404)
    return await _form_page(request, api, values=promotion_values(promotion), promotion=promotion)


@router.post("/{promotion_id}", response_class=HTMLResponse)
async def update_promotion(
    request: Request, promotion_id: str, who: AdminDep, api: ApiDep
) -> Response:
    """Save the promotion's changes (an emptied field is cleared)."""
    promotion = await _promotion(request, api, who, promotion_id)
    if promotion is None:
        return render(request, "errors/not_found.html", status=404)
    values, categories = await _submitted(request)
    result = promotion_body(values, categories)
    sent = await send_form(
        request, api, who, result, method="PATCH",
        url=path("admin", "promotions", promotion_id), explain_problem=_feedback,
    )  # fmt: skip
    if not sent.ok:
        return await _form_page(
            request, api, values=values, promotion=promotion, feedback=sent.feedback,
            status=sent.status,
        )  # fmt: skip
    get_session(request).flash(f"Saved the promotion {result.body['name']}.")
    return RedirectResponse("/admin/promotions", status_code=303)


@router.post("/{promotion_id}/delete", response_class=HTMLResponse)
async def delete_promotion(
    request: Request, promotion_id: str, who: AdminDep, api: ApiDep
) -> Response:
    """Delete the promotion (orders placed keep the discount they were given)."""
    return await delete_and_go_back(
        request,
        api,
        who,
        path("admin", "promotions", promotion_id),
        back="/admin/promotions",
        done="The promotion is deleted.",
    )
