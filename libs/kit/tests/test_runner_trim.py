"""The runner's loop gives the C heap's freed pages back to the system, so a process's RSS
falls again after a burst instead of staying at its high-water mark.

The tests read the process's own RSS before and after, never time.
"""

from __future__ import annotations

import asyncio

import pytest

from emporium.kit import runner

glibc_only = pytest.mark.skipif(
    runner.heap_trimmer() is None, reason="malloc_trim is glibc's (not musl's, not macOS')"
)


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


def _holes_in_the_heap() -> list[bytes]:
    """~64 MB of malloc'd blocks freed but for one in 64, so the heap cannot shrink from
    its top: what a burst of requests leaves behind the longer-lived objects."""
    blocks = [bytes(bytearray(4096)) for _ in range(16_000)]  # above pymalloc's 512 B
    kept = blocks[::64]
    del blocks
    return kept


@glibc_only
def test_the_trimmer_returns_the_freed_pages_inside_the_heap() -> None:
    trim = runner.heap_trimmer()
    assert trim is not None
    trim()
    kept = _holes_in_the_heap()
    before = _rss_kib()
    trim()
    after = _rss_kib()
    assert len(kept) == 250
    assert before - after > 32 * 1024, (before, after)  # most of the 64 MB freed comes back


@glibc_only
def test_the_loop_trims_by_itself_every_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = runner.heap_trimmer()
    assert real is not None

    def counting() -> int:
        calls.append(1)
        return real()

    monkeypatch.setenv(runner.TRIM_VARIABLE, "0.01")
    monkeypatch.setattr(runner, "heap_trimmer", lambda: counting)
    loop = runner.batch_accept_loop()
    try:
        loop.run_until_complete(asyncio.sleep(0.2))
    finally:
        loop.close()
    assert len(calls) >= 2  # again and again, not once


def test_zero_turns_the_trim_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runner.TRIM_VARIABLE, "0")

    def never() -> int:
        raise AssertionError("trimmed although turned off")

    monkeypatch.setattr(runner, "heap_trimmer", lambda: never)
    loop = runner.batch_accept_loop()
    try:
        loop.run_until_complete(asyncio.sleep(0.05))
    finally:
        loop.close()


@pytest.mark.parametrize(
    ("raw", "seconds"), [("", runner.TRIM_SECONDS), (" 2.5 ", 2.5), ("0", 0.0)]
)
def test_the_interval_is_read_from_the_environment(raw: str, seconds: float) -> None:
    assert runner.trim_seconds({runner.TRIM_VARIABLE: raw}) == seconds
    assert runner.trim_seconds({}) == runner.TRIM_SECONDS


@pytest.mark.parametrize("raw", ["soon", "-1", "nan"])
def test_a_bad_interval_is_refused_at_start_naming_the_variable(raw: str) -> None:
    with pytest.raises(ValueError, match=runner.TRIM_VARIABLE):
        runner.trim_seconds({runner.TRIM_VARIABLE: raw})
