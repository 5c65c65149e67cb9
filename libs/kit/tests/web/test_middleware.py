"""Request ids, trace propagation, metrics, JSON logs and the body limit, seen from outside."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from emporium.kit.errors import PROBLEM_CONTENT_TYPE, problem_type

MakeApp = Callable[..., FastAPI]
Serve = Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]]

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"


async def test_a_valid_request_id_is_echoed(make_app: MakeApp, serve: Serve) -> None:
    async with serve(make_app()) as client:
        response = await client.get("/products/1", headers={"X-Request-Id": "order-7/abc"})

    assert response.headers["x-request-id"] == "order-7/abc"
    assert response.json()["request_id"] == "order-7/abc"


@pytest.mark.parametrize("sent", [None, "x" * 129, "has spaces", "tab\there", ""], ids=repr)
async def test_a_missing_or_unusable_request_id_is_replaced(
    make_app: MakeApp, serve: Serve, sent: str | None
) -> None:
    headers = {} if sent is None else {"X-Request-Id": sent}
    async with serve(make_app()) as client:
        first = await client.get("/log", headers=headers)
        second = await client.get("/log", headers=headers)

    made = first.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert made != sent
    assert second.headers["x-request-id"] != made


async def test_traceparent_makes_the_server_span_a_child_of_the_caller(
    make_app: MakeApp, serve: Serve, spans: InMemorySpanExporter
) -> None:
    async with serve(make_app()) as client:
        response = await client.get("/products/9", headers={"traceparent": TRACEPARENT})

    ours = [s for s in spans.get_finished_spans() if f"{s.context.trace_id:032x}" == TRACE_ID]
    assert len(ours) == 1
    span = ours[0]
    assert span.kind is SpanKind.SERVER
    assert span.name == "GET /products/{pid}"
    assert span.parent is not None
    assert f"{span.parent.span_id:016x}" == PARENT_SPAN_ID
    assert span.attributes is not None
    assert span.attributes["http.route"] == "/products/{pid}"
    assert span.attributes["http.response.status_code"] == 404
    assert span.attributes["emporium.request_id"] == response.headers["x-request-id"]


async def test_without_traceparent_each_request_starts_a_trace(
    make_app: MakeApp, serve: Serve, spans: InMemorySpanExporter
) -> None:
    async with serve(make_app()) as client:
        response = await client.get("/log", headers={"X-Request-Id": "fresh-trace-test"})

    assert response.status_code == 200
    [span] = [
        s
        for s in spans.get_finished_spans()
        if s.attributes and s.attributes.get("emporium.request_id") == "fresh-trace-test"
    ]
    assert span.parent is None
    assert span.name == "GET /log"


async def test_metrics_count_requests_by_route_template(
    make_app: MakeApp, serve: Serve, unique: str
) -> None:
    async with serve(make_app()) as client:
        for pid in (1, 2, 3):
            await client.get(f"/products/{pid}")
        await client.get("/no/such/path")
        response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = [
        sample
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.labels.get("service") == unique
    ]
    counts = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in samples
        if s.name == "emporium_http_requests_total"
    }
    assert counts == {("/products/{pid}", "404"): 3.0, ("unmatched", "404"): 1.0}
    durations = {
        s.labels["route"]: s.value
        for s in samples
        if s.name == "emporium_http_request_duration_seconds_count"
    }
    assert durations == {"/products/{pid}": 3.0, "unmatched": 1.0}


async def test_logs_are_json_lines_with_request_and_trace_ids(
    make_app: MakeApp, serve: Serve, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with serve(make_app()) as client:
        await client.get("/log", headers={"X-Request-Id": "req-42", "traceparent": TRACEPARENT})

    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    [hello] = [line for line in lines if line["message"] == "hello from the handler"]
    assert hello["request_id"] == "req-42"
    assert hello["trace_id"] == TRACE_ID
    assert hello["service"] == unique
    assert hello["level"] == "INFO"
    assert hello["logger"] == "kit.web.demo"
    assert hello["answer"] == 42
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", hello["time"])

    [access] = [line for line in lines if line["logger"] == "emporium.access"]
    assert access["request_id"] == "req-42"
    assert access["trace_id"] == TRACE_ID
    assert access["method"] == "GET"
    assert access["path"] == "/log"
    assert access["route"] == "/log"
    assert access["status"] == 200
    assert access["duration_ms"] >= 0


async def test_logging_outside_a_request_has_no_ids(
    make_app: MakeApp, serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    async with serve(make_app()):
        pass

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert any(line["message"].endswith("started (no resources)") for line in lines)
    assert all("request_id" not in line for line in lines)


async def test_a_declared_oversize_body_is_refused_with_413(
    make_app: MakeApp, serve: Serve
) -> None:
    async with serve(make_app(max_body_bytes=100)) as client:
        small = await client.post("/upload", content=b"x" * 100)
        large = await client.post("/upload", content=b"x" * 101)

    assert small.status_code == 200
    assert small.json() == {"size": 100}
    assert large.status_code == 413
    assert large.headers["content-type"] == PROBLEM_CONTENT_TYPE
    problem = large.json()
    assert problem["type"] == problem_type("content-too-large")
    assert problem["request_id"] == large.headers["x-request-id"]


async def test_a_streamed_oversize_body_is_cut_off_with_413(
    make_app: MakeApp, serve: Serve
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"y" * 50

    async with serve(make_app(max_body_bytes=200)) as client:
        response = await client.post("/upload", content=chunks())

    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert response.json()["status"] == 413
