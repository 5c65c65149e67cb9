"""``/admin/products/{id}/...``: a product's options, its variants (SKU, options, a price
per currency, weight) and each variant's stock per location."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from emporium.storefront.admin.common import (
    ApiDep,
    currencies,
    feedback_of,
    form_values,
    problem_status,
    send_form,
)
from emporium.storefront.admin.forms import format_amount
from emporium.storefront.admin.products import edit_page, load_product
from emporium.storefront.admin.variant_forms import options_body, stock_changes, variant_body
from emporium.storefront.api import Api, ApiProblem, path
from emporium.storefront.auth import AdminDep, SignedIn, client_ip
from emporium.storefront.problems import FORM, Feedback, explain
from emporium.storefront.session import get_session
from emporium.storefront.variants import variant_of
from emporium.storefront.web import render

__all__ = ["router"]

router = APIRouter(prefix="/products")

VARIANT_FIELDS = ("sku", "options", "weight_grams")
#: The new variant's fields on the product page are ``new_sku``... (ids apart from the
#: product's own ``sku``).
NEW = "new_"
OPTION_FIELDS = tuple(f"option_{kind}_{n}" for kind in ("name", "values") for n in (1, 2, 3))


def _variant_fields(request: Request) -> tuple[str, ...]:
    return (*VARIANT_FIELDS, *(f"price_{c}" for c in currencies(request)))


def prefixed(feedback: Feedback, prefix: str) -> Feedback:
    """``feedback`` about fields named with ``prefix`` (the form's message stays as it is)."""
    out = Feedback()
    for name, message in feedback.messages.items():
        out.add(name if name == FORM else prefix + name, message)
    return out


@router.post("/{product_id}/options", response_class=HTMLResponse)
async def save_options(request: Request, product_id: str, who: AdminDep, api: ApiDep) -> Response:
    """Replace the product's options (names and ordered values)."""
    values = await form_values(request)
    sent = await send_form(
        request, api, who, options_body(values), method="PATCH",
        url=path("admin", "products", product_id),
        explain_problem=lambda problem: explain(problem, OPTION_FIELDS),
    )  # fmt: skip
    if sent.ok:
        get_session(request).flash("Saved the options.")
        return RedirectResponse(f"/admin/products/{product_id}#options", status_code=303)
    feedback, status = sent.feedback, sent.status
    if feedback.get("options"):  # the API's word about the options as a whole
        feedback.add(FORM, feedback.messages.pop("options"))
    product = await load_product(api, request, product_id)
    return await edit_page(
        request, api, product, options_values=values, status=status, options=feedback
    )


@router.post("/{product_id}/variants", response_class=HTMLResponse)
async def create_variant(request: Request, product_id: str, who: AdminDep, api: ApiDep) -> Response:
    """Add a variant to the product."""
    values = await form_values(request)
    product = await load_product(api, request, product_id)
    typed = {k.removeprefix(NEW): v for k, v in values.items() if k.startswith(NEW)}
    result = variant_body(typed, product.get("options") or [], currencies(request))
    sent = await send_form(
        request, api, who, result, method="POST",
        url=path("admin", "products", product_id, "variants"),
        explain_problem=lambda problem: explain(problem, _variant_fields(request)),
    )  # fmt: skip
    if sent.ok:
        get_session(request).flash(f"Added the variant {sent.answer['sku']}. Stock it below.")
        url = f"/admin/products/{product_id}/variants/{sent.answer['id']}#stock"
        return RedirectResponse(url, status_code=303)
    return await edit_page(
        request, api, product, variant_values=values, status=sent.status,
        variant=prefixed(sent.feedback, NEW),
    )  # fmt: skip


async def _prices(api: Api, request: Request, product_id: str, variant_id: str) -> dict[str, str]:
    # The public product answers one currency at a time: one read per currency priced in.
    prices: dict[str, str] = {}
    for currency in currencies(request):
        product = await api.json(
            "GET",
            path("products", product_id),
            params={"currency": currency},
            client_ip=client_ip(request),
        )
        variant = variant_of(product, variant_id) or {}
        if variant.get("price"):
            prices[f"price_{currency}"] = format_amount(
                int(variant["price"]["amount"]), str(variant["price"]["currency"])
            )
    return prices


async def _stock_rows(
    api: Api, request: Request, who: SignedIn, variant_id: str
) -> list[dict[str, Any]]:
    """Every location with the variant's units there (0 where it has none yet)."""
    ip = client_ip(request)
    locations = await api.json("GET", "/admin/locations", token=who.token, client_ip=ip)
    levels = await api.json(
        "GET", path("admin", "variants", variant_id, "stock"), token=who.token, client_ip=ip
    )
    by_code = {str(level["location"]): level for level in levels or []}
    rows = []
    for location in sorted(locations or [], key=lambda x: (int(x["priority"]), str(x["code"]))):
        level = by_code.get(str(location["code"]), {})
        rows.append(
            {
                "code": str(location["code"]),
                "name": str(location["name"]),
                "priority": int(location["priority"]),
                "on_hand": int(level.get("on_hand", 0)),
                "reserved": int(level.get("reserved", 0)),
                "available": int(level.get("available", 0)),
            }
        )
    return rows


async def _variant_page(
    request: Request,
    api: Api,
    who: SignedIn,
    product_id: str,
    variant_id: str,
    *,
    values: dict[str, str] | None = None,
    stock_values: dict[str, str] | None = None,
    status: int = 200,
    **feedback: Feedback,
) -> HTMLResponse:
    product = await load_product(api, request, product_id)
    variant = variant_of(product, variant_id)
    if variant is None:
        return render(request, "errors/not_found.html", {"what": "variant"}, status=404)
    if values is None:
        values = {"sku": str(variant["sku"]), **await _prices(api, request, product_id, variant_id)}
        values.update({f"option.{k}": str(v) for k, v in (variant.get("options") or {}).items()})
    rows = await _stock_rows(api, request, who, variant_id)
    return render(
        request,
        "admin/variant.html",
        {
            "product": product,
            "variant": variant,
            "variant_values": values,
            "stock_values": stock_values or {},
            "stock_rows": rows,
            "total_available": sum(r["available"] for r in rows),
            "currencies": currencies(request),
            "variant_feedback": feedback.get("variant", Feedback()),
            "stock_feedback": feedback.get("stock", Feedback()),
            "delete_feedback": feedback.get("delete", Feedback()),
        },
        status=status,
    )


@router.get("/{product_id}/variants/{variant_id}", response_class=HTMLResponse)
async def variant_page(
    request: Request, product_id: str, variant_id: str, who: AdminDep, api: ApiDep
) -> HTMLResponse:
    """One variant: its SKU, options, prices and weight, and its stock per location."""
    return await _variant_page(request, api, who, product_id, variant_id)


@router.post("/{product_id}/variants/{variant_id}", response_class=HTMLResponse)
async def update_variant(
    request: Request, product_id: str, variant_id: str, who: AdminDep, api: ApiDep
) -> Response:
    """Save the variant's SKU, options, prices (all of them) and weight."""
    values = await form_values(request)
    product = await load_product(api, request, product_id)
    result = variant_body(values, product.get("options") or [], currencies(request), partial=True)
    sent = await send_form(
        request, api, who, result, method="PATCH", url=path("admin", "variants", variant_id),
        explain_problem=lambda problem: explain(problem, _variant_fields(request)),
    )  # fmt: skip
    if sent.ok:
        get_session(request).flash("Saved the variant.")
        url = f"/admin/products/{product_id}/variants/{variant_id}"
        return RedirectResponse(url, status_code=303)
    return await _variant_page(
        request, api, who, product_id, variant_id,
        values=values, status=sent.status, variant=sent.feedback,
    )  # fmt: skip


@router.post("/{product_id}/variants/{variant_id}/stock", response_class=HTMLResponse)
async def set_variant_stock(
    request: Request, product_id: str, variant_id: str, who: AdminDep, api: ApiDep
) -> Response:
    """Set the units on hand at each location whose number was changed."""
    values = await form_values(request)
    rows = await _stock_rows(api, request, who, variant_id)
    result = stock_changes(values, {r["code"]: r["on_hand"] for r in rows})
    feedback, status = feedback_of(result), 422
    if result.ok:
        feedback, status = Feedback(), 200
        for code, on_hand in result.body.items():
            try:
                await api.call(
                    "PUT",
                    path("admin", "variants", variant_id, "stock", code),
                    token=who.token,
                    client_ip=client_ip(request),
                    json={"on_hand": on_hand},
                )
            except ApiProblem as problem:
                # Said beside that location's field; the others were saved already.
                message = explain(problem, ("on_hand",))
                feedback.add(f"on_hand_{code}", message.get("on_hand") or message.form or "")
                status = problem_status(problem)
        if not feedback:
            get_session(request).flash("Saved the stock.")
            url = f"/admin/products/{product_id}/variants/{variant_id}#stock"
            return RedirectResponse(url, status_code=303)
    return await _variant_page(
        request, api, who, product_id, variant_id,
        stock_values=values, status=status, stock=feedback,
    )  # fmt: skip


@router.post("/{product_id}/variants/{variant_id}/delete", response_class=HTMLResponse)
async def delete_variant(
    request: Request, product_id: str, variant_id: str, who: AdminDep, api: ApiDep
) -> Response:
    """Delete the variant (a product keeps its last one)."""
    try:
        await api.call(
            "DELETE",
            path("admin", "variants", variant_id),
            token=who.token,
            client_ip=client_ip(request),
        )
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        if problem.status != 404:
            return await _variant_page(
                request, api, who, product_id, variant_id,
                status=problem_status(problem), delete=explain(problem),
            )  # fmt: skip
    get_session(request).flash("Deleted the variant.")
    return RedirectResponse(f"/admin/products/{product_id}#variants", status_code=303)
