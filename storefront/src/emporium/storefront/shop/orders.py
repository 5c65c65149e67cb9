"""Orders: history, one order (its status live), cancelling, and the event relay."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from emporium.storefront.api import Api, ApiProblem, get_api, path
from emporium.storefront.auth import ShopperDep, client_ip
from emporium.storefront.problems import explain
from emporium.storefront.session import get_session
from emporium.storefront.web import render

__all__ = ["router"]

log = logging.getLogger("emporium.storefront.orders")
router = APIRouter()
ApiDep = Annotated[Api, Depends(get_api)]


def _not_found(request: Request) -> Response:
    return render(request, "errors/not_found.html", status=404)


@router.get("/orders", response_class=HTMLResponse)
async def order_history(request: Request, api: ApiDep, who: ShopperDep) -> Response:
    """The customer's orders, newest first, a page at a time."""
    cursor = request.query_params.get("cursor", "")[:2048]
    params: dict[str, str | int] = {"limit": 20}
    if cursor:
        params["cursor"] = cursor
    try:
        page = await api.json(
            "GET", "/orders", params=params, token=who.token, client_ip=client_ip(request)
        )
    except ApiProblem as problem:
        if problem.status not in (400, 422):
            raise
        return RedirectResponse("/orders", status_code=303)  # a stale cursor: page one
    return render(
        request,
        "shop/orders.html",
        {"orders": page.get("items", []), "next_cursor": page.get("next_cursor"), "cursor": cursor},
    )


@router.get("/orders/{order_id}", response_class=HTMLResponse)
async def order_page(order_id: str, request: Request, api: ApiDep, who: ShopperDep) -> Response:
    """One order; its status follows the order's event stream (``/orders/{id}/events``)."""
    try:
        order = await api.json(
            "GET", path("orders", order_id), token=who.token, client_ip=client_ip(request)
        )
    except ApiProblem as problem:
        if problem.status in (400, 404, 422):
            return _not_found(request)
        raise
    return render(request, "shop/order.html", {"order": order})


@router.post("/orders/{order_id}/cancel")
async def cancel_order(order_id: str, request: Request, api: ApiDep, who: ShopperDep) -> Response:
    """Cancel the order (refused once it has shipped)."""
    session = get_session(request)
    try:
        await api.call(
            "POST",
            path("orders", order_id, "cancel"),
            token=who.token,
            client_ip=client_ip(request),
        )
    except ApiProblem as problem:
        if problem.status in (400, 422):
            return _not_found(request)
        if problem.status >= 500:
            raise
        session.flash(explain(problem).form or "The order could not be cancelled.", "error")
    else:
        session.flash("Your order is cancelled.")
    return RedirectResponse(f"/orders/{order_id}", status_code=303)


@router.get("/orders/{order_id}/events")
async def order_events(order_id: str, request: Request, api: ApiDep, who: ShopperDep) -> Response:
    """The order's status changes as server-sent events, relayed from the API: the token
    stays here, the browser's ``EventSource`` only has its session cookie."""
    stack = contextlib.AsyncExitStack()
    last = request.headers.get("last-event-id", "").strip()
    try:
        answer = await stack.enter_async_context(
            api.stream(
                path("orders", order_id, "events"),
                token=who.token,
                client_ip=client_ip(request),
                last_event_id=last if last.isdigit() else None,
            )
        )
    except ApiProblem as problem:
        await stack.aclose()
        if problem.status in (400, 404, 422):
            return Response(status_code=404)
        # 429 (too many streams) and the rest: the browser's EventSource retries later.
        return Response(status_code=problem.status if problem.status < 600 else 503)

    async def relay() -> AsyncIterator[bytes]:
        try:
            async for chunk in answer.aiter_raw():
                yield chunk
        except Exception as error:  # the API ended the stream: the browser reconnects
            log.info("order event relay ended: %s", type(error).__name__)
        finally:
            await stack.aclose()

    return StreamingResponse(
        relay(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
