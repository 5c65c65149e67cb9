"""Fixtures of the security suite; what its tests share is in ``_support.py``.

``_support.py`` is loaded under the name ``emporium_security`` (the tests import it from
there, as the e2e suites import ``emporium_e2e_platform``).

- ``secure``: the platform started for this suite (session), see ``_support.py``;
- ``http``: an async client of the API from a loopback address of the test's own.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

if "emporium_security" not in sys.modules:
    _spec = importlib.util.spec_from_file_location(
        "emporium_security", Path(__file__).with_name("_support.py")
    )
    assert _spec is not None
    assert _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["emporium_security"] = _module
    _spec.loader.exec_module(_module)
support: Any = sys.modules["emporium_security"]


@pytest.fixture(scope="session")
def secure() -> Iterator[Any]:
    """The platform started for this suite (always here: it needs its own settings)."""
    yield from support.start()


@pytest.fixture
async def http(secure: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client from a loopback address of the test's own."""
    async with support.client(secure) as connection:
        yield connection


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and "secure" in getattr(item, "fixturenames", ()):
        secure = item.funcargs.get("secure") if hasattr(item, "funcargs") else None
        if secure is not None:
            report.sections.append(("platform logs", secure.platform.logs()))
    return report
