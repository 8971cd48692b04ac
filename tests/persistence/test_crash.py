"""Crash tests: SIGKILL a persisting process; nothing acknowledged may be lost."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from spark.persistence import SQLiteJournal
from tests.persistence.crash_harness import ROOT, run_crash_rounds

ROUNDS = 20
TIMER_CHILD = Path(__file__).with_name("timer_child.py")


async def test_acknowledged_events_survive_sigkill(tmp_path: Path) -> None:
    report = await run_crash_rounds(tmp_path, ROUNDS, lanes=2)
    assert report.rounds == ROUNDS
    assert report.acknowledged >= ROUNDS


async def _timer_child(db: Path, delay: str, then: str, *, kill_after: bytes | None) -> list[bytes]:
    """Run timer_child.py; SIGKILL it once it printed ``kill_after`` (else let it finish)."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(TIMER_CHILD),
        str(db),
        delay,
        then,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert child.stdout is not None and child.stderr is not None
    lines: list[bytes] = []
    try:
        while True:
            line = await asyncio.wait_for(child.stdout.readline(), 30)
            if not line:
                break
            lines.append(line)
            if line == kill_after:
                child.send_signal(signal.SIGKILL)
                break
        stderr = await child.stderr.read()
    finally:
        await child.wait()
    expected = 0 if kill_after is None else -signal.SIGKILL
    assert child.returncode == expected, stderr
    return lines


async def test_a_durable_timer_survives_sigkill_and_a_kill_inside_its_handler(
    tmp_path: Path,
) -> None:
    db = tmp_path / "timers.db"
    # Killed right after the awaited schedule_after returned: the row is committed.
    await _timer_child(db, "0.2", "hang", kill_after=b"stored\n")
    # Recovered, fired, killed while handling the wakeup: the row is still there.
    await _timer_child(db, "-", "hang", kill_after=b"woke reminder\n")
    # Delivered again; processed this time, then the row is deleted.
    assert await _timer_child(db, "-", "return", kill_after=None) == [
        b"woke reminder\n",
        b"deleted\n",
    ]
    journal = SQLiteJournal(db)
    try:
        assert await journal.list_timers("reminder") == []
    finally:
        await journal.close()
