"""``python -m emporium.catalog serve|migrate``."""

from __future__ import annotations

from pathlib import Path

from emporium.catalog.settings import Settings
from emporium.kit.cli import service_main

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"

if __name__ == "__main__":
    raise SystemExit(
        service_main(
            app_factory="emporium.catalog.app:create_service_app",
            settings_factory=Settings,
            migrations=MIGRATIONS,
        )
    )
