"""``/admin/tax-rates``: the tax rates by country (and region) and tax class; new; delete."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from emporium.storefront.admin.common import (
    ApiDep,
    delete_and_go_back,
    form_values,
    items_of,
    send_form,
)
from emporium.storefront.admin.pricing_forms import tax_rate_body
from emporium.storefront.api import Api, ApiProblem, path
from emporium.storefront.auth import AdminDep, SignedIn, client_ip
from emporium.storefront.problems import Feedback, explain
from emporium.storefront.session import get_session
from emporium.storefront.shop.address import COUNTRIES
from emporium.storefront.web import render

__all__ = ["router"]

router = APIRouter(prefix="/tax-rates")
TAX_FIELDS = ("country", "region", "tax_class", "rate", "rate_bp", "name")


async def _page(
    request: Request,
    api: Api,
    who: SignedIn,
    *,
    values: dict[str, str] | None = None,
    feedback: Feedback | None = None,
    status: int = 200,
) -> HTMLResponse:
    rates = await api.json("GET", "/admin/tax-rates", token=who.token, client_ip=client_ip(request))
    return render(
        request,
        "admin/tax_rates.html",
        {
            "rates": sorted(
                items_of(rates),
                key=lambda r: (
                    str(r.get("country")),
                    str(r.get("region") or ""),
                    str(r.get("tax_class")),
                ),
            ),
            "countries": sorted(COUNTRIES.items(), key=lambda c: c[1]),
            "values": values or {"tax_class": "standard"},
            "form_feedback": feedback or Feedback(),
        },
        status=status,
    )


def _tax_feedback(problem: ApiProblem) -> Feedback:
    if problem.kind == "duplicate-tax-rate":
        feedback = Feedback()
        feedback.add("country", "This country (and region) has a rate of this tax class already.")
        return feedback
    feedback = explain(problem, TAX_FIELDS)
    if feedback.get("rate_bp"):  # the form asks for percent, the API for basis points
        feedback.add("rate", feedback.messages.pop("rate_bp"))
    return feedback


@router.get("", response_class=HTMLResponse)
async def tax_rate_list(request: Request, who: AdminDep, api: ApiDep) -> HTMLResponse:
    """The tax rates, and the form of a new one."""
    return await _page(request, api, who)


@router.post("", response_class=HTMLResponse)
async def create_tax_rate(request: Request, who: AdminDep, api: ApiDep) -> Response:
    """Create a tax rate."""
    values = await form_values(request)
    sent = await send_form(
        request, api, who, tax_rate_body(values), method="POST", url="/admin/tax-rates",
        explain_problem=_tax_feedback,
    )  # fmt: skip
    if not sent.ok:
        return await _page(
            request, api, who, values=values, feedback=sent.feedback, status=sent.status
        )
    get_session(request).flash(f"Created the tax rate {values.get('name', '')}.")
    return RedirectResponse("/admin/tax-rates", status_code=303)


@router.post("/{rate_id}/delete", response_class=HTMLResponse)
async def delete_tax_rate(request: Request, rate_id: str, who: AdminDep, api: ApiDep) -> Response:
    """Delete a tax rate (orders placed keep the tax they were charged)."""
    return await delete_and_go_back(
        request,
        api,
        who,
        path("admin", "tax-rates", rate_id),
        back="/admin/tax-rates",
        done="The tax rate is deleted.",
    )
