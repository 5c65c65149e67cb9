"""The e2e suites' shared platform: started once per session (or ``EMPORIUM_E2E_BASE_URL``).

``platform.py`` is loaded under the name ``emporium_e2e_platform`` (a plain ``platform``
would be the standard library's module): the test modules import it from there.

Fixtures:

- ``live``: the running platform (session); skips without the infrastructure, fails with
  ``EMPORIUM_REQUIRE_INFRA=1``;
- ``live_controls``: the same, for tests that kill processes (skip in base-URL mode);
- ``admin_token``: an access token of the platform's admin account (session).

A failed test that used the platform gets the tail of every process's log in its report.

Every platform a suite starts (``live``, the saga tests' catalog and orders, the security
and browser suites') has Kafka topics and consumer groups of its own (a per-run topic
prefix), so test files run in any order and suites run beside each other.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

_spec = importlib.util.spec_from_file_location(
    "emporium_e2e_platform", Path(__file__).with_name("platform.py")
)
assert _spec is not None
assert _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
sys.modules["emporium_e2e_platform"] = _module
_spec.loader.exec_module(_module)

Platform = _module.Platform
_INFRA = ("EMPORIUM_POSTGRES_URL", "EMPORIUM_KAFKA_BOOTSTRAP", "EMPORIUM_REDIS_URL")


@pytest.fixture(scope="session")
def live() -> Iterator[Any]:
    """The platform under test (one per session)."""
    if not os.environ.get("EMPORIUM_E2E_BASE_URL"):
        missing = [name for name in (*_INFRA, "EMPORIUM_S3_ENDPOINT") if not os.environ.get(name)]
        if missing:
            message = f"{', '.join(missing)} not set: start the infrastructure (make up)"
            if os.environ.get("EMPORIUM_REQUIRE_INFRA") == "1":
                pytest.fail(message)
            pytest.skip(message)
    platform, started = _module.start_platform()
    try:
        yield platform
    finally:
        if started is not None:
            started.close()


@pytest.fixture
def live_controls(live: Any) -> Any:
    """The platform, for a test that kills and restarts its processes."""
    if not live.controls:
        pytest.skip(
            "EMPORIUM_E2E_BASE_URL mode: the platform runs elsewhere, this run cannot kill "
            "or restart its processes"
        )
    return live


@pytest.fixture(scope="session")
def admin_token(live: Any) -> str:
    """An access token of the admin account (created at first start from the env)."""
    response = httpx.post(
        live.api + "/auth/token",
        json={"email": live.admin_email, "password": live.admin_password},
        headers={"X-Forwarded-For": "10.250.0.1"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and "live" in getattr(item, "fixturenames", ()):
        platform = item.funcargs.get("live") if hasattr(item, "funcargs") else None
        if platform is not None and platform.controls:
            report.sections.append(("platform logs", platform.logs()))
    return report
