"""``python -m emporium.orders serve|migrate``."""

from __future__ import annotations

from pathlib import Path

from emporium.kit.cli import service_main
from emporium.orders.settings import Settings

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"

if __name__ == "__main__":
    raise SystemExit(
        service_main(
            app_factory="emporium.orders.app:create_service_app",
            settings_factory=Settings,
            migrations=MIGRATIONS,
        )
    )
