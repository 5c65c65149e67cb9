"""``python -m emporium.gateway serve``."""

from __future__ import annotations

from emporium.gateway.settings import Settings
from emporium.kit.cli import service_main

if __name__ == "__main__":
    raise SystemExit(
        service_main(
            app_factory="emporium.gateway.app:create_gateway_app",
            settings_factory=Settings,
            migrations=None,
        )
    )
