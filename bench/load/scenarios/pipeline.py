"""(4) The event pipeline: ``bench/event_pipeline.py`` (owned with the kit), run as it is;
its ``bench/results/event_pipeline.json`` is folded in. In a smoke run its committed
results are put back afterwards."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from bench.load.context import Context
from bench.load.generators import ROOT

__all__ = ["run"]

SCRIPT = ROOT / "bench/event_pipeline.py"
PLAUSIBLE = 1_000_000
RESULTS = [ROOT / "bench/results/event_pipeline.json", ROOT / "bench/results/event_pipeline.md"]


async def run(ctx: Context, log: Any) -> dict[str, Any]:
    kept = {path: path.read_bytes() for path in RESULTS if path.exists()}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        "--events",
        str(ctx.sizes.pipeline_events),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    try:
        if process.returncode:
            tail = out.decode(errors="replace")[-800:]
            return {"error": f"event_pipeline.py exited {process.returncode}: {tail}"}
        rows: Any = json.loads(RESULTS[0].read_text())
    finally:
        if ctx.sizes.smoke:  # the committed figures are the full run's
            for path, data in kept.items():
                path.write_bytes(data)
    rows = rows if isinstance(rows, list) else rows.get("rows", [rows])
    real = [r for r in rows if "postgres" in str(r.get("config", ""))] or rows
    notes = []
    for row in real:
        # A guard: an implausible rate means the timed part measured nothing real.
        if float(row.get("consume_per_s", 0)) > PLAUSIBLE:
            notes.append(f"{row.get('config')}: consume rate {row['consume_per_s']:.3g}/s ignored")
    best_relay = max((float(r.get("relay_per_s", 0)) for r in real), default=0.0)
    rates = [float(r.get("consume_per_s", 0)) for r in real]
    best_consume = max((r for r in rates if r <= PLAUSIBLE), default=0.0)
    # The idle commit -> publish lag is measured on the defaults' row only.
    lagged: dict[str, Any] = next((r for r in real if r.get("idle_lag_p50_ms") is not None), {})
    idle_lag = {
        key: lagged.get(f"idle_lag_{key}") for key in ("p50_ms", "p99_ms", "max_ms") if lagged
    }
    log(
        f"event pipeline: relay {best_relay:.0f} events/s, "
        f"consumer with inbox {best_consume:.0f} events/s, idle commit -> publish "
        f"{idle_lag or 'not measured'} {notes or ''}"
    )
    return {
        "events": ctx.sizes.pipeline_events,
        "relay_per_s": round(best_relay, 1),
        "consume_per_s": round(best_consume, 1),
        "idle_lag": idle_lag or None,
        "notes": notes,
        "rows": rows,
    }
