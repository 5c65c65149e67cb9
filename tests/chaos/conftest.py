"""Fixtures of the chaos suite: a private PostgreSQL and a private Kafka, once per session.

``infra.py``, ``kit_rig.py`` and ``platform_rig.py`` are loaded under the names
``emporium_chaos_infra``, ``emporium_chaos_rig`` and ``emporium_chaos_platform`` (the test
modules import them from there, as the e2e suite does with its ``platform.py``). The
instances are started lazily, by the first test that asks for them, and destroyed at the end
of the session; the shared infrastructure of the other suites is never touched (Redis and
S3 are the shared ones, on a Redis database of the suite's own).

Without the PostgreSQL binaries or the Kafka jars the tests skip, or fail under
``EMPORIUM_REQUIRE_INFRA=1`` (``make test``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def _load(name: str, filename: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(filename))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_infra = _load("emporium_chaos_infra", "infra.py")
_load("emporium_chaos_rig", "kit_rig.py")
_load("emporium_chaos_platform", "platform_rig.py")


def _require_tools() -> None:
    reason = _infra.missing_tools()
    if reason is None:
        return
    if os.environ.get("EMPORIUM_REQUIRE_INFRA") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _unwind_on_sigterm() -> None:
    """Make SIGTERM (``make test`` ending the run) unwind like Ctrl-C, so the fixtures'
    finalizers stop the private instances instead of leaving them running."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, handler)


@pytest.fixture(scope="session")
def private_pg() -> Iterator[Any]:
    """A PostgreSQL cluster of this session only (``PrivatePostgres``), free to break."""
    _require_tools()
    _unwind_on_sigterm()
    with _infra.private_root("chaos-pg-") as root:
        pg = _infra.PrivatePostgres(root)
        try:
            pg.init()
            pg.start()
            asyncio.run(pg.create_role(_infra.APP_ROLE))
            yield pg
        finally:
            pg.destroy()


@pytest.fixture(scope="session")
def private_kafka() -> Iterator[Any]:
    """A Kafka broker of this session only (``PrivateKafka``), free to kill and pause."""
    _require_tools()
    _unwind_on_sigterm()
    with _infra.private_root("chaos-kafka-") as root:
        kafka = _infra.PrivateKafka(root)
        try:
            kafka.init()
            kafka.start()
            yield kafka
        finally:
            kafka.destroy()


@pytest.fixture
def healthy_infra(private_pg: Any, private_kafka: Any) -> tuple[Any, Any]:
    """Both private instances, running and ready (a previous test may have left one down)."""
    if not private_pg.running() or (private_pg.data / "standby.signal").exists():
        private_pg.release()
    private_pg.release_hogs()
    if not private_kafka.running():
        private_kafka.start()
    else:
        private_kafka.resume()
    return private_pg, private_kafka
