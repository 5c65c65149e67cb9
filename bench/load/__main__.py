"""`make bench`: every scenario of issue 12 against the running `make up`.

python -m bench.load            # the full run (~12 min): bench/results/latest.{json,md}
python -m bench.load --smoke    # a few seconds of each scenario: var/bench/smoke/
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.load import procs
from bench.load.addresses import Pool
from bench.load.context import Context, Sizes
from bench.load.generators import ROOT
from bench.load.nginx import Nginx
from bench.load.report import markdown
from bench.load.scenarios import (
    browsing,
    checkout,
    freshness,
    overload,
    pipeline,
    reads,
    shoppers,
)
from bench.load.seed import prepare
from bench.load.sysinfo import cpu_ticks, load_average, machine, other_cpu_share, stolen_share
from bench.load.targets import judge

SHOWN = (
    "RATE_LIMIT",
    "TRUSTED_PROXIES",
    "RESPONSE_CACHE",
    "WORKERS",
    "UPSTREAM_",
    "POOL",
    "LINGER",
    "INTERVAL",
)
SECRET = ("SECRET", "PASSWORD", "TOKEN", "_KEY")


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(): v.decode(errors="replace") for k, v in pairs}


def _nofile(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return int(line.split()[3])
    except (OSError, ValueError):
        return None
    return None


def settings() -> tuple[dict[str, Any], list[str]]:
    """The services' settings that matter here (from their environment), and notes."""
    found: dict[str, Any] = {}
    notes: list[str] = []
    for name, pids in procs.platform_pids().items():
        if not pids:
            continue
        env = _environ(pids[0])
        prefix = name.upper() + "_"
        chosen = {
            k: v
            for k, v in env.items()
            if k.startswith(prefix)
            and any(s in k for s in SHOWN)
            and not any(s in k for s in SECRET)
        }
        nofile = _nofile(pids[0])
        if nofile is not None and nofile < 16384 and os.geteuid() == 0:
            for pid in pids:
                subprocess.run(["prlimit", f"--pid={pid}", "--nofile=65536:65536"], check=False)
            notes.append(
                f"{name}: open files raised from {nofile} to 65536 (prlimit) for 5,000 connections"
            )
            nofile = 65536
        found[name] = {"processes": len(pids), "open_files": nofile, "env": chosen}
    return found, notes


async def _limits(gateway: str, pool: Pool, token: str) -> tuple[int, int]:
    """The gateway's per-window limits, from its RateLimit-Limit headers (anonymous, customer)."""
    out = []
    for bearer in (None, token):
        connector = aiohttp.TCPConnector(local_addr=(pool.block(1).addresses()[0], 0))
        async with aiohttp.ClientSession(connector=connector) as session:
            headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
            async with session.get(f"{gateway}/api/v1/categories", headers=headers) as answer:
                out.append(int(answer.headers.get("RateLimit-Limit", "0")) or 300)
    return out[0], out[1]


async def settled(catalog: str, pool: Pool, *, within: float = 60.0) -> float:
    """Wait until an (uncached) catalog listing answers 200 in under 0.5 s: the last
    scenario's backlog has drained. Returns the seconds waited."""
    begin = time.monotonic()
    connector = aiohttp.TCPConnector(local_addr=(pool.block(1).addresses()[0], 0))
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        while time.monotonic() - begin < within:
            sent = time.monotonic()
            try:
                async with session.get(f"{catalog}/products?limit=1&sort=price") as answer:
                    await answer.read()
                    if answer.status == 200 and time.monotonic() - sent < 0.5:
                        break
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.5)
    return time.monotonic() - begin


def trusted_note(trusted: str) -> str:
    """What GATEWAY_TRUSTED_PROXIES means for the generators' addresses."""
    if not trusted:
        return (
            "GATEWAY_TRUSTED_PROXIES empty: no proxy trusted, so each connection's peer "
            "address is the client the limits count (nginx fronts only the catalog here)"
        )
    return (
        f"GATEWAY_TRUSTED_PROXIES={trusted}: the generators never connect from 127.0.0.1 (their "
        "addresses are 127.16.0.0 and up), so none of their requests comes from a trusted proxy: "
        "each connection's own peer address is the client the limits count"
    )


