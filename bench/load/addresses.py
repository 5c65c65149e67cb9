"""Loopback source addresses for the load generators, fresh ones for every scenario.

The gateway limits requests per client address in fixed windows (60 s by default); if two
scenarios shared addresses, the second would inherit the first one's counts. Each block
starts on a /24 boundary of 127.0.0.0/8 (the layout ``bench/srcaddr.c`` uses: .1 to .254
of consecutive /24s), so a block can be handed to wrk through the shim as base + count.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

__all__ = ["Block", "Pool"]

PER_24 = 254


@dataclass(frozen=True, slots=True)
class Block:
    """``count`` addresses from ``base`` (an address ending in .0)."""

    base: str
    count: int

    def addresses(self) -> list[str]:
        first = int(ipaddress.IPv4Address(self.base))
        return [
            str(ipaddress.IPv4Address(first + (i // PER_24) * 256 + i % PER_24 + 1))
            for i in range(self.count)
        ]


class Pool:
    """Hands out blocks from a region of 127/8 picked by the clock (so a run a minute after
    another does not reuse its addresses)."""

    def __init__(self, start_second_octet: int | None = None) -> None:
        octet = (
            start_second_octet
            if start_second_octet is not None
            else 16 + int(time.time() / 60) % 200
        )
        self._next_24 = octet * 256  # index of the next free /24 below 127.0.0.0/8

    def block(self, count: int) -> Block:
        count = max(1, count)
        index = self._next_24
        self._next_24 += -(-count // PER_24)
        if self._next_24 >= 255 * 256:
            self._next_24 = 16 * 256
        base = ipaddress.IPv4Address((127 << 24) + index * 256)
        return Block(str(base), count)
