"""The secret key guard: outside dev a missing, short or published secret key stops the
service at start; ``<PREFIX>SECRET_KEY_FILE`` reads it from a mounted file."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from emporium.kit.settings import (
    DEV_SECRET_KEY,
    KNOWN_SECRET_KEYS,
    MIN_SECRET_KEY_BYTES,
    AuthSettings,
    ServiceSettings,
    secret_key_problem,
)

PREFIX = "KITTEST_"


class Settings(ServiceSettings, AuthSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENVIRONMENT", "SECRET_KEY", "SECRET_KEY_FILE"):
        monkeypatch.delenv(PREFIX + name, raising=False)


def _strong() -> str:
    return secrets.token_hex(32)


def test_dev_runs_on_the_default_secret() -> None:
    settings = Settings()
    assert settings.environment == "dev"
    assert settings.secret_key.get_secret_value() == DEV_SECRET_KEY


@pytest.mark.parametrize("environment", ["test", "prod"])
def test_outside_dev_a_missing_secret_is_refused(environment: str) -> None:
    with pytest.raises(ValidationError, match="secret_key must be set outside dev"):
        Settings(environment=environment)


@pytest.mark.parametrize("environment", ["test", "prod"])
@pytest.mark.parametrize("known", sorted(KNOWN_SECRET_KEYS))
def test_outside_dev_every_published_secret_is_refused(environment: str, known: str) -> None:
    with pytest.raises(ValidationError, match="published in the Emporium repository"):
        Settings(environment=environment, secret_key=known)


def test_a_published_secret_is_refused_whatever_its_case() -> None:
    with pytest.raises(ValidationError, match="published"):
        Settings(environment="prod", secret_key=DEV_SECRET_KEY.upper())


def test_outside_dev_a_short_secret_is_refused() -> None:
    short = "x" * (MIN_SECRET_KEY_BYTES - 1)
    with pytest.raises(ValidationError, match=f"shorter than {MIN_SECRET_KEY_BYTES} bytes"):
        Settings(environment="prod", secret_key=short)
    # Bytes, not characters: 16 two-byte characters are 32 bytes.
    assert Settings(environment="prod", secret_key="é" * 16).environment == "prod"


def test_outside_dev_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="empty"):
        Settings(environment="prod", secret_key="   ")


def test_outside_dev_a_long_random_secret_is_accepted() -> None:
    value = _strong()
    settings = Settings(environment="prod", secret_key=value)
    assert settings.secret_key.get_secret_value() == value


def test_the_environment_variable_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PREFIX + "ENVIRONMENT", "prod")
    monkeypatch.setenv(PREFIX + "SECRET_KEY", "CHANGE-ME-long-random")
    with pytest.raises(ValidationError, match="published"):
        Settings()
    monkeypatch.setenv(PREFIX + "SECRET_KEY", _strong())
    assert Settings().environment == "prod"


def test_the_secret_is_read_from_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    value = _strong()
    path = tmp_path / "secret_key"
    path.write_text(value + "\n")  # as `openssl rand -hex 32 > file` writes it
    monkeypatch.setenv(PREFIX + "ENVIRONMENT", "prod")
    monkeypatch.setenv(PREFIX + "SECRET_KEY_FILE", str(path))
    assert Settings().secret_key.get_secret_value() == value


def test_a_published_secret_in_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    path.write_text(DEV_SECRET_KEY)
    with pytest.raises(ValidationError, match="published"):
        Settings(environment="prod", secret_key_file=path)


def test_a_missing_or_empty_file_is_refused_even_in_dev(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot be read"):
        Settings(secret_key_file=tmp_path / "absent")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValidationError, match="is empty"):
        Settings(secret_key_file=tmp_path / "empty")


def test_the_key_and_the_file_together_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    path.write_text(_strong())
    with pytest.raises(ValidationError, match="not both"):
        Settings(environment="prod", secret_key=_strong(), secret_key_file=path)


def test_secret_key_problem_names_the_reason() -> None:
    assert secret_key_problem(_strong()) is None
    assert "published" in (secret_key_problem("CHANGE-ME") or "")
    assert "shorter" in (secret_key_problem("a-random-but-short-value") or "")
