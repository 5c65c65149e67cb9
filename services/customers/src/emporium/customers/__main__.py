"""``python -m emporium.customers serve|migrate|rotate-keys``."""

from __future__ import annotations

import sys
from pathlib import Path

from emporium.customers.settings import Settings
from emporium.kit.cli import service_main

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"

if __name__ == "__main__":
    if sys.argv[1:2] == ["rotate-keys"]:
        from emporium.customers.keys_cli import rotate_keys

        raise SystemExit(rotate_keys(sys.argv[2:]))
    raise SystemExit(
        service_main(
            app_factory="emporium.customers.app:create_service_app",
            settings_factory=Settings,
            migrations=MIGRATIONS,
        )
    )
