"""No secret key written in the repository's deploy files could run a service outside dev.

Every value given to a secret key in docker-compose.yml, the Kubernetes manifests and their
env files, the examples and deploy/README.md (``<PREFIX>SECRET_KEY=...``, kustomize's
``secret_key=...``, compose's ``${..._SECRET_KEY:-...}`` fallbacks) must be one the settings
refuse outside dev: in ``emporium.kit.settings.KNOWN_SECRET_KEYS``, or too short to pass.
A new example value therefore fails here until it is added to that list.
"""

from __future__ import annotations

import importlib
import re
import secrets
from pathlib import Path

import pytest
from pydantic import ValidationError

from emporium.kit.settings import DEV_SECRET_KEY, KNOWN_SECRET_KEYS, secret_key_problem

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("catalog", "customers", "orders", "gateway")
#: Where deployment values live: compose, Kubernetes, their env files and examples, docs.
SCANNED_SUFFIXES = {".yml", ".yaml", ".env", ".example", ".md", ".properties", ".sh"}

# FOO_SECRET_KEY=value, FOO_SECRET_KEY: value, secret_key=value (not S3's key, not *_FILE).
_ASSIGNMENT = re.compile(
    r"""(?P<key>\b[A-Za-z0-9_]*(?<![Ss]3_)SECRET_KEY)\b(?!_)\s*[:=]\s*["']?(?P<value>[^\s"'#]*)""",
    re.IGNORECASE,
)
_FALLBACK = re.compile(r"\$\{(?P<var>\w*(?<!S3_)SECRET_KEY)(?::?-(?P<default>[^}]*))?\}")


def scanned_files() -> list[Path]:
    """docker-compose.yml and every deployment file under deploy/ (not the test tools)."""
    files = [ROOT / "docker-compose.yml"]
    files += [
        path
        for path in sorted((ROOT / "deploy").rglob("*"))
        if path.is_file() and (path.suffix in SCANNED_SUFFIXES or ".example" in path.parts[-2])
    ]
    files += sorted(ROOT.glob("*.env.example")) + sorted(ROOT.glob(".env.example"))
    return files


def secret_values(text: str) -> list[str]:
    """The secret key values written in ``text`` (references, empty values and comment
    lines left out)."""
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    values = []
    for match in _FALLBACK.finditer(text):
        if match.group("default"):
            values.append(match.group("default"))
    for match in _ASSIGNMENT.finditer(text):
        value = match.group("value")
        if not value or value.startswith(("$", "<")):
            continue  # a reference (${VAR}, $(openssl ...)) or a <placeholder>
        values.append(value)
    return values


def secret_values_in_docs(text: str) -> list[str]:
    """Markdown: its headings are not comments, but its code blocks' comments are."""
    return secret_values(text.replace("\n#", "\n"))


def test_every_secret_key_value_in_the_repository_is_refused_outside_dev() -> None:
    found: dict[str, list[str]] = {}
    for path in scanned_files():
        text = path.read_text(errors="replace")
        for value in secret_values(text) if path.suffix != ".md" else secret_values_in_docs(text):
            found.setdefault(value, []).append(str(path.relative_to(ROOT)))
    accepted = {v: where for v, where in found.items() if secret_key_problem(v) is None}
    assert not accepted, (
        "secret key values that a prod service would accept; add them to "
        f"emporium.kit.settings.KNOWN_SECRET_KEYS (or remove them): {accepted}"
    )
    # The scan sees the dev overlay's generated key (a published value, dev only).
    assert "dev-overlay-only-secret-key-refused-outside-environment-dev" in found
    assert "dev-overlay-only-secret-key-refused-outside-environment-dev" in KNOWN_SECRET_KEYS


def test_the_scan_finds_a_new_example_value() -> None:
    fresh = "a-new-example-secret-value-of-forty-bytes!"
    for text in (
        f"CATALOG_SECRET_KEY={fresh}\n",
        f'      GATEWAY_SECRET_KEY: "{fresh}"\n',
        f"      - secret_key={fresh}\n",
        f"  X: ${{EMPORIUM_SECRET_KEY:-{fresh}}}\n",
    ):
        values = secret_values(text)
        assert fresh in values, text
        assert secret_key_problem(fresh) is None  # would pass: the test above would fail
    # Not a secret key: S3's, a file path, a reference, an empty fallback.
    for text in (
        "CATALOG_S3_SECRET_KEY=x\n",
        "CATALOG_SECRET_KEY_FILE=/secrets/secret_key\n",
        "--from-literal=secret_key=$(openssl rand -hex 32)\n",
        "EMPORIUM_SECRET_KEY: ${EMPORIUM_SECRET_KEY:-}\n",
    ):
        assert secret_values(text) == [], text


@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("environment", ["test", "prod"])
def test_every_part_refuses_to_start_outside_dev_without_a_strong_key(
    part: str, environment: str, clean_environ: pytest.MonkeyPatch
) -> None:
    """The guard is in every part's settings: the services and the gateway alike."""
    settings = importlib.import_module(f"emporium.{part}.settings").Settings
    for weak in (None, DEV_SECRET_KEY, "CHANGE-ME-long-random", "x" * 31):
        given = {} if weak is None else {"secret_key": weak}
        with pytest.raises(ValidationError, match="secret_key"):
            settings(environment=environment, **given)
    strong = secrets.token_hex(32)
    assert settings(environment=environment, secret_key=strong).secret_key.get_secret_value()
    assert settings(environment="dev").secret_key.get_secret_value() == DEV_SECRET_KEY
