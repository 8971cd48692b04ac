"""examples/troupe_parallel_map.py runs and prints the right answer."""

from __future__ import annotations

from tests.test_examples import run_example


def test_troupe_parallel_map_counts_primes_on_two_worker_processes() -> None:
    out = run_example(
        "troupe_parallel_map.py", "--limit", "50000", "--chunks", "4", "--workers", "2"
    ).splitlines()
    assert out[0] == "primes below 50000: 5133"
    assert out[1] == "chunks: 4, completed by the troupe: 4"
    assert out[2] == "workers: 2 (process), distinct worker processes: 2"
    assert out[3].startswith("elapsed: ")
