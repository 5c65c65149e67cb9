"""The container image: its Dockerfile lints clean, builds from the lockfile without dev
dependencies, runs as a non-root user with pinned base images, and its build context holds
what the build copies and nothing it should not (local state, secrets, tests)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
SHELL_SCRIPTS = [
    ROOT / "deploy" / "docker" / "entrypoint.sh",
    ROOT / "deploy" / "compose" / "postgres" / "init-databases.sh",
    ROOT / "deploy" / "k8s" / "base" / "kafka" / "create-topics.sh",
]
_SECRETISH = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY\b|ACCESS_KEY|CREDENTIAL)", re.IGNORECASE)


def _tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is not installed: run `uv sync` (it is a dev dependency)"
    return found


def test_the_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [_tool("hadolint"), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not result.stdout.strip(), result.stdout


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_the_shell_scripts_pass_shellcheck(script: Path) -> None:
    result = subprocess.run(
        [_tool("shellcheck"), "--shell=sh", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _resolve_args(dockerfile: list[tuple[str, str]], text: str) -> str:
    defaults = {}
    for keyword, arguments in dockerfile:
        if keyword == "ARG" and "=" in arguments:
            name, _, value = arguments.partition("=")
            defaults[name.strip()] = value.strip()
    return re.sub(r"\$\{?(\w+)\}?", lambda m: defaults.get(m.group(1), m.group(0)), text)


def test_every_base_image_is_pinned(dockerfile: list[tuple[str, str]]) -> None:
    stages = set()
    for keyword, arguments in dockerfile:
        if keyword != "FROM":
            continue
        words = _resolve_args(dockerfile, arguments).split()
        image = next(w for w in words if not w.startswith("--"))
        if " AS " in f" {arguments.upper()} ":
            stages.add(words[-1].lower())
        if image.lower() in stages:
            continue  # a stage of this Dockerfile
        name, _, tag = image.rpartition(":")
        assert name, f"{image}: no tag"
        assert "/" not in tag, f"{image}: no tag"
        assert tag != "latest", f"{image}: 'latest' is not a version"
        assert re.search(r"\d", tag), f"{image}: tag {tag!r} names no version"


def test_dependencies_come_from_the_lockfile_without_dev_ones(
    dockerfile: list[tuple[str, str]],
) -> None:
    syncs = [args for keyword, args in dockerfile if keyword == "RUN" and "uv sync" in args]
    assert syncs, "the image is not built with uv sync"
    for command in syncs:
        assert "--frozen" in command, f"not from the lockfile as it is: {command}"
        assert "--no-dev" in command, f"installs the dev dependencies: {command}"
    copied = " ".join(args for keyword, args in dockerfile if keyword == "COPY")
    assert "uv.lock" in copied


def test_the_runtime_runs_as_a_non_root_user(dockerfile: list[tuple[str, str]]) -> None:
    last_stage = max(i for i, (keyword, _) in enumerate(dockerfile) if keyword == "FROM")
    users = [args for keyword, args in dockerfile[last_stage:] if keyword == "USER"]
    assert users, "the runtime stage sets no USER: it would run as root"
    uid = users[-1].split(":")[0]
    # Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
    assert uid.isdigit(), f"USER {users[-1]}: want a numeric uid"
    assert int(uid) >= 10000, f"USER {users[-1]}: want a uid >= 10000"


def test_no_secret_is_baked_into_the_image(dockerfile: list[tuple[str, str]]) -> None:
    for keyword, arguments in dockerfile:
        if keyword in {"ENV", "ARG"}:
            names = re.findall(r"(\w+)=", arguments) or [arguments.split()[0]]
            for name in names:
                assert not _SECRETISH.search(name), f"{keyword} {name} would bake a secret in"
        if keyword in {"COPY", "ADD"}:
            assert ".env" not in arguments.split(), arguments


def test_the_image_runs_the_entrypoint_script(image_command: list[str]) -> None:
    assert "/app/deploy/docker/entrypoint.sh" in image_command
    assert image_command[-1] == "serve", "the default command is the server"


# -- the build context (.dockerignore) ------------------------------------------------------


def _dockerignore_patterns() -> list[tuple[bool, str]]:
    patterns = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        patterns.append((negate, pattern.strip("/")))
    return patterns


def _glob_to_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def _in_build_context(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for negate, pattern in _dockerignore_patterns():
        regex = _glob_to_regex(pattern)
        if any(regex.match(candidate) for candidate in candidates):
            included = negate
    return included


@pytest.mark.parametrize(
    "path",
    [
        "pyproject.toml",
        "uv.lock",
        "libs/kit/pyproject.toml",
        "libs/kit/src/emporium/kit/app.py",
        "services/catalog/migrations/env.py",
        "services/catalog/alembic.ini",
        "gateway/src/emporium/gateway/app.py",
        "storefront/pyproject.toml",
        "storefront/src/emporium/storefront/app.py",
        "deploy/docker/entrypoint.sh",
        "deploy/docker/healthcheck.py",
    ],
)
def test_the_build_context_holds_what_the_image_needs(path: str) -> None:
    assert _in_build_context(path)


@pytest.mark.parametrize(
    "path",
    [
        ".git/config",
        ".venv/bin/python",
        "var/infra.env",
        ".env",
        "services/catalog/.env",
        "libs/kit/tests/test_settings.py",
        "services/orders/tests/conftest.py",
        "libs/kit/src/emporium/kit/__pycache__/app.cpython-311.pyc",
        "docker-compose.yml",
        "deploy/k8s/overlays/dev/secrets/catalog.env",
        "bench/results/x.json",
    ],
)
def test_the_build_context_leaves_out_local_state_secrets_and_tests(path: str) -> None:
    assert not _in_build_context(path)


def test_every_workspace_member_is_copied_into_the_build_stage(
    dockerfile: list[tuple[str, str]],
) -> None:
    # `uv sync --frozen` refuses a workspace whose members' pyproject.toml are missing
    # ("Distribution not found"): the dependency layer needs every one, the code layer too.
    members = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"][
        "members"
    ]
    copied = [args.split() for keyword, args in dockerfile if keyword == "COPY"]
    sources = {PurePosixPath(w).as_posix().rstrip("/") for words in copied for w in words[:-1]}
    for member in members:
        assert f"{member}/pyproject.toml" in sources, f"{member}/pyproject.toml is not copied"
        whole = {member, *(str(parent) for parent in PurePosixPath(member).parents)}
        assert whole & sources, f"{member}/ (its code) is not copied"
        assert _in_build_context(f"{member}/pyproject.toml"), f"{member} is .dockerignore'd"


def test_every_file_the_build_copies_is_in_the_context(dockerfile: list[tuple[str, str]]) -> None:
    for keyword, arguments in dockerfile:
        if keyword != "COPY" or "--from=" in arguments:
            continue
        *sources, _destination = [w for w in arguments.split() if not w.startswith("--")]
        for source in sources:
            path = ROOT / source
            assert path.exists(), f"COPY {source}: no such file in the repository"
            files = [path] if path.is_file() else [p for p in path.rglob("*.py") if p.is_file()]
            relative = [p.relative_to(ROOT).as_posix() for p in files]
            assert any(_in_build_context(r) for r in relative), f"COPY {source}: ignored"
