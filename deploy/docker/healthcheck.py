"""Container health check: exit 0 when this container's part answers 200 on its probe.

``python healthcheck.py [PATH]`` (default ``/readyz``; ``/healthz`` for liveness). The part
comes from ``SERVICE`` and its port from the part's own settings (``<PREFIX>PORT``), so the
check always asks the port the server listens on. It asks 127.0.0.1: the server binds
0.0.0.0 in a container. Only the standard library and the part's settings are loaded.
"""

from __future__ import annotations

import importlib
import os
import sys
import urllib.error
import urllib.request

__all__ = ["main"]

PARTS = ("catalog", "customers", "orders", "gateway", "storefront")


def main(argv: list[str]) -> int:
    part = os.environ.get("SERVICE", "")
    if part not in PARTS:
        print(f"healthcheck: SERVICE must be one of {', '.join(PARTS)}", file=sys.stderr)
        return 2
    path = argv[1] if len(argv) > 1 else "/readyz"
    settings = importlib.import_module(f"emporium.{part}.settings").Settings()
    url = f"http://127.0.0.1:{settings.port}{path}"
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