def merged(base: dict[str, Any], rerun: dict[str, Any], names: set[str]) -> dict[str, Any]:
    """``base`` with the scenarios ``names`` taken from ``rerun`` (and said so)."""
    for name in names:
        if name in rerun:
            base[name] = rerun[name]
            base.setdefault("errors", {}).pop(name, None)
            if name in rerun.get("errors", {}):
                base["errors"][name] = rerun["errors"][name]
    peaks = {(r["process"], r["command"]): r for r in base.get("rss") or []}
    for row in rerun.get("rss") or []:
        key = (row["process"], row["command"])
        if key not in peaks or row["peak_rss_mb"] > peaks[key]["peak_rss_mb"]:
            peaks[key] = row
    base["rss"] = sorted(
        peaks.values(), key=lambda r: (str(r["process"]), -float(r["peak_rss_mb"]))
    )
    base["settings_notes"].append(
        f"re-run at {rerun['started_at']} "
        f"(load average then {rerun['machine']['load_average_before']}): "
        + ", ".join(sorted(names))
        + " (the first attempt's figures are replaced)"
    )
    base["targets"] = judge(base)
    return base


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a few seconds of every scenario")
    parser.add_argument("--out", type=Path, default=None, help="where latest.{json,md} go")
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    parser.add_argument("--catalog", default="http://127.0.0.1:8001")
    parser.add_argument("--nginx-port", type=int, default=8091)
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated scenarios "
        "(reads,shoppers,freshness,browsing,checkout,overload,pipeline)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="with --only: put the re-run scenarios into the existing latest.json of --out",
    )
    args = parser.parse_args(argv)
    sizes = Sizes.quick() if args.smoke else Sizes.full()
    out_dir = args.out or (ROOT / ("var/bench/smoke" if args.smoke else "bench/results"))
    only = {s for s in args.only.split(",") if s}
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))

    started = time.monotonic()
    facts = machine()
    facts["busy_cores_before"] = other_cpu_share(3)
    pool = Pool()
    log(
        f"{'smoke' if args.smoke else 'full'} run; machine {facts['cores']} cores, "
        f"{facts['busy_cores_before']} busy before the run"
    )
    shop = await prepare(
        args.gateway,
        args.catalog,
        products=sizes.products,
        customers=sizes.checkout_customers,
        pool=pool,
        valid_for=840,
    )
    log(
        f"shop: {len(shop.products)} products, {len(shop.customers)} customers signed in "
        f"({time.monotonic() - started:.0f} s)"
    )
    anonymous, customer = await _limits(args.gateway, pool, shop.customers[0].token)
    service_settings, notes = settings()
    window = int(
        service_settings.get("gateway", {})
        .get("env", {})
        .get("GATEWAY_RATE_LIMIT_WINDOW_SECONDS", 60)
    )
    ctx = Context(
        args.gateway,
        args.catalog,
        f"http://127.0.0.1:{args.nginx_port}",
        shop,
        pool,
        sizes,
        anonymous,
        customer,
        window,
    )
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "smoke" if args.smoke else "full",
        "machine": facts,
        "settings": service_settings,
        "errors": {},
    }
    foreign = procs.foreign_services()
    if foreign:
        results["foreign_services"] = foreign
        log(f"other Emporium services run beside this make up (pids {foreign}): same topics")
    sampler = procs.RssSampler()
    sampler.start()

    async def step(name: str, work: Callable[[], Awaitable[Any]]) -> Any:
        if only and name not in only:
            return None
        waited = await settled(args.catalog, pool)
        log(f"--- {name} (platform settled after {waited:.1f} s)")
        ticks = cpu_ticks()
        try:
            results[name] = await work()
        except Exception as error:  # one broken scenario must not lose the others' figures
            traceback.print_exc()
            results[name] = {"error": f"{type(error).__name__}: {error}"}
            results["errors"][name] = results[name]["error"]
        results["machine"].setdefault("stolen", {})[name] = stolen_share(ticks, cpu_ticks())
        return results[name]

    async with Nginx(args.nginx_port, args.catalog.removeprefix("http://")):
        await step("reads", lambda: reads.run(ctx, log))
    await step("shoppers", lambda: shoppers.run(ctx, log))
    await step("freshness", lambda: freshness.run(ctx, log))
    await step("browsing", lambda: browsing.run(ctx, log))
    await prepare(
        args.gateway,
        args.catalog,
        products=sizes.products,
        customers=sizes.checkout_customers,
        pool=pool,
        valid_for=400,
    )
    await step("checkout", lambda: checkout.run(ctx, log))
    saturation = (
        ((results.get("reads") or {}).get("product gateway token") or {}).get("saturation") or {}
    ).get("per_second") or 100.0
    await step("overload", lambda: overload.run(ctx, float(saturation), log))
    await step("pipeline", lambda: pipeline.run(ctx, log))
    await sampler.stop()

    results["rss"] = sampler.report()
    results["rss_samples"] = sampler.samples
    results["duration_s"] = round(time.monotonic() - started, 1)
    results["machine"]["load_average_after"] = load_average()
    results["targets"] = judge(results)
    results["shoppers_doc"] = " ".join((shoppers.__doc__ or "").split())
    results["browsing_doc"] = " ".join((browsing.__doc__ or "").split())
    busy = facts["busy_cores_before"]
    assert isinstance(busy, float)
    if busy > 0.3 or facts["load_average_before"][0] > 1.0:  # type: ignore[index]
        results["shared_machine"] = (
            f"{busy} of {facts['cores']} cores busy and load average "
            f"{facts['load_average_before']} before it started"
        )
    gateway_env = service_settings.get("gateway", {}).get("env", {})
    results["settings_notes"] = [
        *notes,
        f"gateway rate limits (requests per {window} s window): {anonymous} per anonymous client "
        "address, "
        f"{customer} per customer (`RateLimit-Limit`), enforced in Redis on every request; every "
        "generator "
        "spreads its load over enough loopback source addresses (wrk: one per connection through "
        "`bench/srcaddr.c`; vegeta: one `-laddr` per process, at most 40 % of a window each; "
        "shoppers: 5 per "
        "address) that no address or customer reaches its limit: each 429 is counted below",
        trusted_note(gateway_env.get("GATEWAY_TRUSTED_PROXIES", "")),
        "services' settings from their environment: "
        + "; ".join(
            f"{name}: {s['processes']} process(es), open files {s['open_files']}"
            + (
                ", " + ", ".join(f"{k}={v}" for k, v in sorted(s["env"].items()))
                if s["env"]
                else ""
            )
            for name, s in service_settings.items()
        ),
        "nginx: `bench/nginx/nginx.conf` (worker_processes auto, upstream keepalive 128, 4 s "
        "idle) in front of "
        f"the same catalog at {args.catalog}",
        f"sizes: {json.dumps(sizes.__dict__)}",
    ]
    if foreign:
        results["settings_notes"].append(
            f"**{len(foreign)} other Emporium service processes** (pids {foreign}, e.g. test "
            "platforms) ran during this run on the same Kafka topics: their catalogs answer this "
            "platform's orders too (an order they reject as out of stock counts as rejected here)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.keep and only and (out_dir / "latest.json").exists():
        results = merged(json.loads((out_dir / "latest.json").read_text()), results, only)
    (out_dir / "latest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (out_dir / "latest.md").write_text(markdown(results))
    log(f"wrote {out_dir / 'latest.json'} and latest.md in {results['duration_s']:.0f} s")
    for target in results["targets"]:
        log(
            f"{'MET ' if target['met'] else 'NOT ' if target['met'] is False else '--  '} "
            f"{target['target']}: {target['figure']}"
        )
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    sys.exit(asyncio.run(main()))
