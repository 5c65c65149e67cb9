"""What the deployment checks share: the repository's deploy files, parsed, and the names of
the environment variables each part really reads (derived from its code, never listed here).

Everything is offline: no Docker engine, no cluster. ``kubectl`` (for ``kubectl kustomize``)
must be on PATH; the Python tools come from the workspace's dev dependencies.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices, AliasPath
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
#: The parts of the platform: each is one image command (SERVICE=<part>).
PARTS = ("catalog", "customers", "orders", "gateway")
#: Overlays rendered by the checks; "prod+keda" is prod with the optional KEDA component.
OVERLAYS = ("dev", "prod", "prod+keda")

_ENV_READ = re.compile(
    r"""os\.(?:environ\.get|getenv|environ\.setdefault)\(\s*["']([A-Z][A-Z0-9_]*)["']"""
    r"""|os\.environ\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\]"""
)
_SHELL_VAR = re.compile(r"\$\{?([A-Z][A-Z0-9_]*)")


def load_yaml_documents(text: str) -> list[Any]:
    """Every document of a YAML stream (merge keys resolved), empty ones dropped."""
    return [doc for doc in YAML(typ="safe", pure=True).load_all(text) if doc is not None]


def settings_class(part: str) -> Any:
    """The part's pydantic-settings ``Settings`` class."""
    return importlib.import_module(f"emporium.{part}.settings").Settings


def settings_env_names(part: str) -> set[str]:
    """The environment variables the part's ``Settings`` reads (upper case).

    ``<env_prefix><FIELD>`` for a plain field; a field with a validation alias is read from
    the alias(es) instead (pydantic-settings does not prefix aliases).
    """
    cls = settings_class(part)
    prefix = str(cls.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(c.upper() for c in alias.choices if isinstance(c, str))
        elif isinstance(alias, str):
            names.add(alias.upper())
        elif isinstance(alias, AliasPath):
            names.add(str(alias.path[0]).upper())
        elif field.alias:
            names.add(field.alias.upper())
        else:
            names.add((prefix + name).upper())
    return names


def env_prefix(part: str) -> str:
    return str(settings_class(part).model_config.get("env_prefix", "")).upper()


def source_env_reads(*roots: Path) -> set[str]:
    """Variables read straight from ``os.environ`` by the Python code under ``roots``.

    Test helpers (``testing/`` packages, ``tests/``) are left out: they never run in a
    deployed service.
    """
    names: set[str] = set()
    for root in roots:
        for path in root.rglob("*.py"):
            if {"testing", "tests"} & set(path.relative_to(root).parts):
                continue
            for match in _ENV_READ.finditer(path.read_text()):
                names.add(match.group(1) or match.group(2))
    return names


def shell_env_reads(script: Path) -> set[str]:
    """Variables a shell script expands (``$NAME`` / ``${NAME...}``)."""
    return set(_SHELL_VAR.findall(script.read_text()))


@functools.cache
def readable_env_names(part: str) -> frozenset[str]:
    """Every variable the part's container can meaningfully be given.

    Its settings' variables, what its code and the shared kit read from ``os.environ``
    (``WEB_WORKERS``, ``OTEL_EXPORTER_OTLP_ENDPOINT``, ...) and what the image's entrypoint
    script reads (``SERVICE``, ``RUN_MIGRATIONS``).
    """
    package = ROOT / (part if part in ("gateway", "storefront") else f"services/{part}") / "src"
    code = source_env_reads(
        ROOT / "libs" / "kit" / "src", ROOT / "libs" / "contracts" / "src", package
    )
    entrypoint = shell_env_reads(DEPLOY / "docker" / "entrypoint.sh")
    return frozenset(settings_env_names(part) | code | entrypoint)


def kubectl() -> str:
    """The kubectl binary, or a failure that says how to get one."""
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail(
            "kubectl is not on PATH: the Kubernetes checks render the overlays with "
            "`kubectl kustomize` (install kubectl 1.27 or later, e.g. `apt-get install kubectl` "
            "from the Kubernetes apt repository, or a release binary)"
        )
    return found


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize DIRECTORY``, parsed."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return [doc for doc in load_yaml_documents(result.stdout) if isinstance(doc, dict)]


def with_keda(overlay: Path, workdir: Path) -> Path:
    """A kustomization in ``workdir`` that adds the KEDA component to ``overlay``.

    The way deploy/README.md tells users to enable it; kustomize wants relative paths.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    base = os.path.relpath(overlay, workdir)
    component = os.path.relpath(K8S / "components" / "keda", workdir)
    (workdir / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        "namespace: emporium\n"
        f"resources:\n  - {base}\n"
        f"components:\n  - {component}\n"
    )
    return workdir


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """docker-compose.yml, parsed (anchors and merge keys resolved)."""
    docs = load_yaml_documents((ROOT / "docker-compose.yml").read_text())
    assert len(docs) == 1
    assert isinstance(docs[0], dict)
    document: dict[str, Any] = docs[0]
    return document


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Each overlay rendered by ``kubectl kustomize`` (see ``OVERLAYS``)."""
    keda = with_keda(K8S / "overlays" / "prod", tmp_path_factory.mktemp("keda"))
    return {
        "dev": kustomize(K8S / "overlays" / "dev"),
        "prod": kustomize(K8S / "overlays" / "prod"),
        "prod+keda": kustomize(keda),
    }


@pytest.fixture(scope="session")
def readable_env() -> Callable[[str], frozenset[str]]:
    """``readable_env(part)``: the variables that part reads (see ``readable_env_names``)."""
    return readable_env_names


@pytest.fixture(scope="session")
def prefix_of() -> Callable[[str], str]:
    """``prefix_of(part)``: the part's settings prefix, e.g. ``CATALOG_``."""
    return env_prefix


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


@pytest.fixture(scope="session")
def dockerfile() -> list[tuple[str, str]]:
    """deploy/docker/Dockerfile as ``(INSTRUCTION, arguments)`` pairs."""
    return dockerfile_instructions(DEPLOY / "docker" / "Dockerfile")


@pytest.fixture(scope="session")
def image_command(dockerfile: list[tuple[str, str]]) -> list[str]:
    """What the image runs by default: its final stage's ENTRYPOINT followed by CMD."""
    last_stage = max(i for i, (keyword, _) in enumerate(dockerfile) if keyword == "FROM")
    entrypoint: list[str] = []
    cmd: list[str] = []
    for keyword, arguments in dockerfile[last_stage:]:
        if keyword == "ENTRYPOINT":
            entrypoint = json.loads(arguments)
        elif keyword == "CMD":
            cmd = json.loads(arguments)
    assert entrypoint, "the image has no ENTRYPOINT (exec form)"
    return entrypoint + cmd


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No variable of any part's prefix (nor the admin ones) left from the caller's shell."""
    prefixes = (*(env_prefix(part) for part in PARTS), "EMPORIUM_ADMIN_")
    for name in list(os.environ):
        if name.upper().startswith(prefixes):
            monkeypatch.delenv(name)
    return monkeypatch
