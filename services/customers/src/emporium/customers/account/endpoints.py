"""/me and /me/addresses: the caller's own profile and addresses."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response

from emporium.customers.account import service
from emporium.customers.account.schemas import (
    AddressCreate,
    AddressOut,
    AddressUpdate,
    DeletionPassword,
    Profile,
    ProfileUpdate,
)
from emporium.customers.auth.service import BadCredentials, verify_password
from emporium.customers.auth.throttle import LoginLocked
from emporium.customers.dependencies import (
    AccountsDep,
    ClientAddress,
    CurrentCustomer,
    SessionDep,
)
from emporium.kit.errors import Conflict, problem_responses

__all__ = ["router"]

router = APIRouter(prefix="/me", tags=["me"])


@router.get("", response_model=Profile, operation_id="getMe")
async def get_me(customer: CurrentCustomer, accounts: AccountsDep) -> Any:
    """The caller's profile, with order count and lifetime spend."""
    return service.profile_of(customer, accounts.settings.currency)


@router.patch("", response_model=Profile, operation_id="updateMe")
async def update_me(
    body: ProfileUpdate, customer: CurrentCustomer, session: SessionDep, accounts: AccountsDep
) -> Any:
    """Change the caller's name."""
    await service.rename(session, customer, body.name)
    return service.profile_of(customer, accounts.settings.currency)


@router.delete(
    "",
    status_code=204,
    operation_id="deleteMe",
    responses=problem_responses(
        (BadCredentials, "`password` is not this account's password"),
        (LoginLocked, "Too many failed password checks; see Retry-After"),
    ),
)
async def delete_me(
    password: DeletionPassword,
    ip: ClientAddress,
    customer: CurrentCustomer,
    session: SessionDep,
    accounts: AccountsDep,
) -> Response:
    """Delete the caller's account (body: the current `password`): data erased, signed out."""
    await verify_password(
        accounts,
        customer,
        password,
        email=customer.email or "",
        ip=ip,
        detail="the password is not this account's password",
    )
    await service.erase_customer(session, accounts, customer)
    return Response(status_code=204)


@router.get("/addresses", response_model=list[AddressOut], operation_id="listAddresses")
async def list_addresses(customer: CurrentCustomer, session: SessionDep) -> Any:
    """The caller's addresses."""
    return await service.list_addresses(session, customer)


@router.post(
    "/addresses",
    status_code=201,
    response_model=AddressOut,
    operation_id="addAddress",
    responses=problem_responses(
        (Conflict, f"The account has {service.MAX_ADDRESSES} addresses, the most it keeps")
    ),
)
async def add_address(body: AddressCreate, customer: CurrentCustomer, session: SessionDep) -> Any:
    """Add an address."""
    return await service.add_address(session, customer, body)


_NO_ADDRESS = (service.AddressNotFound, "The caller has no address with this id")


@router.get(
    "/addresses/{address_id}",
    response_model=AddressOut,
    operation_id="getAddress",
    responses=problem_responses(_NO_ADDRESS),
)
async def get_address(address_id: UUID, customer: CurrentCustomer, session: SessionDep) -> Any:
    """One of the caller's addresses."""
    return await service.get_address(session, customer, address_id)


@router.patch(
    "/addresses/{address_id}",
    response_model=AddressOut,
    operation_id="updateAddress",
    responses=problem_responses(_NO_ADDRESS),
)
async def update_address(
    address_id: UUID, body: AddressUpdate, customer: CurrentCustomer, session: SessionDep
) -> Any:
    """Change one of the caller's addresses."""
    return await service.update_address(session, customer, address_id, body)


@router.delete(
    "/addresses/{address_id}",
    status_code=204,
    operation_id="deleteAddress",
    responses=problem_responses(_NO_ADDRESS),
)
async def delete_address(
    address_id: UUID, customer: CurrentCustomer, session: SessionDep
) -> Response:
    """Remove one of the caller's addresses."""
    await service.remove_address(session, customer, address_id)
    return Response(status_code=204)
