"""The persistence examples run and print what the docs say."""

from __future__ import annotations

import re
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


def test_the_docs_quote_the_examples_verbatim() -> None:
    """Each code block introduced by "From [`examples/...`]" in the Persistence section of
    docs/actor_overview.md appears as-is (up to indentation) in that example."""
    root = Path(__file__).resolve().parents[2]
    overview = (root / "docs" / "actor_overview.md").read_text()
    section = overview[overview.index("## Persistence") :]
    quotes = re.findall(
        r"From\s+\[`examples/(\w+\.py)`\][^\n]*\n+```python\n(.*?)```", section, re.S
    )
    assert {name for name, _ in quotes} == {"persistent_counter.py", "durable_timer.py"}
    for name, block in quotes:
        source = [line.strip() for line in (root / "examples" / name).read_text().splitlines()]
        quoted = [line.strip() for line in block.splitlines()]
        starts = [i for i, line in enumerate(source) if line == quoted[0]]
        assert any(source[i : i + len(quoted)] == quoted for i in starts), name
