"""What the admin's pages share: the API dependency, the currencies priced in, problem
status, pagination links, a form's own messages as ``Feedback``, and the items of a listing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import URL

from emporium.kit.app import get_resources
from emporium.storefront.admin.forms import FormResult
from emporium.storefront.api import Api, ApiProblem, get_api
from emporium.storefront.auth import SignedIn, client_ip
from emporium.storefront.problems import Feedback, explain
from emporium.storefront.session import get_session
from emporium.storefront.settings import Settings

__all__ = [
    "ApiDep",
    "Sent",
    "currencies",
    "delete_and_go_back",
    "feedback_of",
    "form_values",
    "items_of",
    "next_page_url",
    "problem_status",
    "send_form",
]

ApiDep = Annotated[Api, Depends(get_api)]


def currencies(request: Request) -> list[str]:
    """The currencies the admin prices in, the base first (``STOREFRONT_CURRENCIES``)."""
    settings = get_resources(request).settings
    assert isinstance(settings, Settings)
    return settings.currency_list


def problem_status(problem: ApiProblem) -> int:
    """The status of a page that shows the form again with ``problem`` explained.

    A 4xx of the API is the person's to fix (kept as it is); anything else means the shop
    itself failed them (503).
    """
    return problem.status if 400 <= problem.status < 500 else 503


def next_page_url(url: URL, cursor: str | None) -> str | None:
    """This listing's URL with ``cursor`` (None on the last page)."""
    if not cursor:
        return None
    moved = url.include_query_params(cursor=cursor)
    return f"{moved.path}?{moved.query}"


def feedback_of(result: FormResult) -> Feedback:
    """A form's own messages (before anything was sent) as the page's ``Feedback``."""
    feedback = Feedback()
    for name, message in result.errors.items():
        feedback.add(name, message)
    return feedback


def items_of(answer: Any) -> list[dict[str, Any]]:
    """The items of a listing, whether the API answers a list or a page of ``items``."""
    found = answer.get("items", []) if isinstance(answer, dict) else answer
    return [item for item in found or [] if isinstance(item, dict)]


async def delete_and_go_back(
    request: Request, api: Api, who: SignedIn, url: str, *, back: str, done: str
) -> Response:
    """``DELETE url`` of the API, then back to ``back`` with ``done`` (or why it failed).

    A 404 is what was asked for (deleted already, in another tab): it says ``done`` too.
    """
    session = get_session(request)
    try:
        await api.call("DELETE", url, token=who.token, client_ip=client_ip(request))
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        if problem.status != 404:
            session.flash(explain(problem).form or "That could not be deleted.", "error")
            return RedirectResponse(back, status_code=303)
    session.flash(done)
    return RedirectResponse(back, status_code=303)


async def form_values(request: Request) -> dict[str, Any]:
    """The posted form's text fields, trimmed."""
    form = await request.form()
    return {k: v.strip() for k, v in form.items() if isinstance(v, str)}


@dataclass
class Sent:
    """A form's change sent to the API: its answer, or why it was not taken."""

    feedback: Feedback  # empty: the API took it
    status: int
    answer: Any = None

    @property
    def ok(self) -> bool:
        return not self.feedback


async def send_form(
    request: Request,
    api: Api,
    who: SignedIn,
    result: FormResult,
    *,
    method: str,
    url: str,
    explain_problem: Callable[[ApiProblem], Feedback],
) -> Sent:
    """``result``'s body sent (``method url``) unless the form's own check stopped it (422);
    the API's refusal put in words by ``explain_problem`` for the fields of the form."""
    if not result.ok:
        return Sent(feedback_of(result), 422)
    try:
        answer = await api.json(
            method, url, token=who.token, client_ip=client_ip(request), json=result.body
        )
    except ApiProblem as problem:
        return Sent(explain_problem(problem), problem_status(problem))
    return Sent(Feedback(), 200, answer)
