"""DELETE /me asks for the current password: a stolen access token alone cannot erase."""

from __future__ import annotations

from typing import Any

import pytest

from emporium.customers.testing import PASSWORD, Service


async def _delete(service: Service, headers: dict[str, str], **kwargs: Any) -> Any:
    return await service.client.request("DELETE", "/me", headers=headers, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"json": {}},
        {"json": {"pass": PASSWORD}},
        {"json": {"password": None}},
        {"json": {"password": 12345678}},
        {"json": {"password": ""}},
        {"json": {"password": "x" * 1025}},
    ],
)
async def test_without_a_usable_password_it_is_422_naming_the_field(
    service: Service, kwargs: dict[str, Any]
) -> None:
    _, headers = await service.customer("ask@example.com")
    response = await _delete(service, headers, **kwargs)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "password" in response.text
    assert (await service.client.get("/me", headers=headers)).status_code == 200


async def test_a_body_that_is_not_json_is_422(service: Service) -> None:
    _, headers = await service.customer("json@example.com")

    response = await _delete(
        service, {**headers, "Content-Type": "application/json"}, content=b"not json"
    )

    assert response.status_code == 422
    assert (await service.client.get("/me", headers=headers)).status_code == 200


async def test_a_missing_password_names_the_field(service: Service) -> None:
    _, headers = await service.customer("name@example.com")

    response = await _delete(service, headers, json={})

    assert response.status_code == 422
    assert "password" in response.text


async def test_a_wrong_password_is_a_401_problem_and_nothing_is_deleted(service: Service) -> None:
    _, headers = await service.customer("wrong@example.com")

    response = await _delete(service, headers, json={"password": "not-my-password"})

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/invalid-credentials")
    assert "password" in response.json()["detail"]
    assert (await service.client.get("/me", headers=headers)).status_code == 200
    assert (await service.sign_in("wrong@example.com")).status_code == 200


async def test_the_right_password_deletes_the_account(service: Service) -> None:
    _, headers = await service.customer("right@example.com")

    response = await _delete(service, headers, json={"password": PASSWORD})

    assert response.status_code == 204
    assert (await service.client.get("/me", headers=headers)).status_code == 401
    assert (await service.sign_in("right@example.com")).status_code == 401


async def test_without_a_token_it_is_401(service: Service) -> None:
    response = await service.client.request("DELETE", "/me", json={"password": PASSWORD})

    assert response.status_code == 401
