"""Redis being away, as the request path sees it: skip it for a while, say so rarely.

The request's script (``front.py``) and the rate-limit flush (``batched_limits.py``) share
one: when either finds Redis not answering, both leave it alone for ``cooldown`` seconds
(a dead server must not cost every request a timeout), and requests go on without limits,
cache or revocation check. It is logged at most once per ``LOG_EVERY`` seconds, with how
many requests went without it since the last report.

A full connection pool (``MaxConnectionsError``: every pooled connection busy at once, as
5,000 shoppers make) is congestion, not an outage: that one request goes without Redis,
the others keep it (a cooldown there turned the whole cache off for a second, so every
shopper's next request was a miss on the catalog). Still logged at the same pace.
"""

from __future__ import annotations

import logging

from redis.exceptions import MaxConnectionsError

from emporium.gateway.ratelimit import LOG_EVERY

__all__ = ["Outage"]

log = logging.getLogger("emporium.gateway.front")


class Outage:
    """Whether Redis is being left alone now; ``failed`` starts (or extends) a cooldown."""

    def __init__(self, cooldown: float = 1.0) -> None:
        self._cooldown = cooldown
        self._down_until = 0.0
        self._last_log = float("-inf")
        self._skipped = 0

    def down(self, now: float) -> bool:
        """True while cooling down (and counts the request that goes without Redis)."""
        if now < self._down_until:
            self._skipped += 1
            return True
        return False

    def failed(self, now: float, error: BaseException) -> None:
        if not isinstance(error, MaxConnectionsError):
            self._down_until = now + self._cooldown
        self._skipped += 1
        if now - self._last_log >= LOG_EVERY:
            log.warning(
                "rate limits, response cache and revocation checks skipped: Redis "
                "unavailable (%d request(s) since last report): %s: %s",
                self._skipped,
                type(error).__name__,
                error,
            )
            self._last_log = now
            self._skipped = 0
