"""Account rules: register, sign in, refresh with rotation and reuse detection, sign out.

Never commits: the request's unit of work does. Redis-side effects (throttle counters,
the access-token denylist) are not transactional and err on the safe side.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.customers.auth import repository
from emporium.customers.auth.schemas import RegisterRequest, TokenPair, could_be_an_address
from emporium.customers.auth.tokens import hash_refresh_token, new_refresh_token
from emporium.customers.events import customer_registered
from emporium.customers.models import Customer, RefreshToken
from emporium.customers.runtime import Accounts
from emporium.kit.auth.principal import Principal
from emporium.kit.errors import Conflict, Unauthorized, problem_type
from emporium.kit.ids import uuid7
from emporium.kit.outbox import utcnow

__all__ = [
    "BadCredentials",
    "EmailTaken",
    "RefreshTokenReused",
    "create_customer",
    "refresh",
    "register",
    "revoke_customer_tokens",
    "sign_in",
    "sign_out",
    "verify_password",
]

log = logging.getLogger(__name__)


class EmailTaken(Conflict):
    type = problem_type("email-taken")
    title = "Email already registered"


class BadCredentials(Unauthorized):
    type = problem_type("invalid-credentials")
    title = "Invalid credentials"


class RefreshTokenReused(Unauthorized):
    """A used refresh token came back: its family was revoked (must be committed)."""

    type = problem_type("refresh-token-reused")
    title = "Refresh token reused"


_INVALID_REFRESH = "the refresh token is invalid, expired or revoked"


async def create_customer(
    session: AsyncSession,
    accounts: Accounts,
    *,
    email: str,
    password: str,
    name: str,
    role: str = "customer",
) -> Customer:
    """Insert a customer (``email`` already normalised) and stage ``CustomerRegistered``."""
    if await repository.customer_by_email(session, email) is not None:
        raise EmailTaken("this email is already registered")
    now = utcnow()
    customer = Customer(
        id=uuid7(),
        email=email,
        name=name,
        password_hash=await accounts.hasher.hash(password),
        role=role,
        disabled=False,
        order_count=0,
        lifetime_spend=0,
        created_at=now,
        updated_at=now,
    )
    session.add(customer)
    try:
        await session.flush()
    except IntegrityError:  # registered concurrently
        raise EmailTaken("this email is already registered") from None
    await customer_registered(session, customer)
    return customer


async def register(session: AsyncSession, accounts: Accounts, data: RegisterRequest) -> Customer:
    return await create_customer(
        session, accounts, email=data.email, password=data.password, name=data.name
    )


async def _issue(
    session: AsyncSession, accounts: Accounts, customer: Customer, family_id: UUID
) -> TokenPair:
    key = await accounts.keys.active(session)
    access = accounts.issuer.issue(
        key, subject=customer.id, role=customer.role, family_id=family_id
    )
    refresh_token = new_refresh_token()
    now = utcnow()
    session.add(
        RefreshToken(
            id=uuid7(),
            family_id=family_id,
            customer_id=customer.id,
            token_hash=hash_refresh_token(refresh_token),
            access_token_id=access.token_id,
            access_expires_at=access.expires_at,
            created_at=now,
            expires_at=now + timedelta(seconds=accounts.settings.refresh_token_ttl_seconds),
        )
    )
    await session.flush()
    return TokenPair(
        access_token=access.token,
        refresh_token=refresh_token,
        expires_in=int(accounts.issuer.ttl.total_seconds()),
    )


async def verify_password(
    accounts: Accounts,
    customer: Customer | None,
    password: str,
    *,
    email: str,
    ip: str,
    detail: str = "invalid email or password",
) -> Customer:
    """``customer`` when ``password`` is theirs and the account is usable; else 401.

    Throttled per ``(email, ip)``, per ``ip`` and per ``email`` (429 while locked). An unknown
    email and a disabled account answer exactly like a wrong password, after the same work
    (an Argon2 verification, a counted failure), so neither answers nor timing tell them
    apart.
    """
    throttle = accounts.throttle
    await throttle.check(email, ip)
    # No account: verify against a dummy hash anyway, so every failure takes as long.
    ok = await accounts.hasher.verify(
        customer.password_hash if customer is not None else None, password
    )
    if customer is None or not ok or customer.disabled:
        await throttle.failed(email, ip)
        raise BadCredentials(detail)
    await throttle.succeeded(email, ip)
    return customer


async def sign_in(
    session: AsyncSession, accounts: Accounts, *, email: str, password: str, ip: str
) -> TokenPair:
    """A new token pair (a new family); the same 401 for an unknown email, a bad password and
    a disabled account."""
    email = email.strip().lower()
    # Text no address can be (a NUL or another control character, a lone surrogate) is
    # not looked up, which the database would refuse: it is an unknown email, so the
    # same 401 as a wrong password after the same work (and counted by the throttle).
    found = (
        await repository.customer_by_email(session, email) if could_be_an_address(email) else None
    )
    customer = await verify_password(accounts, found, password, email=email, ip=ip)
    assert customer.password_hash is not None
    if accounts.hasher.needs_rehash(customer.password_hash):
        customer.password_hash = await accounts.hasher.hash(password)
    return await _issue(session, accounts, customer, family_id=uuid7())


async def _revoke(
    session: AsyncSession,
    accounts: Accounts,
    *,
    customer_id: UUID | None = None,
    family_id: UUID | None = None,
) -> None:
    now = utcnow()
    for token_id, expires_at in await repository.active_access_tokens(
        session, now, customer_id=customer_id, family_id=family_id
    ):
        await accounts.denylist.revoke(token_id, expires_at=expires_at)
    await repository.revoke_refresh_tokens(
        session, now, customer_id=customer_id, family_id=family_id
    )


async def revoke_customer_tokens(
    session: AsyncSession, accounts: Accounts, customer_id: UUID
) -> None:
    """Sign a customer out everywhere: refresh tokens revoked, access tokens denylisted."""
    await _revoke(session, accounts, customer_id=customer_id)


async def refresh(session: AsyncSession, accounts: Accounts, token: str) -> TokenPair:
    """Use up ``token`` and issue the next pair of its family.

    A token that was already used means two parties hold it (it leaked): the whole family
    is revoked, the access tokens issued with it too, and ``RefreshTokenReused`` is raised
    (the caller must still commit).
    """
    row = await repository.refresh_token_by_hash(session, hash_refresh_token(token))
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise Unauthorized(_INVALID_REFRESH)
    if row.used_at is not None or not await repository.use_refresh_token(session, row.id, now):
        log.warning("refresh token reused; revoking family %s", row.family_id)
        await _revoke(session, accounts, family_id=row.family_id)
        raise RefreshTokenReused(_INVALID_REFRESH)
    customer = await session.get(Customer, row.customer_id)
    if customer is None or customer.deleted or customer.disabled:
        raise Unauthorized(_INVALID_REFRESH)
    return await _issue(session, accounts, customer, family_id=row.family_id)


async def sign_out(session: AsyncSession, accounts: Accounts, principal: Principal) -> None:
    """Revoke the caller's access token and the refresh tokens of the same sign-in."""
    await accounts.denylist.revoke(principal.token_id, expires_at=principal.expires_at)
    try:
        family_id = UUID(str(principal.session_id))
    except ValueError:
        return
    await _revoke(session, accounts, family_id=family_id)
