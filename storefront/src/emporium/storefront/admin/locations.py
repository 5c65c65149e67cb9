"""``/admin/locations``: the stock locations (warehouses) in the order they ship from, and
a new one (code, name, priority: lower ships first)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from emporium.storefront.admin.common import ApiDep, form_values, items_of, send_form
from emporium.storefront.admin.variant_forms import location_body
from emporium.storefront.api import Api
from emporium.storefront.auth import AdminDep, SignedIn, client_ip
from emporium.storefront.problems import Feedback, explain
from emporium.storefront.session import get_session
from emporium.storefront.web import render

__all__ = ["router"]

router = APIRouter(prefix="/locations")

FIELDS = ("code", "name", "priority")


async def _page(
    request: Request,
    api: Api,
    who: SignedIn,
    *,
    values: dict[str, Any] | None = None,
    feedback: Feedback | None = None,
    status: int = 200,
) -> HTMLResponse:
    found = await api.json("GET", "/admin/locations", token=who.token, client_ip=client_ip(request))
    locations = sorted(items_of(found), key=lambda x: (int(x["priority"]), str(x["code"])))
    return render(
        request,
        "admin/locations.html",
        {
            "locations": locations,
            "values": values or {"priority": "1"},
            "location_feedback": feedback or Feedback(),
        },
        status=status,
    )


@router.get("", response_class=HTMLResponse)
async def location_list(request: Request, who: AdminDep, api: ApiDep) -> HTMLResponse:
    """Every stock location, the first to ship from first."""
    return await _page(request, api, who)


@router.post("", response_class=HTMLResponse)
async def create_location(request: Request, who: AdminDep, api: ApiDep) -> Response:
    """Add a stock location."""
    values = await form_values(request)
    sent = await send_form(
        request, api, who, location_body(values), method="POST", url="/admin/locations",
        explain_problem=lambda problem: explain(problem, FIELDS),
    )  # fmt: skip
    if not sent.ok:
        return await _page(
            request, api, who, values=values, feedback=sent.feedback, status=sent.status
        )
    get_session(request).flash(f"Added the location {sent.answer['name']} ({sent.answer['code']}).")
    return RedirectResponse("/admin/locations", status_code=303)
