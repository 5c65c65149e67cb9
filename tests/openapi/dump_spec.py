"""Write the public OpenAPI document (what the gateway serves at /api/v1/openapi.json) to a file.

Built in-process from the three services' apps and the gateway's ``merge``, exactly as the
gateway's aggregator does (same order of services, same title): nothing needs to run.

    uv run python tests/openapi/dump_spec.py api.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def document() -> dict[str, Any]:
    from emporium.catalog.app import create_service_app as catalog
    from emporium.customers.app import create_service_app as customers
    from emporium.gateway.app import DESCRIPTION, TITLE, VERSION
    from emporium.gateway.openapi import merge
    from emporium.orders.app import create_service_app as orders

    # The gateway's order (its settings' upstreams): it decides which of two schemas with
    # one name keeps it and which is renamed <Service><Name>.
    specs = {"catalog": catalog(), "customers": customers(), "orders": orders()}
    return merge(
        {name: app.openapi() for name, app in specs.items()},
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
    )


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: dump_spec.py OUTPUT.json", file=sys.stderr)
        return 2
    Path(argv[1]).write_text(json.dumps(document(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
