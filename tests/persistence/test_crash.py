"""Crash test: SIGKILL a persisting process 20 times; nothing acknowledged may be lost."""

from __future__ import annotations

from pathlib import Path

from tests.persistence.crash_harness import run_crash_rounds

ROUNDS = 20


async def test_acknowledged_events_survive_sigkill(tmp_path: Path) -> None:
    report = await run_crash_rounds(tmp_path, ROUNDS, lanes=2)
    assert report.rounds == ROUNDS
    assert report.acknowledged >= ROUNDS
