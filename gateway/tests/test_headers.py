"""Which headers cross the gateway (pure functions)."""

from __future__ import annotations

from emporium.gateway.headers import raw_response_headers, request_headers, response_headers


def test_hop_by_hop_and_connection_named_headers_are_dropped() -> None:
    out = response_headers(
        [("Connection", "close, X-Hop"), ("X-Hop", "1"), ("Transfer-Encoding", "chunked"),
         ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Content-Type", "text/plain")]
    )  # fmt: skip
    assert out == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Content-Type", "text/plain")]


def test_the_gateway_sets_its_own_context_headers() -> None:
    out = dict(
        request_headers(
            [("Host", "shop.example"), ("X-Request-Id", "spoofed"), ("traceparent", "old"),
             ("X-Forwarded-For", "198.51.100.1"), ("Accept-Encoding", "gzip")],
            client_ip="203.0.113.9",
            scheme="https",
            host="shop.example",
            request_id="rid",
            trace={"traceparent": "new"},
            drop=("accept-encoding",),
        )
    )  # fmt: skip
    assert out == {
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "shop.example",
        "X-Request-Id": "rid",
        "traceparent": "new",
    }


def test_forwarded_headers_are_replaced_never_passed_on() -> None:
    out = request_headers(
        [("X-Forwarded-For", "198.51.100.1, 203.0.113.9"), ("X-Forwarded-For", "10.0.0.1"),
         ("Forwarded", "for=1.2.3.4"), ("X-Real-IP", "1.2.3.4"), ("X-Forwarded-Proto", "https"),
         ("X-Forwarded-Host", "evil.example"), ("X-Kept", "1")],
        client_ip="203.0.113.9",
        scheme="http",
        host="shop.example",
        request_id=None,
        trace={},
    )  # fmt: skip
    assert out == [
        ("X-Kept", "1"),
        ("X-Forwarded-For", "203.0.113.9"),
        ("X-Forwarded-Proto", "http"),
        ("X-Forwarded-Host", "shop.example"),
    ]


def test_the_upstreams_date_and_server_are_dropped() -> None:
    out = response_headers(
        [("Date", "Tue, 01 Dec 2026 07:00:00 GMT"), ("server", "uvicorn"), ("X-Kept", "1")]
    )
    assert out == [("X-Kept", "1")]


def test_raw_answers_lose_the_same_headers_as_decoded_ones() -> None:
    pairs = [
        ("Content-Type", "application/json"),
        ("Connection", "keep-alive, X-Secret"),
        ("X-Secret", "hop"),
        ("Keep-Alive", "timeout=5"),
        ("Date", "Tue, 01 Dec 2026 07:00:00 GMT"),
        ("Server", "uvicorn"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("Content-Length", "2"),
    ]
    raw = raw_response_headers([(k.encode(), v.encode()) for k, v in pairs])
    assert raw == [(k.lower().encode(), v.encode()) for k, v in response_headers(pairs)]
    assert raw == [
        (b"content-type", b"application/json"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
        (b"content-length", b"2"),
    ]
