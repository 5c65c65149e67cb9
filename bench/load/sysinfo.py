"""The machine and the versions of everything the run used, for latest.md."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from pathlib import Path

from bench.load.generators import ROOT, VEGETA

__all__ = ["cpu_ticks", "load_average", "machine", "other_cpu_share", "stolen_share"]


def _run(*command: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    return (done.stdout + done.stderr).strip()


def _first(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    return found.group(1) if found else text.splitlines()[0] if text else "?"


def _kafka_version() -> str:
    pom = ROOT / "deploy/local/kafka/pom.xml"
    try:
        text = pom.read_text()
    except OSError:
        return "?"
    return _first(r"<kafka\.version>([^<]+)</kafka\.version>", text)


def _meminfo_mb(field: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    return 0


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def cpu_ticks() -> tuple[int, int]:
    """(ticks stolen by the hypervisor, all ticks) of every core so far (``/proc/stat``)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    steal = fields[7] if len(fields) > 7 else 0
    return steal, sum(fields[:8])


def stolen_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the cores' time the hypervisor gave to other guests between two
    ``cpu_ticks``: on a shared VM, time the platform wanted and did not get."""
    return round((after[0] - before[0]) / max(1, after[1] - before[1]), 3)


def other_cpu_share(seconds: float = 2.0) -> float:
    """Cores busy over ``seconds`` (before the run: how shared the machine is)."""

    def busy() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields) - idle, sum(fields)

    import time

    b0, t0 = busy()
    time.sleep(seconds)
    b1, t1 = busy()
    cores = os.cpu_count() or 1
    return round(cores * (b1 - b0) / max(1, t1 - t0), 2)


def machine() -> dict[str, object]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    vegeta_stamp = VEGETA.parent / "vegeta.version"
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "ram_mb": _meminfo_mb("MemTotal"),
        "kernel": platform.release(),
        "os": _first(r'PRETTY_NAME="([^"]+)"', Path("/etc/os-release").read_text()),
        "python": sys.version.split()[0],
        "postgresql": _first(r"\(PostgreSQL\) ([\d.]+)", _run("psql", "--version")),
        "kafka": _kafka_version(),
        "redis": _first(r"v=([\d.]+)", _run("redis-server", "--version")),
        "nginx": _first(r"nginx/([\d.]+)", _run("nginx", "-v")),
        "wrk": _first(r"wrk (?:debian/)?([\w.+-]+)", _run("wrk", "-v")),
        "vegeta": vegeta_stamp.read_text().strip() if vegeta_stamp.exists() else "?",
        "load_average_before": load_average(),
    }
