"""The persistence examples run and print what the docs say."""

from __future__ import annotations

from pathlib import Path

from tests.test_examples import run_example


def test_persistent_counter_adds_up_across_runs(tmp_path: Path) -> None:
    db = str(tmp_path / "counter.db")
    first = run_example("persistent_counter.py", "--db", db, "--delta", "4")
    assert first.splitlines() == ["added=4 total=4", "recovered=4"]
    second = run_example("persistent_counter.py", "--db", db, "--delta", "4")
    assert second.splitlines() == ["added=4 total=8", "recovered=8"]


def test_durable_timer_fires_after_the_restart(tmp_path: Path) -> None:
    out = run_example("durable_timer.py", "--db", str(tmp_path / "timers.db"), "--delay", "0.3")
    assert out.splitlines() == [
        "scheduled=reminder in 0.3 s; shutting down before it is due",
        "recovered timers=1",
        "fired=True",
    ]
