"""Benchmark: the gateway's upstream HTTP client, httpx vs aiohttp, on a proxied GET.

The upstream is a tiny ASGI app (a ~1 KB JSON answer, like a product) served by uvicorn in
a separate process, so the client's cost is what differs between the rows. Each client is
set up the way the gateway uses it: one pooled client for the process, the response body
read as a stream of chunks (what the proxy forwards), no decompression. ``requests``
GETs run with ``concurrency`` in flight; every client runs ``rounds`` times, alternating,
and the best round counts (the least disturbed by the rest of the machine).

Writes ``bench/results/gateway_client.{json,md}`` with the ratios against the first row.
Needs no infrastructure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
import httpx

RESULTS = Path(__file__).parent / "results"

_UPSTREAM = """
import json
BODY = json.dumps({"id": "0196", "name": "x" * 900, "price": {"amount": 1999}}).encode()
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
"""


@dataclass
class Result:
    client: str
    requests: int
    concurrency: int
    seconds: float
    per_second: float
    p50_ms: float
    p99_ms: float
    ratio: float = 1.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return


Fetch = Callable[[], Awaitable[int]]


async def _run(fetch: Fetch, requests: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue = iter(range(requests))

    async def worker() -> None:
        for _ in queue:
            begun = time.perf_counter()
            size = await fetch()
            assert size > 0
            latencies.append(time.perf_counter() - begun)

    begun = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - begun, latencies


async def main(requests: int, concurrency: int, rounds: int) -> list[Result]:
    port = _free_port()
    scratch = tempfile.TemporaryDirectory()
    workdir = Path(scratch.name)
    (workdir / "bench_upstream.py").write_text(_UPSTREAM)
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench_upstream:app", "--port", str(port),
         "--log-level", "warning", "--no-access-log"],
        cwd=workdir,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/products/1"
    try:
        await _wait_listening(port)
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        httpx_client = httpx.AsyncClient(timeout=5.0, limits=limits)
        aiohttp_session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100),
            timeout=aiohttp.ClientTimeout(total=None, connect=2.0, sock_read=5.0),
            auto_decompress=False,
        )

        async def via_httpx() -> int:
            size = 0
            async with httpx_client.stream("GET", url) as response:
                async for chunk in response.aiter_raw():
                    size += len(chunk)
            return size

        async def via_aiohttp() -> int:
            size = 0
            async with aiohttp_session.get(url, allow_redirects=False) as response:
                async for chunk in response.content.iter_any():
                    size += len(chunk)
            return size

        clients: dict[str, Fetch] = {"httpx": via_httpx, "aiohttp": via_aiohttp}
        best: dict[str, tuple[float, list[float]]] = {}
        for fetch in clients.values():  # warm up: connections, caches
            await _run(fetch, 200, concurrency)
        for _ in range(rounds):
            for name, fetch in clients.items():
                seconds, latencies = await _run(fetch, requests, concurrency)
                if name not in best or seconds < best[name][0]:
                    best[name] = (seconds, latencies)
        await httpx_client.aclose()
        await aiohttp_session.close()
    finally:
        server.terminate()
        server.wait(10)
        scratch.cleanup()

    results = []
    for name, (seconds, latencies) in best.items():
        cuts = statistics.quantiles(latencies, n=100)
        results.append(
            Result(
                client=name,
                requests=requests,
                concurrency=concurrency,
                seconds=round(seconds, 3),
                per_second=round(requests / seconds),
                p50_ms=round(statistics.median(latencies) * 1000, 2),
                p99_ms=round(cuts[98] * 1000, 2),
            )
        )
    for result in results:
        result.ratio = round(result.per_second / results[0].per_second, 2)
    return results


def write(results: list[Result], rounds: int) -> None:
    RESULTS.mkdir(exist_ok=True)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    meta = {"when": when, "machine": machine, "rounds": rounds}
    payload = {"meta": meta, "results": [asdict(r) for r in results]}
    (RESULTS / "gateway_client.json").write_text(json.dumps(payload, indent=2) + "\n")
    first = results[0]
    lines = [
        "# Gateway upstream client: httpx vs aiohttp",
        "",
        f"{first.requests} streamed GETs of a ~1 KB JSON answer, {first.concurrency} in flight, "
        f"best of {rounds} rounds; upstream: uvicorn in another process; {machine}; {when}.",
        "Ratios are against the first row (higher is faster).",
        "",
        "| client | requests/s | p50 | p99 | ratio |",
        "| --- | ---: | ---: | ---: | ---: |",
        *(
            f"| {r.client} | {r.per_second:,} | {r.p50_ms} ms | {r.p99_ms} ms | {r.ratio:.2f}x |"
            for r in results
        ),
        "",
    ]
    (RESULTS / "gateway_client.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    write(asyncio.run(main(args.requests, args.concurrency, args.rounds)), args.rounds)
