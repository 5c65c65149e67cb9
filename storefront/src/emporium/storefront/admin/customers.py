"""``/admin/customers``: search, one customer with their orders, disable, change role."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from emporium.storefront.admin.common import ApiDep, next_page_url, problem_status
from emporium.storefront.admin.forms import customer_update, own_account_change
from emporium.storefront.api import Api, ApiProblem, path
from emporium.storefront.auth import AdminDep, SignedIn, client_ip
from emporium.storefront.problems import Feedback, explain
from emporium.storefront.session import get_session
from emporium.storefront.web import render

__all__ = ["router"]

router = APIRouter(prefix="/customers")
_PAGE = 20


@router.get("", response_class=HTMLResponse)
async def customer_list(
    request: Request, who: AdminDep, api: ApiDep, q: str = "", cursor: str | None = None
) -> HTMLResponse:
    """Customers, or those whose email or name contains ``q``."""
    params: dict[str, str | int] = {"limit": _PAGE}
    if q.strip():
        params["q"] = q.strip()[:200]
    if cursor:
        params["cursor"] = cursor
    page = await api.json(
        "GET", "/admin/customers", token=who.token, client_ip=client_ip(request), params=params
    )
    return render(
        request,
        "admin/customers.html",
        {
            "customers": page.get("items", []),
            "q": q,
            "next_url": next_page_url(request.url, page.get("next_cursor")),
            "first_url": "/admin/customers" if cursor else None,
        },
    )


async def _customer_page(
    request: Request,
    api: Api,
    who: SignedIn,
    customer_id: str,
    *,
    feedback: Feedback | None = None,
    status: int = 200,
) -> HTMLResponse:
    ip = client_ip(request)
    customer: dict[str, Any] = await api.json(
        "GET", path("admin", "customers", customer_id), token=who.token, client_ip=ip
    )
    orders = await api.json(
        "GET",
        "/admin/orders",
        token=who.token,
        client_ip=ip,
        params={"customer_id": customer_id, "limit": 20},
    )
    return render(
        request,
        "admin/customer.html",
        {
            "customer": customer,
            "orders": orders.get("items", []),
            "more_orders": bool(orders.get("next_cursor")),
            "is_self": customer["id"] == who.customer.id,
            "change_feedback": feedback or Feedback(),
        },
        status=status,
    )


@router.get("/{customer_id}", response_class=HTMLResponse)
async def customer_detail(
    request: Request, customer_id: str, who: AdminDep, api: ApiDep
) -> HTMLResponse:
    """One customer: profile, role, whether disabled, their orders."""
    return await _customer_page(request, api, who, customer_id)


@router.post("/{customer_id}", response_class=HTMLResponse)
async def change_customer(
    request: Request, customer_id: str, who: AdminDep, api: ApiDep
) -> Response:
    """Change the role or disable / enable the account."""
    values = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    result = customer_update(values)
    refusal = own_account_change(result.body, own=customer_id == who.customer.id)
    if refusal:
        result.errors.setdefault(next(iter(result.body), "role"), refusal)
    if not result.ok:
        feedback = Feedback()
        for name, message in result.errors.items():
            feedback.add(name, message)
        return await _customer_page(request, api, who, customer_id, feedback=feedback, status=422)
    try:
        changed = await api.json(
            "PATCH",
            path("admin", "customers", customer_id),
            token=who.token,
            client_ip=client_ip(request),
            json=result.body,
        )
    except ApiProblem as problem:
        if problem.status == 404:
            raise
        return await _customer_page(
            request, api, who, customer_id,
            feedback=explain(problem, ("role", "disabled")), status=problem_status(problem),
        )  # fmt: skip
    if "disabled" in result.body:
        done = "disabled: they cannot sign in" if changed["disabled"] else "enabled again"
        message = f"{changed['email']} is {done}."
    else:
        role = "an admin" if changed["role"] == "admin" else "a customer"
        message = f"{changed['email']} is now {role}."
    get_session(request).flash(message)
    return RedirectResponse(f"/admin/customers/{customer_id}", status_code=303)
