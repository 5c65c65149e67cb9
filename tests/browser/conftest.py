"""The browser suites' fixtures: a platform, Debian's Chromium driven by Playwright, pages.

- ``shop``: the platform under test (``EMPORIUM_E2E_BASE_URL``'s, e.g. ``make dev`` at
  http://localhost:8000, else one started here on the real infrastructure, storefront
  included: ``tests/e2e/platform.py``); ``shop.base_url`` is the one origin of shop, admin
  and API, ``shop.admin_email``/``admin_password`` the admin account;
- ``browser``: headless ``/usr/bin/chromium`` (never a downloaded browser), one per session;
- ``context``/``page``: a fresh browser profile per test (its own cookies), at 1280x800,
  with ``base_url`` set, so ``page.goto("/cart")`` works; a test that fails leaves a
  screenshot of every page it opened under ``var/browser-failures/``;
- ``new_page``: another profile in the same test (a second person: the admin beside the
  shopper);
- ``people``: ``people.py`` (accounts, products and orders made through the public API),
  loaded once; ``boss``: the platform's admin signed in through it (one per test module).

Skips without Chromium or the infrastructure; fails instead with ``EMPORIUM_REQUIRE_INFRA=1``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("EMPORIUM_CHROMIUM", "/usr/bin/chromium")
FAILURES = ROOT / "var" / "browser-failures"
_INFRA = ("EMPORIUM_POSTGRES_URL", "EMPORIUM_KAFKA_BOOTSTRAP", "EMPORIUM_REDIS_URL")
VIEWPORT = {"width": 1280, "height": 800}
# The suites run side by side on two cores: an assertion waits as long as an action may.
expect.set_options(timeout=15_000)


def _platform_module() -> Any:
    # The e2e suites' platform, under the same module name as tests/e2e/conftest.py loads it.
    module = sys.modules.get("emporium_e2e_platform")
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(
        "emporium_e2e_platform", ROOT / "tests" / "e2e" / "platform.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["emporium_e2e_platform"] = module
    spec.loader.exec_module(module)
    return module


def _unavailable(message: str) -> None:
    if os.environ.get("EMPORIUM_REQUIRE_INFRA") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="session")
def shop() -> Iterator[Any]:
    """The platform under test (one per session), storefront included."""
    if not os.environ.get("EMPORIUM_E2E_BASE_URL"):
        missing = [name for name in (*_INFRA, "EMPORIUM_S3_ENDPOINT") if not os.environ.get(name)]
        if missing:
            _unavailable(f"{', '.join(missing)} not set: start the infrastructure (make up)")
    # The platform has Kafka topics and consumer groups of its own (a per-run topic prefix):
    # it runs beside the other suites' platforms. An image upload on two cores shared with
    # them can take longer than 5 s.
    env = {"GATEWAY_UPSTREAM_TIMEOUT_SECONDS": "30"}
    platform, started = _platform_module().start_platform(extra_env=env, storefront=True)
    try:
        yield platform
    finally:
        if started is not None:
            started.close()


def load_people() -> Any:
    """``people.py``, loaded once by path (the suite is no package) as
    ``emporium_browser_people``."""
    name = "emporium_browser_people"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("people.py"))
        assert spec is not None
        assert spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


@pytest.fixture(scope="session")
def people() -> Any:
    """The people of the tests and what they make (``people.py``)."""
    return load_people()


@pytest.fixture(scope="module")
def boss(shop: Any, people: Any) -> Iterator[Any]:
    """The platform's admin, signed in through the API (its client closed after the module)."""
    person = people.admin(shop)
    yield person
    person.http.close()


@pytest.fixture(scope="session")
def browser(shop: Any) -> Iterator[Any]:
    """Headless Debian Chromium (``scripts/test-browser-tools.sh`` installs it).

    After ``shop``: Playwright's sync API keeps an event loop running in this thread while
    it is open, and starting or stopping the platform needs ``asyncio.run``."""
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} not found: run scripts/test-browser-tools.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking"],
        )
        try:
            yield launched
        finally:
            launched.close()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:120]


@pytest.fixture
def new_page(
    request: pytest.FixtureRequest, browser: Any, shop: Any
) -> Iterator[Callable[..., Any]]:
    """Opens a page in a browser profile of its own (``viewport`` may be given)."""
    contexts: list[Any] = []

    def make(viewport: dict[str, int] | None = None) -> Any:
        context = browser.new_context(base_url=shop.base_url, viewport=viewport or VIEWPORT)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    report = getattr(request.node, "report_call", None)
    failed = report is not None and report.failed
    for n, context in enumerate(contexts):
        if failed:
            FAILURES.mkdir(parents=True, exist_ok=True)
            for m, opened in enumerate(context.pages):
                name = f"{_slug(request.node.nodeid)}-{n}-{m}.png"
                try:
                    opened.screenshot(path=str(FAILURES / name), full_page=True)
                except Exception as error:  # a crashed page: nothing to photograph
                    print(f"no screenshot of {name}: {error}", file=sys.stderr)
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    """A page of a fresh browser profile (screenshot under var/browser-failures/ on failure)."""
    return new_page()
