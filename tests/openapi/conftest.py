"""Fixtures of the OpenAPI checks: the public document, and the npm tools that read it.

The tools (openapi-typescript, typescript, @stoplight/spectral-cli, pinned in this folder's
``package.json``) are installed once into ``var/cache/openapi-tools/<hash of package.json>``
(outside git, no lock file), so a second run, and every run after, reuses them.
Without npm the tests skip on a developer's machine and fail where the infrastructure is
required (``EMPORIUM_REQUIRE_INFRA=1``, as in ``make test``): a check that silently does not
run proves nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, NoReturn

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
CACHE = ROOT / "var" / "cache" / "openapi-tools"
INSTALL_TIMEOUT = 600


def _missing(what: str) -> NoReturn:
    if os.environ.get("EMPORIUM_REQUIRE_INFRA") == "1":
        pytest.fail(f"{what}: the OpenAPI checks need Node 20 and npm")
    pytest.skip(f"{what} (set EMPORIUM_REQUIRE_INFRA=1 to make this a failure)")


def _install(npm: str, target: Path) -> None:
    """``npm install`` into a fresh folder beside ``target``, then rename it into place, so
    two runs at once never see a half-installed folder."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        shutil.copy(HERE / "package.json", staging / "package.json")
        done = subprocess.run(
            [npm, "install", "--no-package-lock", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=staging,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"npm install failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        try:
            staging.rename(target)
        except OSError:  # another run installed it first: use theirs
            if not (target / "node_modules").is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@pytest.fixture(scope="session")
def npm_bin() -> Path:
    """The ``node_modules/.bin`` folder of the pinned tools (installed on first use)."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        _missing("npm or node is not installed")
    digest = hashlib.sha256((HERE / "package.json").read_bytes()).hexdigest()[:16]
    target = CACHE / digest
    if not (target / "node_modules" / ".bin").is_dir():
        _install(npm, target)
    return target / "node_modules" / ".bin"


@pytest.fixture(scope="session")
def openapi_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The public document as the gateway serves it, written to a file.

    Built in a child process (``dump_spec.py``): building the service apps configures
    logging and tracing, which the test process keeps to itself.
    """
    path = tmp_path_factory.mktemp("openapi") / "openapi.json"
    done = subprocess.run(
        [sys.executable, str(HERE / "dump_spec.py"), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return path


@pytest.fixture(scope="session")
def openapi(openapi_file: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(openapi_file.read_text())
    return document
