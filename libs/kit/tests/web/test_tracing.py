"""Trace context with and without an exporter: the same ids in logs and in what is sent on.

Whether spans are recorded is decided once per process (``setup_tracing``), and the other
web tests install an exporter, so each case runs a small app in a fresh interpreter.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"

# A kit app in-process; prints one JSON object per request: the response's headers and
# body (the handler returns the trace context it would send on, as the outbox stores it),
# and the log lines the request wrote.
_PROBE = r"""
import asyncio, contextlib, io, json, logging, sys

import httpx
from asgi_lifespan import LifespanManager
from fastapi import APIRouter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic_settings import SettingsConfigDict

from emporium.kit.app import create_app
from emporium.kit.settings import ServiceSettings
from emporium.kit.tracing import client_span, current_context, setup_tracing, spans_recorded

exporter = InMemorySpanExporter()
if sys.argv[1] == "export":
    setup_tracing("probe", exporter)


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KIT_PROBE_")


router = APIRouter()
OURS = ("probe", "emporium.access")


@router.get("/onwards/{n}")
async def onwards(n: int) -> dict[str, object]:
    logging.getLogger("probe").info("in the handler")
    here = current_context()
    with client_span("probe", "GET other"):  # a call to another service
        called = current_context()
    return {**here, "client": called, "after": current_context()}


async def main() -> None:
    app = create_app(settings=Settings(service_name="probe"), title="Probe", routers=[router])
    out = io.StringIO()
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for headers in json.loads(sys.argv[2]):
                with contextlib.redirect_stdout(out):
                    response = await client.get("/onwards/1", headers=headers)
                logs = [json.loads(line) for line in out.getvalue().splitlines()]
                out.seek(0)
                out.truncate()
                print(json.dumps({
                    "status": response.status_code,
                    "headers": dict(response.headers),
                    "body": response.json(),
                    "logs": [line for line in logs if line["logger"] in OURS],
                }))
    print(json.dumps({"recorded": spans_recorded(), "spans": len(exporter.get_finished_spans())}))


asyncio.run(main())
"""


def probe(mode: str, requests: list[dict[str, str]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode, json.dumps(requests)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # The app's own log lines (startup, shutdown) go to stdout too.
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    answers = [line for line in lines if "status" in line and "headers" in line]
    [totals] = [line for line in lines if "recorded" in line]
    return answers, totals


@pytest.mark.parametrize("mode", ["no-exporter", "export"])
def test_the_trace_context_reaches_logs_and_what_is_sent_on(mode: str) -> None:
    sampled = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"
    unsampled = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-00"
    answers, totals = probe(
        mode,
        [
            {"traceparent": sampled, "tracestate": "vendor=1", "x-request-id": "req-1"},
            {"traceparent": unsampled},
            {},
            {},
            {"traceparent": "not a traceparent"},
        ],
    )

    assert totals["recorded"] is (mode == "export")
    # Two spans (server, client) per sampled request, and only when an exporter records them.
    assert totals["spans"] == (8 if mode == "export" else 0)
    child, not_sampled, fresh, other, garbled = answers
    for answer in answers:
        assert answer["status"] == 200
        handler, access = answer["logs"]
        sent_on = answer["body"]["traceparent"]
        version, trace_id, span_id, flags = sent_on.split("-")
        assert version == "00"
        assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
        assert re.fullmatch(r"[0-9a-f]{16}", span_id)
        # The logs carry the trace id that goes on, and the request id that came back.
        assert handler["trace_id"] == access["trace_id"] == trace_id
        assert handler["request_id"] == access["request_id"] == answer["headers"]["x-request-id"]
        assert access["route"] == "/onwards/{n}"
        answer["ids"] = (trace_id, span_id, flags)
        # A call made in a client span sends on the same trace and flags: from a client
        # span of its own when spans are recorded, else from the server span (nothing
        # would read a client span); the server span is current again after it.
        called = answer["body"]["client"]
        _, called_trace, called_span, called_flags = called["traceparent"].split("-")
        assert (called_trace, called_flags) == (trace_id, flags)
        assert (called_span != span_id) is (mode == "export")
        assert called.get("tracestate") == answer["body"].get("tracestate")
        assert answer["body"]["after"]["traceparent"] == sent_on

    # A caller's sampled trace goes on under the caller's trace id, from a span of ours.
    assert child["ids"][0] == TRACE_ID
    assert child["ids"][1] != PARENT_SPAN_ID
    assert child["ids"][2] == "01"
    assert child["body"]["tracestate"] == "vendor=1"
    assert child["headers"]["x-request-id"] == "req-1"
    # A trace the caller did not sample stays unsampled.
    assert not_sampled["ids"][0] == TRACE_ID
    assert not_sampled["ids"][2] == "00"
    # Without a (usable) traceparent, each request starts a sampled trace of its own.
    assert len({fresh["ids"][0], other["ids"][0], garbled["ids"][0], TRACE_ID}) == 4
    # (flags 03: sampled, and the trace id is random, W3C trace context level 2)
    assert fresh["ids"][2] == other["ids"][2] == garbled["ids"][2] == "03"
    assert "tracestate" not in fresh["body"]
