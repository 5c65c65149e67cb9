"""``/admin/``: where the work is (orders waiting to ship) and the way to each section."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from emporium.storefront.admin.common import ApiDep
from emporium.storefront.auth import AdminDep, client_ip
from emporium.storefront.web import render

__all__ = ["router"]

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def dashboard(request: Request, who: AdminDep, api: ApiDep) -> HTMLResponse:
    """The admin's start page."""
    waiting = await api.json(
        "GET",
        "/admin/orders",
        token=who.token,
        client_ip=client_ip(request),
        params={"status": "confirmed", "limit": 100},
    )
    items = waiting.get("items", [])
    count = f"{len(items)}+" if waiting.get("next_cursor") else str(len(items))
    return render(request, "admin/dashboard.html", {"to_ship": count, "recent": items[:5]})
