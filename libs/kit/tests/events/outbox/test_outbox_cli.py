"""``emporium-outbox``'s command line: where the database comes from, usage and exit codes."""

from __future__ import annotations

import argparse

import pytest

from emporium.kit.outbox_cli import EXIT_UNAVAILABLE, database_url, main


def args(**given: str | None) -> argparse.Namespace:
    return argparse.Namespace(database_url=given.get("database_url"), service=given.get("service"))


def test_the_database_comes_from_the_flag_the_service_prefix_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CATALOG_DATABASE_URL", "sqlite+aiosqlite:///catalog.db")
    monkeypatch.setenv("EMPORIUM_DATABASE_URL", "sqlite+aiosqlite:///any.db")
    assert database_url(args(database_url="sqlite+aiosqlite:///x.db")) == "sqlite+aiosqlite:///x.db"
    assert database_url(args(service="catalog")) == "sqlite+aiosqlite:///catalog.db"
    assert database_url(args()) == "sqlite+aiosqlite:///any.db"
    monkeypatch.delenv("EMPORIUM_DATABASE_URL")
    assert database_url(args()) is None
    assert database_url(args(service="orders")) is None


@pytest.mark.parametrize(
    "argv",
    [
        ["retry", "--database-url", "sqlite+aiosqlite:///x.db"],  # neither ROW nor --all
        ["retry", "--database-url", "sqlite+aiosqlite:///x.db", "--all", "3"],  # both
        ["list"],  # no database at all
        ["list", "--status", "lost", "--database-url", "sqlite+aiosqlite:///x.db"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMPORIUM_DATABASE_URL", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2


def test_a_database_that_does_not_answer_exits_3() -> None:
    url = "postgresql+asyncpg://nobody:nothing@127.0.0.1:9/outbox"  # port 9: nothing listens
    assert main(["list", "--database-url", url]) == EXIT_UNAVAILABLE
