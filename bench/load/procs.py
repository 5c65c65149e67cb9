"""The platform's processes, found from the pid files of `make up`, and their peak RSS.

A sampler reads ``/proc/<pid>/status`` (``VmRSS``) of every process under each pid file
(uv and the Python process it runs, workers if any), of PostgreSQL (the postmaster and its
backends, reported as the largest backend), Redis, Kafka, SeaweedFS, nginx and of the
generators (children of this process) every ``interval`` seconds, keeping each one's peak.
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bench.load.generators import ROOT

__all__ = ["PLATFORM", "RssSampler", "descendants", "foreign_services", "pid_of", "platform_pids"]

RUN = ROOT / "var/run"
PLATFORM = ("gateway", "catalog", "customers", "orders")
INFRA = {"postgres": "postgres", "redis": "redis", "kafka": "kafka", "seaweedfs": "seaweedfs"}


def pid_of(name: str) -> int | None:
    """The live pid in ``var/run/<name>.pid``, else None."""
    try:
        pid = int((RUN / f"{name}.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = defaultdict(list)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree[ppid].append(int(entry.name))
    return tree


def descendants(root: int, tree: dict[int, list[int]] | None = None) -> list[int]:
    """``root`` and every process below it."""
    tree = tree if tree is not None else _children()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(tree.get(pid, []))
    return out


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def platform_pids() -> dict[str, list[int]]:
    """Each service's processes that run Python (not the uv launcher)."""
    tree = _children()
    out: dict[str, list[int]] = {}
    for name in PLATFORM:
        root = pid_of(name)
        if root is not None:
            out[name] = [p for p in descendants(root, tree) if _comm(p).startswith("python")]
    return out


def foreign_services() -> list[int]:
    """Emporium services running that are not this `make up`'s (another platform on the same
    Kafka topics answers this one's events too: its catalog can reject our orders)."""
    # Every process of ours, the uv launchers included (their command line names the
    # service too: counted as foreign, they made each run warn about itself).
    tree = _children()
    roots = [root for root in map(pid_of, PLATFORM) if root is not None]
    ours = {pid for root in roots for pid in descendants(root, tree)}
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in ours:
            continue
        try:
            args = Path(f"/proc/{entry.name}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        names = [a for a in args if a.startswith(b"emporium.") and a != b"emporium.storefront"]
        if b"serve" in args and names:
            found.append(int(entry.name))
    return sorted(found)


@dataclass
class Peak:
    label: str
    pid: int
    command: str
    peak_mb: float


class RssSampler:
    """Samples RSS in the background between ``start()`` and ``stop()``."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.peaks: dict[tuple[str, int], Peak] = {}
        self._task: asyncio.Task[None] | None = None
        self.samples = 0

    def _tracked(self) -> list[tuple[str, int]]:
        tree = _children()
        out: list[tuple[str, int]] = []
        for name in PLATFORM:
            root = pid_of(name)
            if root is not None:
                out += [(name, p) for p in descendants(root, tree)]
        for label, pidfile in INFRA.items():
            root = pid_of(pidfile)
            if root is not None:
                out += [(label, p) for p in descendants(root, tree)]
        nginx = ROOT / "var/bench/nginx/nginx.pid"
        if nginx.exists():
            try:
                out += [("nginx", p) for p in descendants(int(nginx.read_text().split()[0]), tree)]
            except (OSError, ValueError):
                pass
        me = os.getpid()
        out += [
            ("bench", p) for p in descendants(me, tree) if p == me or _comm(p) in ("wrk", "vegeta")
        ]
        return out

    def sample(self) -> None:
        self.samples += 1
        for label, pid in self._tracked():
            rss = _rss_mb(pid)
            if rss is None:
                continue
            key = (label, pid)
            peak = self.peaks.get(key)
            if peak is None:
                self.peaks[key] = Peak(label, pid, _comm(pid), rss)
            elif rss > peak.peak_mb:
                peak.peak_mb = rss

    async def _run(self) -> None:
        while True:
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def report(self) -> list[dict[str, object]]:
        """One row per process; PostgreSQL backends folded into the largest one."""
        rows: list[dict[str, object]] = []
        backends = [
            p for p in self.peaks.values() if p.label == "postgres" and p.pid != pid_of("postgres")
        ]
        for peak in sorted(self.peaks.values(), key=lambda p: (p.label, -p.peak_mb)):
            if peak in backends or peak.command == "uv" or peak.peak_mb < 1:
                continue
            rows.append(
                {
                    "process": peak.label,
                    "command": peak.command,
                    "pid": peak.pid,
                    "peak_rss_mb": round(peak.peak_mb, 1),
                }
            )
        if backends:
            top = max(backends, key=lambda p: p.peak_mb)
            rows.append(
                {
                    "process": "postgres",
                    "command": f"largest of {len(backends)} backends",
                    "pid": top.pid,
                    "peak_rss_mb": round(top.peak_mb, 1),
                }
            )
        return rows
