"""Container health check: exit 0 when this container's part answers 200 on its probe.

``python healthcheck.py [PATH]`` (default ``/readyz``; ``/healthz`` for liveness). The part
comes from ``SERVICE`` and its port from ``<PREFIX>PORT``, the variable the part's settings
read, so the check always asks the port the server listens on; without it, the settings'
default port. It asks 127.0.0.1: the server binds 0.0.0.0 in a container.

The engine runs this every 10 s in every container: with ``<PREFIX>PORT`` set (compose and
Kubernetes set it) only the standard library is loaded (~30 ms). Importing the settings
(pydantic) costs ~0.5 s of CPU per run, which on a loaded 2-core machine made the check
overrun its 5 s timeout and compose call healthy services unhealthy (make test-compose).
"""

from __future__ import annotations

import importlib
import os
import sys
import urllib.error
import urllib.request

__all__ = ["main"]

PARTS = ("catalog", "customers", "orders", "gateway", "storefront")
#: Each part's settings prefix (env_prefix of its Settings; tests/deploy checks they agree).
PREFIXES = {part: f"{part.upper()}_" for part in PARTS}


def port_of(part: str) -> int:
    """The port the part's server listens on: ``<PREFIX>PORT``, else its settings' default."""
    # pydantic-settings matches variable names case-insensitively: so does this.
    wanted = PREFIXES[part] + "PORT"
    for name, value in os.environ.items():
        if name.upper() == wanted and value.strip():
            return int(value)
    settings = importlib.import_module(f"emporium.{part}.settings").Settings()
    return int(settings.port)


def main(argv: list[str]) -> int:
    part = os.environ.get("SERVICE", "")
    if part not in PARTS:
        print(f"healthcheck: SERVICE must be one of {', '.join(PARTS)}", file=sys.stderr)
        return 2
    path = argv[1] if len(argv) > 1 else "/readyz"
    try:
        port = port_of(part)
    except ValueError as error:
        print(f"healthcheck: {PREFIXES[part]}PORT is not a port: {error}", file=sys.stderr)
        return 2
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            status = int(response.status)
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError as error:
        print(f"healthcheck: {url}: {error}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"healthcheck: {url} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
