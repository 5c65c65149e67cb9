"""``make seed``: the demo data on a running shop (``make up``, or any gateway you name)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

import httpx

from emporium.storefront.seed.api import ApiError
from emporium.storefront.seed.credentials import MissingCredentials, credentials_from_env
from emporium.storefront.seed.run import SeedError, seed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emporium.storefront.seed",
        description="Create the demo catalog and customer through the public API "
        "(idempotent: a second run changes nothing).",
    )
    parser.add_argument(
        "--gateway",
        default=os.environ.get("EMPORIUM_GATEWAY_URL", "http://127.0.0.1:8000"),
        help="the gateway's URL (env EMPORIUM_GATEWAY_URL; default %(default)s)",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        credentials = credentials_from_env(args.gateway)
        report = asyncio.run(seed(args.gateway, credentials))
    except (MissingCredentials, SeedError, ApiError, TimeoutError) as error:
        print(f"[seed] failed: {error}", file=sys.stderr)
        return 1
    except (httpx.HTTPError, OSError) as error:
        print(
            f"[seed] cannot reach {args.gateway}: {error} (is the shop running?)", file=sys.stderr
        )
        return 1
    verdict = f"created {report}" if report.changed else "nothing to do: everything was there"
    print(f"[seed] {verdict} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
