"""FastAPI dependencies: the caller's ``Principal`` from ``Authorization: Bearer``.

A service puts a ``TokenVerifier`` among its resources (``auth_lifespan`` does that from
``AuthSettings``) and declares ``CurrentPrincipal`` / ``AdminPrincipal`` on endpoints.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from emporium.kit.app import Resources, get_resources
from emporium.kit.auth.denylist import shared_denylist
from emporium.kit.auth.keys import KeySource, RemoteJWKS
from emporium.kit.auth.principal import Principal
from emporium.kit.auth.verifier import TokenVerifier
from emporium.kit.errors import Forbidden, Unauthorized
from emporium.kit.settings import AuthSettings, RedisSettings

__all__ = [
    "AdminPrincipal",
    "CurrentPrincipal",
    "OptionalPrincipal",
    "current_principal",
    "optional_principal",
    "require_admin",
    "verifier_hook",
]

_bearer = HTTPBearer(auto_error=False, description="An access token from POST /auth/token")


async def optional_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller, or None for an anonymous request; a bad token is still a 401."""
    if credentials is None:
        return None
    if credentials.scheme.lower() != "bearer":
        raise Unauthorized("use an Authorization: Bearer token")
    verifier = get_resources(request).get(TokenVerifier)
    return await verifier.verify(credentials.credentials)


async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    """The signed-in caller; 401 without a valid token."""
    if principal is None:
        raise Unauthorized("sign in: this call needs an access token")
    return principal


async def require_admin(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    """The signed-in caller if an admin; 403 otherwise."""
    if not principal.is_admin:
        raise Forbidden("this call is for admins only")
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
AdminPrincipal = Annotated[Principal, Depends(require_admin)]


def verifier_hook(
    keys: KeySource | None = None,
) -> Callable[[Resources], contextlib.AbstractAsyncContextManager[TokenVerifier]]:
    """A lifespan hook putting a ``TokenVerifier`` among the app's resources.

    Keys come from ``keys`` when given (tests; the customers service verifying its own
    tokens), else from the JWKS at ``<PREFIX>JWKS_URL``, cached. Revocations come from the
    platform's shared denylist (Redis when ``<PREFIX>REDIS_URL`` is set).
    """

    @contextlib.asynccontextmanager
    async def hook(resources: Resources) -> AsyncIterator[TokenVerifier]:
        settings = resources.settings
        if not isinstance(settings, AuthSettings) or not isinstance(settings, RedisSettings):
            raise TypeError("verifier_hook needs settings with AuthSettings and RedisSettings")
        async with contextlib.AsyncExitStack() as stack:
            source = keys
            if source is None:
                if not settings.jwks_url:
                    raise RuntimeError("set <PREFIX>JWKS_URL to the customers service's JWKS")
                remote = RemoteJWKS(settings.jwks_url, cache_seconds=settings.jwks_cache_seconds)
                stack.push_async_callback(remote.close)
                source = remote
            denylist, owned = shared_denylist(settings)
            if owned:
                stack.push_async_callback(denylist.close)
            verifier = TokenVerifier(
                source,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                denylist=denylist,
            )
            resources.put(verifier)
            resources.put(denylist)
            yield verifier

    return hook
