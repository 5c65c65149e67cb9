"""Rendering pages: the Jinja2 environment, its helpers, and ``render``.

Every page extends ``base.html`` and gets, besides its own context: ``viewer`` (the
signed-in ``Customer`` or None), ``csrf_token`` and ``csrf_field()`` (the hidden input
every form carries), ``flashes`` (one-shot messages), ``static(path)`` (a URL under
``/static/``), ``money(m)`` ({amount, currency} as ``€12.50``, ``¥1,200`` or ``1.234 KWD``:
each currency with its own minor units; ``minor(1250, "EUR")`` the same), ``shop_currency`` (the
``Shown`` currency of ``shown_currency``: the header's picker, the pages' "not sold in"),
``feedback`` (a ``Feedback`` of API problems, empty by default), and the price
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

from emporium.contracts.currencies import MINOR_UNITS
from emporium.kit.app import get_resources
from emporium.storefront import currency as currencies
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

__all__ = [
    "STATIC_DIR",
    "TEMPLATE_DIR",
    "environment",
    "minor",
    "money",
    "offered_currencies",
    "render",
    "shown_currency",
    "unit",
]

PACKAGE = Path(__file__).parent
TEMPLATE_DIR = PACKAGE / "templates"
STATIC_DIR = PACKAGE / "static"
_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}


def money(value: Any) -> str:
    """``{"amount": 1250, "currency": "EUR"}`` as ``€12.50`` (``""`` for None). The amount
    is in the currency's minor units (ISO 4217: JPY has none, KWD three); a code the table
    does not know is taken to have two."""
    if not isinstance(value, dict) or value.get("amount") is None:
        return ""
    currency = str(value.get("currency") or "")
    places = MINOR_UNITS.get(currency, 2)
    amount = Decimal(int(value["amount"])).scaleb(-places)
    symbol = _SYMBOLS.get(currency)
    text = f"{amount:,.{places}f}"
    return f"{symbol}{text}" if symbol else f"{text} {currency}".strip()


def unit(currency: str) -> str:
    """How a price field names its currency: its symbol (``€``), else its code (``CHF``)."""
    return _SYMBOLS.get(currency, currency)


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
    env.globals["unit"] = unit
    env.globals["breakdown_rows"] = breakdown_rows
    env.globals["notice_message"] = notice_message
    env.globals["rate_percent"] = rate_percent
    env.globals["tax_note"] = tax_note
    env.globals["option_label"] = lambda option: option_label(option, money)
    env.globals["options_label"] = options_label
    env.globals["option_query"] = option_query
    return env


def offered_currencies(request: Request) -> list[str]:
    """``STOREFRONT_CURRENCIES``, the base first."""
    from emporium.storefront.settings import Settings

    settings = get_resources(request).settings
    assert isinstance(settings, Settings)
    return settings.currency_list


def shown_currency(request: Request) -> currencies.Shown:
    """The currency this visitor's pages show: their cart's while it has lines, else the
    one their cookie picked (checked against ``STOREFRONT_CURRENCIES``), else the base."""
    offered = offered_currencies(request)
    session = get_session(request)
    chosen = currencies.parse_choice(request.cookies.get(currencies.COOKIE), offered)
    held = session.get("cart_currency")
    count = session.get("cart_count")
    return currencies.shown(
        chosen,
        offered,
        held if isinstance(held, str) else None,
        count if isinstance(count, int) else 0,
    )


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
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "shop_currency": shown_currency(request),
    }
    values.update(context or {})
    values["flashes"] = session.pop_flashes()
    html = _ENV.get_template(template).render(values)
    sent = {"Cache-Control": "private, no-store", **(headers or {})}
    return HTMLResponse(html, status_code=status, headers=sent)
