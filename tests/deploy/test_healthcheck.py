"""deploy/docker/healthcheck.py: the image's health check asks the port the part's settings
listen on, answers by the probe's status, and stays cheap (the engine runs it every 10 s)."""

from __future__ import annotations

import http.server
import importlib.util
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.deploy.conftest import env_prefix, settings_env_names

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "deploy" / "docker" / "healthcheck.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("emporium_healthcheck", CHECK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("part", _load().PARTS)
def test_the_port_variable_is_the_one_the_settings_read(part: str) -> None:
    prefix = _load().PREFIXES[part]
    assert env_prefix(part) == prefix
    assert f"{prefix}PORT" in settings_env_names(part)


@pytest.fixture
def probe() -> Iterator[tuple[int, list[int]]]:
    """A server whose /readyz answers the status last put in the list (200 at first)."""
    answers = [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(answers[-1] if self.path == "/readyz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], answers
    finally:
        server.shutdown()
        server.server_close()


def _check(port: int, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ORDERS_")}
    env.update({"SERVICE": "orders", "ORDERS_PORT": str(port), **extra})
    return subprocess.run(
        [sys.executable, "-X", "importtime", str(CHECK), "/readyz"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


def test_the_check_follows_the_probe_without_loading_the_settings(
    probe: tuple[int, list[int]],
) -> None:
    port, answers = probe
    healthy = _check(port)
    assert healthy.returncode == 0, healthy.stderr[-2000:]
    # -X importtime lists every module imported: pydantic (~0.5 s of CPU) is not one.
    assert "pydantic" not in healthy.stderr
    answers.append(503)
    unhealthy = _check(port)
    assert unhealthy.returncode == 1
    assert "answered 503" in unhealthy.stderr


def test_a_port_that_is_not_a_number_is_named(probe: tuple[int, list[int]]) -> None:
    result = _check(probe[0], ORDERS_PORT="eighty")
    assert result.returncode == 2
    assert "ORDERS_PORT is not a port" in result.stderr
