"""Probes and scrape endpoint: ``/healthz`` (liveness), ``/readyz`` (readiness), ``/metrics``.

- ``/healthz`` answers 200 unless a worker reports a problem: it must not depend on the
  database or the bus (a database outage should not get every pod restarted), but a stuck
  worker (a consumer that stopped polling) only recovers by a restart, so it fails then.
- ``/readyz`` runs every readiness check concurrently, each bounded by a timeout, and
  answers 503 naming the failed ones: the pod is taken out of load balancing meanwhile.
  A worker that waits for a dependency (``ReportsReadiness``: a consumer whose database is
  away) is one more check, named after the worker, failing with what it waits for
  (``consumer catalog.orders: database unavailable since ...``) while liveness stays 200.
  A check registered with ``critical=False`` (the cache) is reported but never fails it.
- ``/metrics`` is the kit's Prometheus registry in the text format.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from emporium.kit.errors import problem_response, problem_type
from emporium.kit.metrics import REGISTRY
from emporium.kit.workers import ReportsReadiness, Worker

__all__ = ["CheckResult", "Probes", "ReadinessCheck", "health_router"]

log = logging.getLogger("emporium.health")

#: An async callable that returns when the dependency answers and raises when it does not.
ReadinessCheck = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one readiness check."""

    ok: bool
    duration_ms: float
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": "ok" if self.ok else "failed",
            "duration_ms": self.duration_ms,
        }
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass
class Probes:
    """What the probes consult: the workers (liveness) and the readiness checks."""

    check_timeout: float = 2.0
    checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    #: Checks whose failure is reported (``degraded``) but does not fail readiness.
    optional: set[str] = field(default_factory=set)
    workers: list[Worker] = field(default_factory=list)

    def add_check(self, name: str, check: ReadinessCheck, *, critical: bool = True) -> None:
        """Register (or replace) the readiness check ``name``.

        ``critical=False`` is for what the service can serve without (a cache that
        degrades to "no cache"): its failure shows in ``/readyz`` but keeps it 200.
        """
        self.checks[name] = check
        if critical:
            self.optional.discard(name)
        else:
            self.optional.add(name)

    def add_checks(self, checks: Mapping[str, ReadinessCheck]) -> None:
        for name, check in checks.items():
            self.add_check(name, check)

    def watch(self, workers: Iterable[Worker]) -> None:
        """Include ``workers`` in liveness."""
        self.workers.extend(workers)

    def unhealthy_workers(self) -> dict[str, str]:
        """Each worker reporting a problem, with its reason."""
        problems: dict[str, str] = {}
        for worker in self.workers:
            try:
                reason = worker.health()
            except Exception as exc:  # a broken health() is itself a reason to restart
                reason = f"health check raised {type(exc).__name__}: {exc}"
            if reason is not None:
                problems[worker.name] = reason
        return problems

    async def readiness(self) -> dict[str, CheckResult]:
        """Run every check concurrently, each within ``check_timeout`` seconds, then ask the
        workers that report readiness what they wait for."""
        names = list(self.checks)
        results = await asyncio.gather(*(self._run(self.checks[name]) for name in names))
        outcome = dict(zip(names, results, strict=True))
        outcome.update(self.waiting_workers())
        return outcome

    def waiting_workers(self) -> dict[str, CheckResult]:
        """A result per worker that reports readiness (``ReportsReadiness``)."""
        results: dict[str, CheckResult] = {}
        for worker in self.workers:
            if not isinstance(worker, ReportsReadiness):
                continue
            try:
                reason = worker.readiness()
            except Exception as exc:
                reason = f"readiness raised {type(exc).__name__}: {exc}"
            results[worker.name] = CheckResult(
                ok=reason is None, duration_ms=0.0, error=None if reason is None else reason[:300]
            )
        return results

    async def _run(self, check: ReadinessCheck) -> CheckResult:
        begun = time.perf_counter()
        error: str | None = None
        try:
            async with asyncio.timeout(self.check_timeout):
                await check()
        except TimeoutError:
            error = f"no answer within {self.check_timeout:g} s"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        duration_ms = round((time.perf_counter() - begun) * 1000, 2)
        return CheckResult(ok=error is None, duration_ms=duration_ms, error=error)


def health_router(get_probes: Callable[[Request], Probes]) -> APIRouter:
    """The three endpoints, reading the app's ``Probes`` through ``get_probes``."""
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz(request: Request) -> Response:
        problems = get_probes(request).unhealthy_workers()
        if not problems:
            return JSONResponse({"status": "ok"})
        detail = "; ".join(f"{name}: {reason}" for name, reason in problems.items())
        log.error("liveness failing: %s", detail)
        return problem_response(
            status=503,
            type=problem_type("unhealthy"),
            title="Service Unhealthy",
            detail=detail,
            instance=request.url.path,
            extra={"workers": problems},
        )

    @router.get("/readyz")
    async def readyz(request: Request) -> Response:
        probes = get_probes(request)
        results = await probes.readiness()
        checks = {name: result.as_dict() for name, result in results.items()}
        failed = [name for name, result in results.items() if not result.ok]
        critical = [name for name in failed if name not in probes.optional]
        if not critical:
            status = "degraded" if failed else "ok"
            if failed:
                log.warning("readiness degraded: %s", ", ".join(failed))
            return JSONResponse({"status": status, "checks": checks})
        log.warning("readiness failing: %s", ", ".join(failed))
        detail = f"failed: {', '.join(critical)}"
        workers = {worker.name for worker in probes.workers}
        waiting = [f"{name}: {results[name].error}" for name in critical if name in workers]
        if waiting:
            detail += "; " + "; ".join(waiting)
        return problem_response(
            status=503,
            type=problem_type("not-ready"),
            title="Service Not Ready",
            detail=detail,
            instance=request.url.path,
            extra={"failed": critical, "checks": checks},
        )

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return router
