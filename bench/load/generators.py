"""The load generators: wrk (closed loop, saturation) and vegeta (open loop, fixed rate).

Both run as child processes; their CPU is read from ``getrusage(RUSAGE_CHILDREN)`` around
each run (no other child ends meanwhile), and reported as cores used (CPU s / wall s).
wrk connects from many loopback addresses through ``bench/srcaddr.c`` (LD_PRELOAD);
vegeta runs as several processes, each with its own ``-laddr``, so the gateway's
per-address windows each see a share of the load.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.load.addresses import Block
from bench.load.stats import summary

__all__ = ["ROOT", "Load", "Target", "vegeta", "wrk"]

ROOT = Path(__file__).resolve().parents[2]
VEGETA = ROOT / "var/cache/go-bin/vegeta"
SHIM = ROOT / "var/cache/bench/libbench-srcaddr.so"

_WRK_LUA = """
local paths = {%(paths)s}
local tokens = {%(tokens)s}
local i = 0
request = function()
  i = i + 1
  local headers = {}
  if #tokens > 0 then headers["Authorization"] = "Bearer " .. tokens[(i %% #tokens) + 1] end
  return wrk.format("GET", paths[(i %% #paths) + 1], headers)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\\"requests\\":%%d,\\"duration_us\\":%%d,\\"connect\\":%%d,\\"read\\":%%d," ..
    "\\"write\\":%%d,\\"status\\":%%d,\\"timeout\\":%%d,\\"p50_us\\":%%d,\\"p99_us\\":%%d}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True, slots=True)
class Target:
    """What a generator asks: ``paths`` in turn on ``base``, with ``tokens`` in turn."""

    base: str
    paths: tuple[str, ...]
    tokens: tuple[str, ...] = ()


@dataclass
class Load:
    """One generator run's figures."""

    tool: str
    mode: str  # "closed" (saturation) or "open" (fixed rate)
    seconds: float
    connections: int | None
    rate: float | None  # asked requests/s (open loop)
    requests: int
    per_second: float
    latency: dict[str, float | None]
    statuses: dict[str, int]
    errors: int  # transport errors: refused, reset, timeouts (no HTTP status)
    generator_cpu_cores: float
    source_addresses: int
    notes: list[str] = field(default_factory=list)
    # Facts read from answers' headers (vegeta): problem+json 429/503, X-Cache HIT/MISS.
    facts: dict[str, int] = field(default_factory=dict)

    def non_2xx(self) -> int:
        return sum(n for code, n in self.statuses.items() if not code.startswith("2"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "mode": self.mode,
            "seconds": round(self.seconds, 2),
            "connections": self.connections,
            "rate": self.rate,
            "requests": self.requests,
            "per_second": round(self.per_second, 1),
            **self.latency,
            "statuses": self.statuses,
            "transport_errors": self.errors,
            "generator_cpu_cores": round(self.generator_cpu_cores, 2),
            "source_addresses": self.source_addresses,
            "notes": self.notes,
            **({"facts": self.facts} if self.facts else {}),
        }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _lua_list(items: tuple[str, ...]) -> str:
    return ",".join(json.dumps(item) for item in items)


async def wrk(
    target: Target, *, seconds: float, connections: int, source: Block, threads: int = 2
) -> Load:
    """Closed loop: ``connections`` keep-alive connections, each from its own address."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            _WRK_LUA % {"paths": _lua_list(target.paths), "tokens": _lua_list(target.tokens)}
        )
    env = {
        **os.environ,
        "LD_PRELOAD": str(SHIM),
        "BENCH_SRCADDR_BASE": source.base,
        "BENCH_SRCADDR_COUNT": str(source.count),
    }
    cpu0, wall0 = _children_cpu(), time.monotonic()
    process = await asyncio.create_subprocess_exec(
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        script.name,
        target.base,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    wall, cpu = time.monotonic() - wall0, _children_cpu() - cpu0
    os.unlink(script.name)
    text = out.decode(errors="replace")
    line = next((x for x in text.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no figures: {text[-500:]}")
    data = json.loads(line.removeprefix("WRKJSON "))
    duration = data["duration_us"] / 1e6
    non_2xx = 0
    for row in text.splitlines():
        if "Non-2xx or 3xx responses:" in row:
            non_2xx = int(row.split(":")[1])
    transport = data["connect"] + data["read"] + data["write"] + data["timeout"]
    return Load(
        tool="wrk",
        mode="closed",
        seconds=duration,
        connections=connections,
        rate=None,
        requests=data["requests"],
        per_second=data["requests"] / duration if duration else 0.0,
        latency={"p50_ms": data["p50_us"] / 1000, "p99_ms": data["p99_us"] / 1000},
        statuses={"2xx": data["requests"] - non_2xx, "non-2xx": non_2xx}
        if non_2xx
        else {"2xx": data["requests"]},
        errors=transport,
        generator_cpu_cores=cpu / wall if wall else 0.0,
        source_addresses=min(connections, source.count),
    )


def _targets_file(target: Target, directory: str) -> str:
    path = os.path.join(directory, "targets.json")
    with open(path, "w") as out:
        count = max(len(target.paths), len(target.tokens) or 1)
        for i in range(count):
            row: dict[str, Any] = {
                "method": "GET",
                "url": target.base + target.paths[i % len(target.paths)],
            }
            if target.tokens:
                row["header"] = {
                    "Authorization": [f"Bearer {target.tokens[i % len(target.tokens)]}"]
                }
            out.write(json.dumps(row) + "\n")
    return path


async def vegeta(
    target: Target, *, rate: float, seconds: float, source: Block, keep_samples: bool = False
) -> tuple[Load, list[tuple[float, float, int]]]:
    """Open loop at ``rate`` requests/s, split over one process per source address.

    Latency is measured from each request's scheduled send time, so a slow answer does not
    delay the next request (no coordinated omission). With ``keep_samples`` it also returns
    (start epoch s, latency ms, status) of every request, for time series.
    """
    processes = source.count
    addresses = source.addresses()
    per_process = max(1.0, rate / processes)
    with tempfile.TemporaryDirectory(prefix="bench-vegeta-") as directory:
        targets = _targets_file(target, directory)
        cpu0, wall0 = _children_cpu(), time.monotonic()
        runs = []
        for i, address in enumerate(addresses):
            runs.append(
                await asyncio.create_subprocess_exec(
                    str(VEGETA),
                    "attack",
                    "-format=json",
                    f"-targets={targets}",
                    f"-rate={max(1, round(per_process * 10))}/10s",
                    f"-duration={seconds}s",
                    f"-laddr={address}",
                    "-max-body=0",
                    "-timeout=10s",
                    "-http2=false",
                    "-redirects=-1",
                    f"-output={directory}/r{i}.bin",
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                )
            )
        failures = [(await run.communicate())[1] for run in runs]
        wall, cpu = time.monotonic() - wall0, _children_cpu() - cpu0
        bad = [
            f.decode(errors="replace")
            for f, run in zip(failures, runs, strict=True)
            if run.returncode
        ]
        if bad:
            raise RuntimeError(f"vegeta failed: {bad[0][-500:]}")
        files = [f"{directory}/r{i}.bin" for i in range(processes)]
        encoded = await asyncio.create_subprocess_exec(
            str(VEGETA), "encode", "-to=json", *files, stdout=asyncio.subprocess.PIPE
        )
        raw, _ = await encoded.communicate()
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    samples: list[tuple[float, float, int]] = []
    errors = 0
    facts: Counter[str] = Counter()
    first: float | None = None
    last_end = 0.0
    rows = [json.loads(line) for line in raw.splitlines() if line.strip()]
    for row in rows:
        start = _timestamp(row["timestamp"])
        first = start if first is None or start < first else first
    for row in rows:
        code = int(row["code"])
        latency_ms = row["latency"] / 1e6
        start = _timestamp(row["timestamp"])
        last_end = max(last_end, start + latency_ms / 1000)
        if code == 0:
            errors += 1
            statuses["error"] += 1
        else:
            statuses[str(code)] += 1
            latencies.append(latency_ms)
            headers = row.get("headers") or {}
            if code in (429, 503):
                kind = (headers.get("Content-Type") or [""])[0]
                facts[
                    "shed_with_problem_json"
                    if kind.startswith("application/problem+json")
                    else "shed_without_problem_json"
                ] += 1
            cache = (headers.get("X-Cache") or [""])[0]
            if cache:
                facts[f"x_cache_{cache.lower()}"] += 1
        if keep_samples:
            samples.append((start, latency_ms, code))
    span = (last_end - first) if first is not None else seconds
    ok = sum(n for code, n in statuses.items() if code.startswith("2"))
    load = Load(
        tool="vegeta",
        mode="open",
        seconds=span,
        connections=None,
        rate=round(per_process * processes, 1),
        requests=len(rows),
        per_second=ok / span if span else 0.0,
        latency=summary(latencies),
        statuses=dict(sorted(statuses.items())),
        errors=errors,
        generator_cpu_cores=cpu / wall if wall else 0.0,
        source_addresses=processes,
        facts=dict(facts),
    )
    return load, samples


def _timestamp(text: str) -> float:
    """vegeta's RFC 3339 timestamp with nanoseconds -> epoch seconds."""
    from datetime import datetime

    head, _, rest = text.partition(".")
    digits = "".join(ch for ch in rest if ch.isdigit())
    zone = rest[len(digits) :] if rest else text[19:]
    base = datetime.fromisoformat(head + (zone.replace("Z", "+00:00") if zone else "+00:00"))
    return base.timestamp() + (int(digits) / 10 ** len(digits) if digits else 0.0)
