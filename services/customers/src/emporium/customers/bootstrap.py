"""The first admin account, from ``EMPORIUM_ADMIN_EMAIL`` / ``EMPORIUM_ADMIN_PASSWORD``.

Idempotent: an existing admin with that email is left alone (its password is not reset).
An existing *customer* with that email is not promoted: whoever registered it knows its
password, so promoting it would hand them the shop. Outside ``dev`` a missing, default or
weak password refuses to start; in ``dev`` documented defaults are used and printed.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from emporium.customers.admin.service import audit
from emporium.customers.auth import repository
from emporium.customers.auth.schemas import normalise_email
from emporium.customers.auth.service import EmailTaken, create_customer
from emporium.customers.runtime import Accounts
from emporium.kit.app import Resources

__all__ = [
    "DEV_ADMIN_EMAIL",
    "DEV_ADMIN_PASSWORD",
    "WeakAdminPassword",
    "admin_credentials",
    "bootstrap_hook",
    "ensure_admin",
]

log = logging.getLogger(__name__)

DEV_ADMIN_EMAIL = "admin@emporium.local"
DEV_ADMIN_PASSWORD = "emporium-admin"

_MIN_LENGTH = 12
_COMMON = frozenset(
    {
        DEV_ADMIN_PASSWORD,
        "admin",
        "administrator",
        "password",
        "changeme",
        "change-me",
        "letmein",
        "qwertyuiop",
        "123456789012",
        "password1234",
        "adminadmin12",
    }
)


class WeakAdminPassword(RuntimeError):
    """Outside dev, the bootstrap admin's password is missing, a default or too weak."""


def _weak(password: str, email: str) -> bool:
    lowered = password.lower()
    return (
        len(password) < _MIN_LENGTH
        or lowered in _COMMON
        or len(set(password)) < 5
        or email.split("@")[0] in lowered
    )


def admin_credentials(accounts: Accounts) -> tuple[str, str] | None:
    """The bootstrap admin's (email, password), or None when none is configured (not dev)."""
    settings = accounts.settings
    email = settings.admin_email
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    if settings.environment == "dev":
        if not email or not password:
            email, password = email or DEV_ADMIN_EMAIL, password or DEV_ADMIN_PASSWORD
            print(
                f"[customers] dev admin account: {email} / {password} "
                "(set EMPORIUM_ADMIN_EMAIL and EMPORIUM_ADMIN_PASSWORD to choose)",
                flush=True,
            )
        return normalise_email(email), password
    if not email and not password:
        log.warning("no EMPORIUM_ADMIN_EMAIL/EMPORIUM_ADMIN_PASSWORD: no admin account created")
        return None
    if not email or not password:
        raise WeakAdminPassword("set both EMPORIUM_ADMIN_EMAIL and EMPORIUM_ADMIN_PASSWORD")
    email = normalise_email(email)
    if _weak(password, email):
        raise WeakAdminPassword(
            f"EMPORIUM_ADMIN_PASSWORD is a default or too weak: use {_MIN_LENGTH}+ characters, "
            "not a common password and not the email's name"
        )
    return email, password


async def ensure_admin(accounts: Accounts, resources: Resources) -> None:
    """Create the bootstrap admin if it does not exist yet."""
    credentials = admin_credentials(accounts)
    if credentials is None:
        return
    email, password = credentials
    database = resources.require_database()
    try:
        async with database.session() as session:
            existing = await repository.customer_by_email(session, email)
            if existing is not None:
                if existing.role != "admin":
                    log.error("bootstrap admin %s exists as a customer: not promoted", email)
                return
            admin = await create_customer(
                session,
                accounts,
                email=email,
                password=password,
                name="Administrator",
                role="admin",
            )
            await audit(
                session, actor=None, customer_id=admin.id, action="bootstrap-admin", changes={}
            )
            log.info("bootstrap admin account %s created", email)
    except EmailTaken:  # another process of the service created it at the same moment
        return


def bootstrap_hook() -> Callable[[Resources], contextlib.AbstractAsyncContextManager[None]]:
    """Lifespan hook (after ``accounts_hook``): make sure the admin account exists."""

    @contextlib.asynccontextmanager
    async def hook(resources: Resources) -> AsyncIterator[None]:
        await ensure_admin(resources.get(Accounts), resources)
        yield

    return hook
