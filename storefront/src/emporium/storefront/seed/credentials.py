"""Whose accounts the seed uses: the admin (to fill the catalog, ship) and the demo customer.

In development (``EMPORIUM_ENVIRONMENT`` unset or ``dev``, and a gateway on loopback) the
documented defaults apply unless the environment names others: the bootstrap admin of
``make dev``/``make up`` and a demo customer. Anywhere else both passwords must come from
the environment, and a published default is refused: a shop on the internet must never get
an account whose password is printed in our README.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "DEV_ADMIN",
    "DEV_DEMO",
    "Account",
    "Credentials",
    "MissingCredentials",
    "credentials_from_env",
]


@dataclass(frozen=True)
class Account:
    email: str
    password: str


@dataclass(frozen=True)
class Credentials:
    admin: Account
    demo: Account


#: Published (README): only ever used in dev on loopback.
DEV_ADMIN = Account("admin@emporium.local", "emporium-admin")
DEV_DEMO = Account("demo@emporium.local", "emporium-demo")


class MissingCredentials(RuntimeError):
    """Outside dev, a password is missing or is one of the published defaults."""


def _loopback(gateway_url: str) -> bool:
    host = urlsplit(gateway_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def credentials_from_env(gateway_url: str, env: Mapping[str, str] | None = None) -> Credentials:
    """The seed's accounts from ``EMPORIUM_ADMIN_*`` and ``EMPORIUM_DEMO_*``."""
    env = os.environ if env is None else env
    dev = env.get("EMPORIUM_ENVIRONMENT", "dev") == "dev" and _loopback(gateway_url)
    accounts = []
    for kind, default in (("ADMIN", DEV_ADMIN), ("DEMO", DEV_DEMO)):
        email = env.get(f"EMPORIUM_{kind}_EMAIL") or default.email
        password = env.get(f"EMPORIUM_{kind}_PASSWORD") or ""
        if not password:
            if not dev:
                raise MissingCredentials(
                    f"set EMPORIUM_{kind}_PASSWORD: outside dev on loopback the seed has no "
                    "default password"
                )
            password = default.password
        elif not dev and password in (DEV_ADMIN.password, DEV_DEMO.password):
            raise MissingCredentials(
                f"EMPORIUM_{kind}_PASSWORD is a published default: choose another outside dev"
            )
        accounts.append(Account(email, password))
    return Credentials(admin=accounts[0], demo=accounts[1])
