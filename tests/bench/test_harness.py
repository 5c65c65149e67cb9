"""The bench harness's own logic: source addresses, the wrk shim, percentiles, recovery and
the targets' verdicts (the figures themselves come from `make bench`)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bench.load.addresses import Block, Pool
from bench.load.scenarios.overload import recovery
from bench.load.stats import percentile, summary
from bench.load.targets import judge

ROOT = Path(__file__).resolve().parents[2]


def test_blocks_skip_network_and_broadcast_addresses_and_never_overlap() -> None:
    pool = Pool(start_second_octet=40)
    first, second = pool.block(300), pool.block(3)
    addresses = first.addresses()
    assert addresses[0] == "127.40.0.1"
    assert addresses[253] == "127.40.0.254"
    assert addresses[254] == "127.40.1.1"
    assert len(set(addresses)) == 300
    assert not set(addresses) & set(second.addresses())
    assert second.base == "127.40.2.0"


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc builds the shim")
def test_shim_makes_each_connection_from_the_next_source_address(tmp_path: Path) -> None:
    library = tmp_path / "shim.so"
    subprocess.run(
        [
            "gcc",
            "-O2",
            "-shared",
            "-fPIC",
            "-o",
            str(library),
            str(ROOT / "bench/srcaddr.c"),
            "-ldl",
        ],
        check=True,
    )
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    client = (
        "import socket\n"
        f"for _ in range(3): socket.create_connection(('127.0.0.1', {port})).close()\n"
    )
    env = {
        "LD_PRELOAD": str(library),
        "BENCH_SRCADDR_BASE": "127.61.7.0",
        "BENCH_SRCADDR_COUNT": "2",
    }
    subprocess.run([sys.executable, "-c", client], check=True, env=env, timeout=30)
    peers = []
    for _ in range(3):
        conn, (host, _) = server.accept()
        peers.append(host)
        conn.close()
    server.close()
    assert peers == ["127.61.7.1", "127.61.7.2", "127.61.7.1"]


def test_percentiles_are_nearest_rank() -> None:
    samples = [float(x) for x in range(1, 101)]
    assert percentile(samples, 0.5) == 50
    assert percentile(samples, 0.99) == 99
    assert percentile([], 0.5) is None
    assert summary([3.0])["max_ms"] == 3.0


def test_recovery_is_the_first_second_after_which_every_window_is_healthy() -> None:
    end = 1000.0
    samples = [(end - 1, 10.0, 200)]
    samples += [(end + 0.5, 900.0, 200), (end + 1.5, 12.0, 503), (end + 2.5, 11.0, 200)]
    samples += [(end + 3.5, 10.0, 200), (end + 4.5, 9.0, 200)]
    assert recovery(samples, end, baseline_p99=10.0) == 2.0
    assert recovery([(end + 0.2, 5.0, 200)], end, baseline_p99=10.0) == 0.0


def test_targets_not_measured_are_said_so_and_measured_ones_judged() -> None:
    rows = judge({})
    assert all(row["met"] is None for row in rows)
    reads = {
        "product gateway cached": {"saturation": {"per_second": 3100.0}},
        "gateway /healthz": {"saturation": {"per_second": 3500.0}},
        "product direct": {"saturation": {"per_second": 1900.0}},
        "product gateway token": {"saturation": {"per_second": 1600.0}},
    }
    verdicts = {row["target"]: row["met"] for row in judge({"reads": reads})}
    assert verdicts["gateway cache hit (product) >= 3,000 req/s and >= 80 % of gateway /healthz"]
    assert verdicts["gateway without cache (token, product) >= 80 % of direct"]
    assert verdicts["catalog product GET direct >= 2,000 req/s"] is False


def test_the_hit_ratio_is_judged_on_browsing_not_on_the_stale_shoppers_run() -> None:
    target = "cache hit ratio >= 95 % under browsing load, while a stock change shows on the "
    target += "product page within 1 s"
    shoppers = {"shoppers": {"5000": {"cache_hit_ratio": 0.5}}}

    def browsing(
        ratio: float, max_ms: float, unseen: int = 0, refused: int = 0
    ) -> dict[str, object]:
        return {
            "statuses": {"2xx": 18_000, **({"429": refused} if refused else {})},
            "cache_hit_ratio": ratio,
            "visible_after_ms": {"max_ms": max_ms},
            "unseen": unseen,
            "per_second": 900.0,
            "shoppers": 100,
            "stock_changes_per_s": 2.0,
        }

    def verdict(results: dict[str, object]) -> object:
        rows = {row["target"]: row for row in judge(results)}
        found = [row for name, row in rows.items() if name.startswith("cache hit ratio")]
        assert len(found) == 1, rows.keys()
        return found[0]["met"]

    assert verdict(shoppers) is None  # the shoppers' ratio alone is not the target's figure
    assert verdict({**shoppers, "browsing": browsing(0.97, 300)}) is True
    assert verdict({**shoppers, "browsing": browsing(0.90, 300)}) is False
    assert verdict({**shoppers, "browsing": browsing(0.97, 1500)}) is False  # too late
    assert verdict({**shoppers, "browsing": browsing(0.97, 300, unseen=1)}) is False
    # Refused answers carry no cached answer: a run that tripped the limits is not judged met.
    assert verdict({**shoppers, "browsing": browsing(0.97, 300, refused=40)}) is False
    rows = {row["target"]: row for row in judge({**shoppers, "browsing": browsing(0.97, 300)})}
    assert "50.0%" in rows[target]["figure"]  # still reported beside it


def test_the_overload_row_says_how_much_was_answered_beside_its_verdict() -> None:
    def row(overload: dict[str, object]) -> dict[str, object]:
        (found,) = [r for r in judge({"overload": overload}) if r["target"].startswith("120 %")]
        return found

    over = {
        "error_rate": 0.0,
        "recovery_seconds": 1.0,
        "overload": {"p99_ms": 1500.0},
        "saturation_per_s": 3131.0,
        "goodput_per_s": 762.6,
        "goodput_share": 0.244,
    }
    assert row(over)["met"] is True  # shed the documented way: met, however much is answered
    assert "answered 2xx 763/s of a saturation of 3,131/s" in str(row(over)["figure"])
    older = {key: value for key, value in over.items() if not key.startswith("goodput")}
    assert "answered" not in str(row(older)["figure"])  # a run from before the figure


def test_block_addresses_follow_the_shim_layout() -> None:
    assert Block("127.9.0.0", 2).addresses() == ["127.9.0.1", "127.9.0.2"]
