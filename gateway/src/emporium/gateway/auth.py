"""Who is calling, and may they call this route (401 / 403 before anything is proxied).

The token is verified here with the kit's ``TokenVerifier`` (the customers JWKS, cached and
refetched on an unknown ``kid``; the shared denylist of revoked tokens) and forwarded as
it came: the services verify it again and read the identity from it.
"""

from __future__ import annotations

from starlette.datastructures import Headers

from emporium.gateway.routes import Route
from emporium.kit.auth import Principal, TokenVerifier
from emporium.kit.errors import Forbidden, ServiceUnavailable, Unauthorized

__all__ = ["authorize", "bearer_token"]


def bearer_token(headers: Headers) -> str | None:
    """The token of ``Authorization: Bearer <token>``, or None."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


async def authorize(route: Route, headers: Headers, verifier: TokenVerifier) -> Principal | None:
    """The verified caller (None: anonymous); raises 401/403 when ``route`` refuses them."""
    token = bearer_token(headers)
    if route.auth == "anonymous":
        if token is None:
            return None
        try:
            return await verifier.verify(token)
        except (Unauthorized, ServiceUnavailable):
            # Not ours to refuse (the service judges a public call's token), nor a reason
            # to fail a public call while the signing keys cannot be fetched.
            return None
    if token is None:
        raise Unauthorized("sign in: this call needs an access token (Authorization: Bearer)")
    principal = await verifier.verify(token)
    if route.auth == "admin" and not principal.is_admin:
        raise Forbidden("this call is for admins only")
    return principal
