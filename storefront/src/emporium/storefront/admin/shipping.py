"""``/admin/shipping-zones``: the zones (countries and their rates), a new one, deleting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from emporium.storefront.admin.common import (
    ApiDep,
    delete_and_go_back,
    form_values,
    items_of,
    send_form,
)
from emporium.storefront.admin.pricing_forms import RATE_ROWS, ZONE_FIELDS, rate_field, zone_body
from emporium.storefront.api import Api, ApiProblem, path
from emporium.storefront.auth import AdminDep, SignedIn, client_ip
from emporium.storefront.problems import Feedback, explain, plain_field_message
from emporium.storefront.session import get_session
from emporium.storefront.web import render

__all__ = ["router", "zone_feedback"]

router = APIRouter(prefix="/shipping-zones")


def zone_feedback(problem: ApiProblem, rows: Sequence[int]) -> Feedback:
    """The API's problems with a zone beside the fields, a rate's beside its own row."""
    feedback = Feedback()
    rest: list[dict[str, Any]] = []
    for error in problem.errors:
        name = rate_field(str(error.get("field", "")), rows)
        if name is None:
            rest.append(error)
        else:
            feedback.add(name, plain_field_message(str(error.get("message", ""))))
    if rest or not problem.errors:
        others = ApiProblem(problem.status, type=problem.type, detail=problem.detail, errors=rest)
        for name, message in explain(others, ZONE_FIELDS).messages.items():
            feedback.add(name, message)
    return feedback


async def _page(
    request: Request,
    api: Api,
    who: SignedIn,
    *,
    values: dict[str, str] | None = None,
    feedback: Feedback | None = None,
    status: int = 200,
) -> HTMLResponse:
    zones = await api.json(
        "GET", "/admin/shipping-zones", token=who.token, client_ip=client_ip(request)
    )
    return render(
        request,
        "admin/shipping_zones.html",
        {
            "zones": items_of(zones),
            "values": values or {f"rate-{i}-currency": "EUR" for i in range(RATE_ROWS)},
            "rate_rows": range(RATE_ROWS),
            "form_feedback": feedback or Feedback(),
        },
        status=status,
    )


@router.get("", response_class=HTMLResponse)
async def zone_list(request: Request, who: AdminDep, api: ApiDep) -> HTMLResponse:
    """The shipping zones with their rates, and the form of a new one."""
    return await _page(request, api, who)


@router.post("", response_class=HTMLResponse)
async def create_zone(request: Request, who: AdminDep, api: ApiDep) -> Response:
    """Create a zone with its rates."""
    values = await form_values(request)
    result, rows = zone_body(values)
    sent = await send_form(
        request, api, who, result, method="POST", url="/admin/shipping-zones",
        explain_problem=lambda problem: zone_feedback(problem, rows),
    )  # fmt: skip
    if not sent.ok:
        return await _page(
            request, api, who, values=values, feedback=sent.feedback, status=sent.status
        )
    get_session(request).flash(f"Created the shipping zone {result.body['name']}.")
    return RedirectResponse("/admin/shipping-zones", status_code=303)


@router.post("/{zone_id}/delete", response_class=HTMLResponse)
async def delete_zone(request: Request, zone_id: str, who: AdminDep, api: ApiDep) -> Response:
    """Delete a zone and its rates (orders placed keep the shipping they were charged)."""
    return await delete_and_go_back(
        request,
        api,
        who,
        path("admin", "shipping-zones", zone_id),
        back="/admin/shipping-zones",
        done="The shipping zone is deleted.",
    )
