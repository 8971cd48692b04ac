"""SIGKILL a process that is persisting as fast as it can; check nothing acknowledged is lost.

Each round starts ``crash_child.py`` on a journal file (the same file across the rounds of a
lane, so every round also recovers what the previous crash left), reads acknowledgements until a
random count, kills the child with SIGKILL, reads the acknowledgements still in the pipe, and
reopens the journal: every writer's events must be exactly 1..n with n >= its highest
acknowledged sequence.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from spark.persistence import SQLiteJournal

CHILD = Path(__file__).with_name("crash_child.py")
ROOT = Path(__file__).resolve().parents[2]
WRITERS = 4


@dataclass
class CrashReport:
    rounds: int = 0
    acknowledged: int = 0  # acknowledgements seen in total
    stored_beyond_ack: int = 0  # committed but killed before the ack was printed (allowed)
    kills_by_mode: dict[str, int] = field(default_factory=dict)


def _parse(lines: list[bytes], acked: dict[str, int]) -> int:
    count = 0
    for line in lines:
        parts = line.split()
        if len(parts) != 2 or not line.endswith(b"\n"):
            continue  # the kill can cut the last line short
        persistence_id, sequence = parts[0].decode(), int(parts[1])
        acked[persistence_id] = max(acked.get(persistence_id, 0), sequence)
        count += 1
    return count


async def crash_round(
    path: Path, synchronous: str, rng: random.Random, acked: dict[str, int]
) -> int:
    """One start-write-SIGKILL cycle; updates ``acked``; returns acknowledgements seen."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        str(path),
        synchronous,
        str(WRITERS),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert child.stdout is not None and child.stderr is not None
    killed = False
    try:
        ready = await asyncio.wait_for(child.stdout.readline(), 30)
        if ready != b"ready\n":
            raise AssertionError(f"child failed to start: {await child.stderr.read()!r}")
        kill_after = rng.randint(1, 400)
        lines = []
        while len(lines) < kill_after:
            line = await asyncio.wait_for(child.stdout.readline(), 30)
            if not line:
                raise AssertionError(f"child exited early: {await child.stderr.read()!r}")
            lines.append(line)
        child.send_signal(signal.SIGKILL)
        killed = True
        rest = await asyncio.wait_for(child.stdout.read(), 30)
        lines.extend(rest.splitlines(keepends=True))
    finally:
        # Only signal once: a second kill() polls the pid and may reap it before asyncio's
        # child watcher does (which then reports returncode 255).
        if not killed:
            child.kill()
        await child.wait()
    assert child.returncode == -signal.SIGKILL, child.returncode
    return _parse(lines, acked)


async def verify(path: Path, acked: dict[str, int]) -> int:
    """Every acknowledged event is stored, with no gap; returns events stored beyond acks."""
    journal = SQLiteJournal(path)
    extra = 0
    try:
        for persistence_id, highest_acked in acked.items():
            stored = [e.sequence for e in await journal.read_events(persistence_id)]
            events = [e.event for e in await journal.read_events(persistence_id)]
            assert stored == list(range(1, len(stored) + 1)), f"gap in {persistence_id}"
            assert events == stored
            assert (
                len(stored) >= highest_acked
            ), f"{persistence_id}: acknowledged {highest_acked} but only {len(stored)} stored"
            extra += len(stored) - highest_acked
    finally:
        await journal.close()
    return extra


async def run_crash_rounds(
    directory: Path, rounds: int, *, lanes: int = 2, seed: int | None = None
) -> CrashReport:
    """``rounds`` crash rounds spread over ``lanes`` journal files run side by side."""
    rng = random.Random(seed)
    report = CrashReport()
    per_lane = [rounds // lanes + (1 if lane < rounds % lanes else 0) for lane in range(lanes)]

    async def lane(number: int, count: int) -> None:
        path = directory / f"crash-{number}.db"
        synchronous = "full" if number % 2 == 0 else "normal"
        lane_rng = random.Random(rng.random())
        acked: dict[str, int] = {}
        for _ in range(count):
            report.acknowledged += await crash_round(path, synchronous, lane_rng, acked)
            report.stored_beyond_ack = await verify(path, acked)
            report.rounds += 1
            report.kills_by_mode[synchronous] = report.kills_by_mode.get(synchronous, 0) + 1

    await asyncio.gather(*(lane(n, count) for n, count in enumerate(per_lane) if count))
    return report
