"""The long crash test: >= 200 SIGKILLs of a persisting process (run on demand).

    .venv/bin/python -m pytest -m slow tests/slow/test_persistence_crash.py -s

Runs only when selected with ``-m slow`` or when SPARK_SLOW=1; SPARK_CRASH_ROUNDS overrides the
number of rounds (default 200).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.persistence.crash_harness import run_crash_rounds

ROUNDS = int(os.environ.get("SPARK_CRASH_ROUNDS", "200"))


@pytest.fixture(autouse=True)
def _only_on_demand(request: pytest.FixtureRequest) -> None:
    selected = "slow" in (request.config.getoption("markexpr") or "")
    if not selected and os.environ.get("SPARK_SLOW") != "1":
        pytest.skip("slow test: select it with -m slow (or set SPARK_SLOW=1)")


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_acknowledged_events_survive_many_sigkills(tmp_path: Path) -> None:
    report = await run_crash_rounds(tmp_path, ROUNDS, lanes=4)
    print(
        f"\ncrash test: {report.rounds} SIGKILL rounds, {report.acknowledged} acknowledged"
        f" events checked, none lost; kills by synchronous mode {report.kills_by_mode}"
        f"; last check found {report.stored_beyond_ack} committed-but-unacknowledged events"
    )
    assert report.rounds == ROUNDS
