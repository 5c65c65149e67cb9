"""tests/containers/build.sh builds a stand-in for exactly the base images the project's files
name (make test-compose runs those files unmodified, on a machine without a registry): a
version bumped in docker-compose.yml or the Dockerfile without its stand-in fails here,
not twenty minutes into a compose run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.deploy.conftest import dockerfile_instructions

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "tests" / "containers" / "build.sh"


def _short(image: str) -> str:
    """An image name as written in our files (Docker Hub's default prefixes dropped)."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if image.startswith(prefix):
            return image.removeprefix(prefix)
    return image


def _standins() -> set[str]:
    text = BUILD.read_text()
    versions = dict(re.findall(r"^([A-Z_]+_VERSION)=(\S+)$", text, re.MULTILINE))
    tags = re.findall(r"^[A-Z]+_TAG=(\S+)$", text, re.MULTILINE)
    return {_short(re.sub(r"\$(\w+)", lambda m: versions[m.group(1)], tag)) for tag in tags}


def _dockerfile_bases() -> set[str]:
    instructions = dockerfile_instructions(ROOT / "deploy" / "docker" / "Dockerfile")
    args = dict(a.split("=", 1) for k, a in instructions if k == "ARG" and "=" in a)
    stages: set[str] = set()
    bases: set[str] = set()
    for keyword, arguments in instructions:
        if keyword != "FROM":
            continue
        words = [w for w in arguments.split() if not w.startswith("--")]
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args[m.group(1)], words[0])
        if image not in stages:
            bases.add(image)
        if len(words) == 3 and words[1].upper() == "AS":
            stages.add(words[2])
    return bases


def test_every_base_image_our_files_name_has_a_stand_in(compose: dict[str, Any]) -> None:
    services = compose["services"].values()
    pulled = {str(s["image"]) for s in services if "build" not in s and not s.get("profiles")}
    named = pulled | _dockerfile_bases()
    standins = _standins()
    assert named <= standins, f"no stand-in in tests/containers for {sorted(named - standins)}"
    assert standins <= named, f"stand-ins for images nothing names: {sorted(standins - named)}"
