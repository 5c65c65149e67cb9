"""``/admin/orders``: every order by status, one order, shipping it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from emporium.storefront.admin.common import ApiDep, next_page_url, problem_status
from emporium.storefront.admin.forms import ORDER_STATUSES
from emporium.storefront.api import Api, ApiProblem, path
from emporium.storefront.auth import AdminDep, SignedIn, client_ip
from emporium.storefront.problems import Feedback, explain
from emporium.storefront.session import get_session
from emporium.storefront.web import render

__all__ = ["router"]

router = APIRouter(prefix="/orders")
_PAGE = 20


@router.get("", response_class=HTMLResponse)
async def order_list(
    request: Request,
    who: AdminDep,
    api: ApiDep,
    status: str = "",
    cursor: str | None = None,
) -> HTMLResponse:
    """Orders, newest first; ``status`` shows one status only (an unknown one: all)."""
    chosen = status if status in ORDER_STATUSES else ""
    params: dict[str, str | int] = {"limit": _PAGE}
    if chosen:
        params["status"] = chosen
    if cursor:
        params["cursor"] = cursor
    page = await api.json(
        "GET", "/admin/orders", token=who.token, client_ip=client_ip(request), params=params
    )
    return render(
        request,
        "admin/orders.html",
        {
            "orders": page.get("items", []),
            "status": chosen,
            "statuses": ORDER_STATUSES,
            "next_url": next_page_url(request.url, page.get("next_cursor")),
            "first_url": f"/admin/orders?status={chosen}" if cursor else None,
        },
    )


async def _order_page(
    request: Request,
    api: Api,
    who: SignedIn,
    order_id: str,
    *,
    feedback: Feedback | None = None,
    status: int = 200,
) -> HTMLResponse:
    ip = client_ip(request)
    order: dict[str, Any] = await api.json(
        "GET", path("admin", "orders", order_id), token=who.token, client_ip=ip
    )
    customer: dict[str, Any] | None = None
    try:
        customer = await api.json(
            "GET", path("admin", "customers", order["customer_id"]), token=who.token, client_ip=ip
        )
    except ApiProblem as problem:
        if problem.status != 404:  # a deleted customer: the order stays
            raise
    return render(
        request,
        "admin/order.html",
        {"order": order, "customer": customer, "ship_feedback": feedback or Feedback()},
        status=status,
    )


@router.get("/{order_id}", response_class=HTMLResponse)
async def order_detail(request: Request, order_id: str, who: AdminDep, api: ApiDep) -> HTMLResponse:
    """One order: lines, address, its history and, once confirmed, the ship button."""
    return await _order_page(request, api, who, order_id)


@router.post("/{order_id}/ship", response_class=HTMLResponse)
async def ship_order(request: Request, order_id: str, who: AdminDep, api: ApiDep) -> Response:
    """Ship a confirmed order (the shopper's open order page turns ``shipped``)."""
    try:
        await api.call(
            "POST",
            path("admin", "orders", order_id, "ship"),
            token=who.token,
            client_ip=client_ip(request),
        )
    except ApiProblem as problem:
        if problem.status == 404:
            raise
        feedback = explain(problem, ())
        return await _order_page(
            request, api, who, order_id, feedback=feedback, status=problem_status(problem)
        )
    get_session(request).flash("Order shipped: the customer sees it at once.")
    return RedirectResponse(f"/admin/orders/{order_id}", status_code=303)
