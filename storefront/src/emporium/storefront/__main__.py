"""``python -m emporium.storefront serve``."""

from __future__ import annotations

from emporium.kit.cli import service_main
from emporium.storefront.settings import Settings

if __name__ == "__main__":
    raise SystemExit(
        service_main(
            app_factory="emporium.storefront.app:create_storefront_app",
            settings_factory=Settings,
            migrations=None,
        )
    )
