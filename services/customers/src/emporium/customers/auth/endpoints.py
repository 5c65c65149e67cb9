"""/auth: register, token, refresh, logout, jwks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from emporium.customers.auth import service
from emporium.customers.auth.schemas import (
    RefreshRequest,
    Registered,
    RegisterRequest,
    SignInRequest,
    TokenPair,
)
from emporium.customers.auth.throttle import LoginLocked
from emporium.customers.dependencies import AccountsDep, ClientAddress, SessionDep
from emporium.kit.auth.dependencies import CurrentPrincipal
from emporium.kit.errors import Unauthorized, problem_responses

__all__ = ["router"]

router = APIRouter(prefix="/auth", tags=["auth"])

_NO_STORE = {"Cache-Control": "no-store"}
#: RFC 7517's JWK Set: the keys' members depend on their type (``kty``).
_JWKS = {
    "type": "object",
    "properties": {"keys": {"type": "array", "items": {"type": "object"}}},
    "required": ["keys"],
}


@router.post(
    "/register",
    status_code=201,
    response_model=Registered,
    operation_id="register",
    responses=problem_responses((service.EmailTaken, "An account has this email already")),
)
async def register(body: RegisterRequest, session: SessionDep, accounts: AccountsDep) -> Any:
    """Create a customer account."""
    customer = await service.register(session, accounts, body)
    return Registered(id=customer.id, email=customer.email or "", name=customer.name)


@router.post(
    "/token",
    response_model=TokenPair,
    operation_id="signIn",
    responses=problem_responses(
        (
            service.BadCredentials,
            "Unknown email, wrong password or disabled account (one answer for all three)",
        ),
        (LoginLocked, "Too many failed sign-ins for this email or address; see Retry-After"),
    ),
)
async def token(
    body: SignInRequest,
    ip: ClientAddress,
    response: Response,
    session: SessionDep,
    accounts: AccountsDep,
) -> Any:
    """Sign in: an access token and a refresh token."""
    pair = await service.sign_in(session, accounts, email=body.email, password=body.password, ip=ip)
    response.headers.update(_NO_STORE)
    return pair


@router.post(
    "/refresh",
    response_model=TokenPair,
    operation_id="refreshTokens",
    responses=problem_responses(
        (Unauthorized, "The refresh token is invalid, expired or revoked"),
        (
            service.RefreshTokenReused,
            "A refresh token already traded came back: its whole family is revoked",
        ),
    ),
)
async def refresh(
    body: RefreshRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    accounts: AccountsDep,
) -> Any:
    """Trade a refresh token for a new pair; the old refresh token stops working."""
    try:
        pair = await service.refresh(session, accounts, body.refresh_token)
    except service.RefreshTokenReused as reused:
        # Answer without raising, so the request's transaction commits the revocation.
        return reused.to_response(instance=request.url.path)
    response.headers.update(_NO_STORE)
    return pair


@router.post("/logout", status_code=204, operation_id="signOut")
async def logout(
    principal: CurrentPrincipal, session: SessionDep, accounts: AccountsDep
) -> Response:
    """Sign out: the access token and its refresh tokens stop working."""
    await service.sign_out(session, accounts, principal)
    return Response(status_code=204)


@router.get(
    "/jwks",
    operation_id="getJwks",
    responses={
        200: {"description": "A JWK Set", "content": {"application/json": {"schema": _JWKS}}}
    },
)
async def jwks(session: SessionDep, accounts: AccountsDep) -> JSONResponse:
    """The public keys that verify access tokens (JWKS, RFC 7517)."""
    return JSONResponse(
        await accounts.keys.jwks(session), headers={"Cache-Control": "public, max-age=60"}
    )
