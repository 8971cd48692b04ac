"""Persistence scenarios (issue: durable actors and durable timers).

Acknowledged means committed with ``synchronous="full"`` (an fsync per transaction). The journal
files live in a temporary directory under ``bench/`` (override with SPARK_BENCH_DIR) so that
fsync hits the same disk as the checkout rather than a RAM-backed /tmp.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.registry import scenario
from spark import Syndicate
from spark.core.message import Message
from spark.persistence import InMemoryJournal, Journal, PersistentActor, SQLiteJournal

ACTORS = 100
EVENTS_PER_ACTOR = 1_000
#: The baseline pays one fsync per event; fewer events keep its run short (the figure is a rate).
BASELINE_EVENTS_PER_ACTOR = 20
LATENCY_PERSISTS = 1_000


def _scratch() -> tempfile.TemporaryDirectory[str]:
    directory = os.environ.get("SPARK_BENCH_DIR") or str(Path(__file__).resolve().parents[1])
    return tempfile.TemporaryDirectory(prefix=".persistence-", dir=directory)


class Recorder(PersistentActor):
    """Persists ``count`` events when told ``count``; resolves ``done`` when all actors are."""

    def __init__(self, persistence_id: str, finished: list[int], done: asyncio.Future[None]):
        super().__init__(persistence_id)
        self.finished = finished
        self.done = done
        self.events = 0
        self.latencies: list[float] = []

    def apply_event(self, event: int) -> None:
        self.events += 1

    async def process(self, message: Message) -> Any:
        count, timed = message.content
        clock = time.perf_counter
        for number in range(count):
            if timed:
                started = clock()
                await self.persist(number)
                self.latencies.append(clock() - started)
            else:
                await self.persist(number)
        self.finished[0] -= 1
        if self.finished[0] == 0:
            self.done.set_result(None)
        return self.latencies if timed else None


async def _concurrent_rate(events_per_actor: int, *, max_batch: int) -> float:
    with _scratch() as directory:
        journal = SQLiteJournal(
            Path(directory) / "bench.db", synchronous="full", max_batch=max_batch
        )
        async with Syndicate("bench", journal=journal, owns_journal=True) as system:
            done = asyncio.get_running_loop().create_future()
            finished = [ACTORS]
            actors = [
                await system.create_actor(Recorder, f"recorder-{n}", finished, done)
                for n in range(ACTORS)
            ]
            started = time.perf_counter()
            for actor in actors:
                await system.tell((events_per_actor, False), actor)
            await done
            elapsed = time.perf_counter() - started
    return ACTORS * events_per_actor / elapsed


@scenario(
    "persist 100x1000 concurrent",
    impl="SQLite, one transaction per event",
    unit="events/s",
    baseline=True,
    runs=3,
)
async def concurrent_one_transaction_each() -> float:
    return await _concurrent_rate(BASELINE_EVENTS_PER_ACTOR, max_batch=1)


@scenario(
    "persist 100x1000 concurrent",
    impl="SQLiteJournal group commit",
    unit="events/s",
    target=">= 10x",
    runs=3,
)
async def concurrent_group_commit() -> float:
    return await _concurrent_rate(EVENTS_PER_ACTOR, max_batch=1024)


async def _latencies(journal: Journal) -> list[float]:
    async with Syndicate("bench", journal=journal, owns_journal=True) as system:
        done = asyncio.get_running_loop().create_future()
        actor = await system.create_actor(Recorder, "latency", [1], done)
        latencies: list[float] = await system.ask((LATENCY_PERSISTS, True), actor, timeout=None)
    return latencies


async def _sqlite_latencies(synchronous: str) -> list[float]:
    with _scratch() as directory:
        return await _latencies(
            SQLiteJournal(Path(directory) / "bench.db", synchronous=synchronous)
        )


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


@scenario(
    "persist latency median",
    impl="InMemoryJournal",
    unit="us",
    baseline=True,
    higher_is_better=False,
)
async def latency_median_memory() -> float:
    return statistics.median(await _latencies(InMemoryJournal())) * 1e6


@scenario("persist latency median", impl="SQLiteJournal full", unit="us", higher_is_better=False)
async def latency_median_full() -> float:
    return statistics.median(await _sqlite_latencies("full")) * 1e6


@scenario("persist latency median", impl="SQLiteJournal normal", unit="us", higher_is_better=False)
async def latency_median_normal() -> float:
    return statistics.median(await _sqlite_latencies("normal")) * 1e6


@scenario(
    "persist latency p99", impl="InMemoryJournal", unit="us", baseline=True, higher_is_better=False
)
async def latency_p99_memory() -> float:
    return _p99(await _latencies(InMemoryJournal())) * 1e6


@scenario("persist latency p99", impl="SQLiteJournal full", unit="us", higher_is_better=False)
async def latency_p99_full() -> float:
    return _p99(await _sqlite_latencies("full")) * 1e6


@scenario("persist latency p99", impl="SQLiteJournal normal", unit="us", higher_is_better=False)
async def latency_p99_normal() -> float:
    return _p99(await _sqlite_latencies("normal")) * 1e6
