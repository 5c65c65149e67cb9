"""Which headers cross the gateway (pure functions)."""

from __future__ import annotations

from emporium.gateway.headers import request_headers, response_headers


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
        "X-Forwarded-For": "198.51.100.1, 203.0.113.9",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "shop.example",
        "X-Request-Id": "rid",
        "traceparent": "new",
    }


def test_a_client_already_taken_from_x_forwarded_for_is_not_added_twice() -> None:
    out = dict(
        request_headers(
            [("X-Forwarded-For", "198.51.100.1, 203.0.113.9")],
            client_ip="203.0.113.9",
            scheme="http",
            host=None,
            request_id=None,
            trace={},
        )
    )
    assert out["X-Forwarded-For"] == "198.51.100.1, 203.0.113.9"
