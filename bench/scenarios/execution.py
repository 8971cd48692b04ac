"""Execution scenarios (issue: thread/process execution and Troupe pools).

* ``cpu-bound x40``: 40 CPU-bound jobs (a pure-Python loop of ~50 ms each) through one
  in-process actor (baseline) and through a process Troupe of 2 workers; the ratio is the
  speed-up (target >= 1.7x on a 2-core machine). The pool is warmed first: process start-up is
  a one-off cost, not a per-job one. The standard library's ``multiprocessing.Pool(2)`` runs
  the same jobs for reference: on a shared machine it shows the ceiling available right now.
* ``loop responsiveness``: the ask round trip of an unrelated in-process actor while nothing
  else runs (baseline), while a thread actor runs blocking work (target <= 3x of idle) and, for
  contrast, while the same blocking work runs in-process (it stalls the loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.registry import scenario
from spark import Actor, ActorSpec, Syndicate, Troupe
from spark.core.message import Message
from spark.execution import configure_execution

JOBS = 40
#: ~50 ms of spin() on the reference machine (2 cores, CPython 3.11). A fixed count, not a
#: calibration: the work per job is then the same in every run, however busy the machine is.
JOB_ITERATIONS = 850_000
BLOCK_SECONDS = 0.05
RTT_WINDOW = 0.5


def spin(iterations: int) -> int:
    total = 0
    for i in range(iterations):
        total += i * i
    return total


class CpuJob(Actor):
    """Stateless: spins ``message.content`` iterations."""

    def process(self, message: Message) -> int:
        return spin(message.content)


class Blocker(Actor):
    """Blocks its worker (or the loop, when in-process) for ``message.content`` seconds."""

    def process(self, message: Message) -> float:
        time.sleep(message.content)
        return float(message.content)


class Echo(Actor):
    def process(self, message: Message) -> Any:
        return message.content


# -- cpu-bound x40 ----------------------------------------------------------------------------


async def _run_jobs(system: Syndicate, target: Any) -> float:
    iterations = JOB_ITERATIONS
    started = time.perf_counter()
    await asyncio.gather(*(system.ask(iterations, target, timeout=None) for _ in range(JOBS)))
    return JOBS / (time.perf_counter() - started)


@scenario("cpu-bound x40", impl="in-process actor", unit="jobs/s", baseline=True)
async def cpu_inprocess() -> float:
    async with Syndicate("bench-cpu") as system:
        actor = await system.create_actor(CpuJob)
        return await _run_jobs(system, actor)


@scenario("cpu-bound x40", impl="process Troupe, 2 workers", unit="jobs/s", target=">= 1.7x")
async def cpu_process_troupe() -> float:
    async with Syndicate("bench-cpu") as system:
        configure_execution(system, max_processes=2)
        spec = ActorSpec(CpuJob, execution="process", stateless=True)
        troupe = await system.create_actor(Troupe, spec, max_count=2, idle_count=2)
        await asyncio.gather(*(system.ask(1, troupe, timeout=None) for _ in range(4)))  # warm
        return await _run_jobs(system, troupe)


@scenario("cpu-bound x40", impl="(ref) multiprocessing.Pool(2)", unit="jobs/s")
def cpu_stdlib_pool() -> float:
    """The same jobs on the standard library's pool: the ceiling this machine allows now."""
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(spin, [1, 1])  # warm
        started = time.perf_counter()
        pool.map(spin, [JOB_ITERATIONS] * JOBS, chunksize=1)
        return JOBS / (time.perf_counter() - started)


# -- loop responsiveness ----------------------------------------------------------------------


async def _ask_rtt(
    load: Callable[[Syndicate], Awaitable[Callable[[], Awaitable[None]]]] | None,
) -> float:
    """Median ask round trip (µs) to an idle in-process actor while ``load`` runs."""
    async with Syndicate("bench-rtt") as system:
        echo = await system.create_actor(Echo)
        for _ in range(100):
            await system.ask(1, echo)
        stop = None if load is None else await load(system)
        samples = []
        give_up = time.perf_counter() + RTT_WINDOW
        while time.perf_counter() < give_up:
            started = time.perf_counter()
            await system.ask(1, echo, timeout=None)
            samples.append(time.perf_counter() - started)
        if stop is not None:
            await stop()
        return statistics.median(samples) * 1e6


def _keep_busy(spec: ActorSpec, payload: Any, streams: int) -> Any:
    async def load(system: Syndicate) -> Callable[[], Awaitable[None]]:
        configure_execution(system, max_threads=streams)
        actor = await system.create_actor_from_spec(spec)
        await system.ask(0, actor, timeout=None)  # the worker thread exists before we measure

        async def stream() -> None:
            while True:
                await system.ask(payload, actor, timeout=None)

        tasks = [asyncio.create_task(stream()) for _ in range(streams)]
        await asyncio.sleep(0.02)  # let the load start

        async def stop() -> None:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

        return stop

    return load


@scenario(
    "loop responsiveness", impl="ask RTT, idle", unit="µs", baseline=True, higher_is_better=False
)
async def rtt_idle() -> float:
    return await _ask_rtt(None)


@scenario(
    "loop responsiveness",
    impl="ask RTT, thread actor blocking",
    unit="µs",
    higher_is_better=False,
    target="<= 3x",
)
async def rtt_thread_blocking() -> float:
    spec = ActorSpec(Blocker, execution="thread", stateless=True, max_concurrency=2)
    return await _ask_rtt(_keep_busy(spec, BLOCK_SECONDS, 2))


@scenario(
    "loop responsiveness",
    impl="(contrast) same work in-process",
    unit="µs",
    higher_is_better=False,
)
async def rtt_inprocess_blocking() -> float:
    return await _ask_rtt(_keep_busy(ActorSpec(Blocker), BLOCK_SECONDS, 1))
