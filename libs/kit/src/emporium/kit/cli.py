"""The command line every service shares: ``python -m emporium.<service> serve|migrate``.

``migrate`` applies the service's Alembic migrations to ``<PREFIX>DATABASE_URL``; ``serve``
runs uvicorn (uvloop, httptools) on ``<PREFIX>HOST``/``<PREFIX>PORT`` with
``<PREFIX>WORKERS`` HTTP worker processes, the background loops in one of them
(``emporium.kit.runner``); ``--workers`` overrides the setting, and ``WEB_WORKERS`` is read
when ``<PREFIX>WORKERS`` is not set (the older name). ``--migrate`` first applies
migrations, for the embedded default and the container.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from emporium.kit.migrations import upgrade_to_head
from emporium.kit.settings import DatabaseSettings, ServiceSettings

__all__ = ["service_main"]


def service_main(
    *,
    app_factory: str,
    settings_factory: Callable[[], ServiceSettings],
    migrations: Path | None,
    argv: list[str] | None = None,
) -> int:
    """Run the service's CLI; ``app_factory`` is ``"module:function"`` returning the app."""
    settings = settings_factory()
    parser = argparse.ArgumentParser(prog=f"python -m emporium.{settings.service_name}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP server (and its event workers)")
    serve.add_argument("--migrate", action="store_true", help="apply migrations first")
    serve.add_argument(
        "--workers", type=int, default=None, help="HTTP worker processes (<PREFIX>WORKERS)"
    )
    commands.add_parser("migrate", help="apply the database migrations and exit")
    args = parser.parse_args(argv)

    if args.command == "migrate" or getattr(args, "migrate", False):
        if migrations is None or not isinstance(settings, DatabaseSettings):
            parser.error(f"{settings.service_name} has no database to migrate")
        upgrade_to_head(migrations, settings.database_url)
        if args.command == "migrate":
            print(f"{settings.service_name}: database is at the latest migration")
            return 0

    from emporium.kit.runner import serve as run_server

    return run_server(
        app_factory,
        host=settings.host,
        port=settings.port,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        workers=_workers(args.workers, settings),
    )


def _workers(given: int | None, settings: ServiceSettings) -> int:
    """``--workers``, else ``<PREFIX>WORKERS``, else ``WEB_WORKERS``, else 1."""
    if given is not None:
        return max(1, given)
    if "workers" in settings.model_fields_set:
        return settings.workers
    return max(1, int(os.environ.get("WEB_WORKERS", "1")))
