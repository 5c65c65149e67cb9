"""Rendering pages: the Jinja2 environment, its helpers, and ``render``.

Every page extends ``base.html`` and gets, besides its own context: ``viewer`` (the
signed-in ``Customer`` or None), ``csrf_token`` and ``csrf_field()`` (the hidden input
every form carries), ``flashes`` (one-shot messages), ``static(path)`` (a URL under
``/static/``), ``money(m)`` ({amount, currency} as ``€12.50``; ``minor(1250, "EUR")`` the
same), ``feedback`` (a ``Feedback`` of API problems, empty by default), and the price
breakdown's words (``breakdown_rows``, ``notice_message``, ``option_label``,
``rate_percent``, ``tax_note``: ``breakdown.py``), and a variant's words
(``options_label``: ``Size M, Colour red``; ``option_query``: its product page's query).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from emporium.storefront.auth import Customer
from emporium.storefront.breakdown import (
    breakdown_rows,
    notice_message,
    option_label,
    rate_percent,
    tax_note,
)
from emporium.storefront.csrf import FIELD
from emporium.storefront.problems import Feedback
from emporium.storefront.session import get_session
from emporium.storefront.variants import option_query, options_label

__all__ = ["STATIC_DIR", "TEMPLATE_DIR", "environment", "minor", "money", "render"]

PACKAGE = Path(__file__).parent
TEMPLATE_DIR = PACKAGE / "templates"
STATIC_DIR = PACKAGE / "static"
_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}


def money(value: Any) -> str:
    """``{"amount": 1250, "currency": "EUR"}`` as ``€12.50`` (``""`` for None)."""
    if not isinstance(value, dict) or value.get("amount") is None:
        return ""
    amount = Decimal(int(value["amount"])) / 100
    currency = str(value.get("currency") or "")
    symbol = _SYMBOLS.get(currency)
    text = f"{amount:,.2f}"
    return f"{symbol}{text}" if symbol else f"{text} {currency}".strip()


def minor(amount: Any, currency: str = "EUR") -> str:
    """Minor units of ``currency`` (or an {amount, currency}) as ``money`` shows them."""
    if isinstance(amount, dict):
        return money(amount)
    return "" if amount is None else money({"amount": int(amount), "currency": currency})


def environment(template_dirs: list[Path] | None = None) -> Environment:
    """The Jinja2 environment (autoescaping on: every value is escaped unless marked)."""
    env = Environment(
        loader=FileSystemLoader([str(p) for p in (template_dirs or [TEMPLATE_DIR])]),
        autoescape=select_autoescape(["html", "xml"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = money
    env.globals["money"] = money
    env.globals["static"] = lambda name: "/static/" + str(name).lstrip("/")
    env.globals["minor"] = minor
    env.globals["breakdown_rows"] = breakdown_rows
    env.globals["notice_message"] = notice_message
    env.globals["rate_percent"] = rate_percent
    env.globals["tax_note"] = tax_note
    env.globals["option_label"] = lambda option: option_label(option, money)
    env.globals["options_label"] = options_label
    env.globals["option_query"] = option_query
    return env


# The admin's templates live beside its code (``admin/templates/admin/*.html``).
_ENV = environment([TEMPLATE_DIR, PACKAGE / "admin" / "templates"])


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """``template`` rendered with the common context (see the module) and ``context``."""
    session = get_session(request)
    token = session.csrf_token
    viewer = Customer.from_session(session.customer) if session.tokens is not None else None
    values: dict[str, Any] = {
        "request": request,
        "viewer": viewer,
        "csrf_token": token,
        "csrf_field": lambda: Markup(
            f'<input type="hidden" name="{FIELD}" value="{escape(token)}">'
        ),
        "feedback": Feedback(),
        "cart_count": session.get("cart_count") or 0,
        "path": request.url.path,
    }
    values.update(context or {})
    values["flashes"] = session.pop_flashes()
    html = _ENV.get_template(template).render(values)
    sent = {"Cache-Control": "private, no-store", **(headers or {})}
    return HTMLResponse(html, status_code=status, headers=sent)
