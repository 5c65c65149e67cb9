"""API problems in plain words, placed next to the field or action that caused them.

Pure functions, no I/O: ``explain(problem, fields)`` gives a ``Feedback`` with one message
per form field the API named (``errors[].field`` = ``body.email`` -> ``email``) and one for
the form as a whole (an action that failed, a field the form does not show). Known problem
kinds (``email-taken``, ``invalid-credentials``, ``empty-cart``...) get a sentence written
for a shopper; an unknown one falls back to the API's own ``detail``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from emporium.storefront.api import ApiProblem

__all__ = ["FORM", "Feedback", "explain", "plain_field_message"]

#: The key of the message about the whole form (or action) rather than one field.
FORM = "_form"

_UNAVAILABLE = "The shop cannot reach that part of itself right now. Please try again in a moment."
# kind -> (field it is about, or FORM; the message)
_KNOWN: dict[str, tuple[str, str]] = {
    "email-taken": ("email", "An account with this email already exists. Sign in instead."),
    "invalid-credentials": (FORM, "The email or password is not right."),
    "sign-in-locked": (FORM, "Too many failed sign-ins. Wait a few minutes, then try again."),
    "too-many-requests": (
        FORM,
        "That was a lot of requests at once. Wait a moment, then try again.",
    ),
    "product-not-found": (FORM, "This product is no longer available."),
    "order-not-found": (FORM, "There is no such order in your account."),
    "address-not-found": (FORM, "That address no longer exists. Choose another one."),
    "customer-not-found": (FORM, "There is no such customer."),
    "category-not-found": ("category_id", "There is no such category."),
    "empty-cart": (FORM, "Your cart is empty: add a product before checking out."),
    "cart-not-orderable": (
        FORM,
        "Some products in your cart can no longer be ordered. Remove them and try again.",
    ),
    "illegal-status-change": (FORM, "That is no longer possible for this order."),
    "idempotency-key-reused": (
        FORM,
        "This checkout was already sent with other details. Reload the page and try again.",
    ),
    "refresh-token-reused": (FORM, "Your session has ended. Please sign in again."),
    "unauthorized": (FORM, "Your session has ended. Please sign in again."),
    "forbidden": (FORM, "You are not allowed to do that."),
    "duplicate-sku": ("sku", "Another product already has this SKU."),
    "duplicate-slug": ("slug", "Another category already has this slug."),
    "duplicate-option-combination": ("options", "Another variant already has these options."),
    "invalid-options": ("options", "These options are not accepted"),
    "last-variant": (FORM, "A product keeps at least one variant: this is its last one."),
    "too-many-variants": (FORM, "This product has as many variants as a product can have."),
    "variant-not-found": (FORM, "This variant is no longer sold."),
    "duplicate-location": ("code", "Another stock location already has this code."),
    "location-not-found": (FORM, "There is no such stock location."),
    "variant-required": (FORM, "Choose the size, colour or other options first."),
    "cart-currency-fixed": (
        FORM,
        "Your cart is in another currency: finish or empty it before buying in this one.",
    ),
    "not-sold-in-currency": (
        FORM,
        "This product is not sold in your cart's currency. Choose another product or "
        "empty the cart first.",
    ),
    "unsupported-image": ("file", "That file is not a JPEG, PNG or WebP image."),
    "image-too-large": ("file", "That image is too large."),
    "content-too-large": ("file", "That file is too large."),
    "stock-below-reserved": (
        "on_hand",
        "Stock on hand cannot go below what open orders have reserved.",
    ),
    "invalid-cursor": (FORM, "That page of results no longer exists. Start from the first page."),
    "bad-cursor": (FORM, "That page of results no longer exists. Start from the first page."),
    "unreachable": (FORM, _UNAVAILABLE),
    "upstream-unavailable": (FORM, _UNAVAILABLE),
    "upstream-timeout": (FORM, _UNAVAILABLE),
    "upstream-busy": (FORM, _UNAVAILABLE),
    "service-unavailable": (FORM, _UNAVAILABLE),
    "dependency-unavailable": (FORM, _UNAVAILABLE),
    "bad-gateway": (FORM, _UNAVAILABLE),
}

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^Field required", re.I), "This field is required."),
    (re.compile(r"at least (\d+) characters?", re.I), "Use at least {0} characters."),
    (re.compile(r"at most (\d+) characters?", re.I), "Use at most {0} characters."),
    (re.compile(r"email", re.I), "Enter an email address, like name@example.com."),
    (re.compile(r"greater than or equal to (\d+)", re.I), "Enter {0} or more."),
    (re.compile(r"less than or equal to (\d+)", re.I), "Enter {0} or less."),
    (re.compile(r"valid integer", re.I), "Enter a whole number."),
    (re.compile(r"country|ISO 3166", re.I), "Choose a country from the list."),
)


@dataclass
class Feedback:
    """Messages by form field, and ``FORM`` for the form as a whole."""

    messages: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.messages)

    def get(self, name: str) -> str | None:
        return self.messages.get(name)

    @property
    def form(self) -> str | None:
        return self.messages.get(FORM)

    def add(self, name: str, message: str) -> None:
        # The first message about a field is kept: it is usually the one to fix first.
        self.messages.setdefault(name, message)


def plain_field_message(message: str) -> str:
    """A validation message (pydantic's wording) as a short sentence for a person."""
    for pattern, plain in _RULES:
        found = pattern.search(message)
        if found:
            return plain.format(*found.groups())
    text = message.strip().removeprefix("Value error, ").strip() or "This value is not accepted."
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _field_name(location: str) -> str:
    # "body.shipping_address.postal_code" -> "postal_code"; "query.q" -> "q"
    parts = [p for p in location.split(".") if p and not p.isdigit()]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return parts[-1] if parts else FORM


def explain(problem: ApiProblem, fields: Iterable[str] = ()) -> Feedback:
    """``problem`` in plain words: per field of ``fields`` the form shows, else for the form."""
    shown = set(fields)
    feedback = Feedback()

    def put(name: str, message: str) -> None:
        feedback.add(name if name in shown else FORM, message)

    known = _KNOWN.get(problem.kind)
    if known is not None:
        name, message = known
        if problem.kind in ("illegal-status-change", "invalid-options") and problem.detail:
            message = f"{message} ({problem.detail})"
        if problem.kind == "invalid-options":
            message += "."
        put(name, message)
        return feedback
    if problem.errors:
        for error in problem.errors:
            name = _field_name(str(error.get("field", "")))
            put(name, plain_field_message(str(error.get("message", ""))))
        return feedback
    if problem.status >= 500:
        put(FORM, _UNAVAILABLE)
    elif problem.detail:
        put(FORM, plain_field_message(problem.detail))
    else:
        put(FORM, "That did not work. Please try again.")
    return feedback
