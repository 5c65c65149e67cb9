"""The shoppers' generator split over processes: the merged figures are those of one run."""

from __future__ import annotations

from collections import Counter

from bench.load.scenarios.shoppers import Tally, processes_for


def test_shares_add_up_to_one_run() -> None:
    first = Tally(
        latencies=[10.0, 30.0],
        by_cache={"hit": [10.0, 30.0]},
        statuses=Counter({"2xx": 2}),
        window_statuses=Counter({"2xx": 2}),
        cache=Counter({"hit": 2}),
    )
    first.done_in_window, first.cpu_seconds = 2, 1.5
    second = Tally(
        latencies=[20.0],
        by_cache={"miss": [20.0]},
        statuses=Counter({"5xx": 1}),
        window_statuses=Counter({"5xx": 1}),
        cache=Counter({"miss": 1}),
    )
    second.errors["refused"], second.done_in_window, second.cpu_seconds, second.late = 1, 1, 0.5, 3
    total = Tally()
    total.add(first)
    total.add(second)
    assert sorted(total.latencies) == [10.0, 20.0, 30.0]  # percentiles over every answer
    assert total.by_cache == {"hit": [10.0, 30.0], "miss": [20.0]}
    assert total.statuses == Counter({"2xx": 2, "5xx": 1})
    assert total.cache == Counter({"hit": 2, "miss": 1})
    assert total.errors == Counter({"refused": 1})
    assert (total.done_in_window, total.late, total.cpu_seconds) == (3, 3, 2.0)


def test_5000_shoppers_use_two_processes_and_the_smoke_runs_200_two() -> None:
    assert [processes_for(n) for n in (50, 200, 1000, 2500, 5000)] == [1, 1, 1, 1, 2]
    assert [processes_for(n, 100) for n in (50, 200)] == [1, 2]
