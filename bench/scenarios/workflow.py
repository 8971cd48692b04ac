"""Workflow layer scenarios (issue: workflow), each against plain actors chained with ``tell``.

Both sides do the same computation per run: a 5-step linear chain adding 1 at each step, and a
1 -> 4 -> 1 fan-out/fan-in where four workers transform the value and a merge collects their
results in branch order. Runs are sequential (one in flight) and, in the ``(100 conc)`` variants,
100 at a time. Target: the workflow layer costs at most 2x (>= 0.5x the baseline's runs/s).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from bench.registry import scenario
from spark import Actor, ActorAddress, Syndicate
from spark.core.message import Message
from spark.workflow import Node, Workflow

LINEAR_RUNS = 5_000
FANOUT_RUNS = 3_000
BATCH = 100
WORKERS = 4


# -- baseline: plain actors ------------------------------------------------------------------


class ChainStep(Actor):
    """Adds 1 and tells the next step; the last one resolves the run's future."""

    def __init__(self, following: ActorAddress | None) -> None:
        self.following = following

    async def process(self, message: Message) -> None:
        value, done = message.content
        value += 1
        if self.following is None:
            done.set_result(value)
        else:
            await self.tell((value, done), self.following)


class SplitActor(Actor):
    def __init__(self, workers: list[ActorAddress]) -> None:
        self.workers = workers

    async def process(self, message: Message) -> None:
        value, done = message.content
        for index, worker in enumerate(self.workers):
            await self.tell((index, value, done), worker)


class WorkerActor(Actor):
    def __init__(self, factor: int, merge: ActorAddress) -> None:
        self.factor = factor
        self.merge = merge

    async def process(self, message: Message) -> None:
        index, value, done = message.content
        await self.tell((index, value * self.factor, done), self.merge)


class MergeActor(Actor):
    """Collects the four results of each run (keyed by its future) in branch order."""

    def __init__(self) -> None:
        self.pending: dict[asyncio.Future[Any], list[Any]] = {}

    def process(self, message: Message) -> None:
        index, value, done = message.content
        slots = self.pending.get(done)
        if slots is None:
            slots = self.pending[done] = [None] * WORKERS
            slots.append(0)
        slots[index] = value
        slots[WORKERS] += 1
        if slots[WORKERS] == WORKERS:
            del self.pending[done]
            done.set_result(slots[:WORKERS])


async def _chain(system: Syndicate) -> ActorAddress:
    following: ActorAddress | None = None
    for _ in range(5):
        following = await system.create_actor(ChainStep, following)
    assert following is not None
    return following


async def _fan(system: Syndicate) -> ActorAddress:
    merge = await system.create_actor(MergeActor)
    workers = [await system.create_actor(WorkerActor, k + 1, merge) for k in range(WORKERS)]
    return await system.create_actor(SplitActor, workers)


async def _actor_runs(first: ActorAddress, system: Syndicate, runs: int, batch: int) -> float:
    loop = asyncio.get_running_loop()

    async def one(value: int) -> Any:
        done = loop.create_future()
        await system.tell((value, done), first)
        return await done

    started = time.perf_counter()
    for start in range(0, runs, batch):
        if batch == 1:
            await one(start)
        else:
            await asyncio.gather(*(one(value) for value in range(start, start + batch)))
    return runs / (time.perf_counter() - started)


# -- the workflow side -----------------------------------------------------------------------


class AddOne(Node):
    def process(self, message: Message) -> int:
        return int(message.content) + 1


class Fanout(Node):
    def process(self, message: Message) -> int:
        return int(message.content)


class Times(Node):
    def __init__(self, factor: int) -> None:
        super().__init__(name=f"times{factor}")
        self.factor = factor

    def process(self, message: Message) -> int:
        return int(message.content) * self.factor


class Collect(Node):
    def process(self, message: Message) -> list[int]:
        return list(message.content)


def _linear_workflow() -> Workflow:
    steps = [AddOne(name=f"step{number}") for number in range(1, 6)]
    for current, following in itertools.pairwise(steps):
        current >> following
    return Workflow(start=steps[0])


def _fan_workflow() -> Workflow:
    split = Fanout(name="split")
    split >> [Times(k + 1) for k in range(WORKERS)] >> Collect(name="merge")
    return Workflow(start=split)


async def _workflow_runs(workflow: Workflow, system: Syndicate, runs: int, batch: int) -> float:
    await workflow.start(system)
    started = time.perf_counter()
    for start in range(0, runs, batch):
        if batch == 1:
            await workflow.run(start)
        else:
            await asyncio.gather(*(workflow.run(value) for value in range(start, start + batch)))
    return runs / (time.perf_counter() - started)


# -- scenarios -------------------------------------------------------------------------------


@scenario(
    "workflow linear 5 nodes", impl="5 actors chained with tell", unit="runs/s", baseline=True
)
async def linear_actors() -> float:
    async with Syndicate("bench") as system:
        return await _actor_runs(await _chain(system), system, LINEAR_RUNS, 1)


@scenario("workflow linear 5 nodes", impl="spark.workflow run()", unit="runs/s", target=">= 0.5x")
async def linear_workflow() -> float:
    async with Syndicate("bench") as system:
        return await _workflow_runs(_linear_workflow(), system, LINEAR_RUNS, 1)


@scenario("workflow fan-out 1->4->1", impl="6 actors with tell", unit="runs/s", baseline=True)
async def fan_actors() -> float:
    async with Syndicate("bench") as system:
        return await _actor_runs(await _fan(system), system, FANOUT_RUNS, 1)


@scenario("workflow fan-out 1->4->1", impl="spark.workflow run()", unit="runs/s", target=">= 0.5x")
async def fan_workflow() -> float:
    async with Syndicate("bench") as system:
        return await _workflow_runs(_fan_workflow(), system, FANOUT_RUNS, 1)


@scenario(
    "workflow linear (100 conc)", impl="5 actors chained with tell", unit="runs/s", baseline=True
)
async def linear_actors_batched() -> float:
    async with Syndicate("bench") as system:
        return await _actor_runs(await _chain(system), system, LINEAR_RUNS, BATCH)


@scenario(
    "workflow linear (100 conc)", impl="spark.workflow run()", unit="runs/s", target=">= 0.5x"
)
async def linear_workflow_batched() -> float:
    async with Syndicate("bench") as system:
        return await _workflow_runs(_linear_workflow(), system, LINEAR_RUNS, BATCH)


@scenario("workflow 1->4->1 (100 conc)", impl="6 actors with tell", unit="runs/s", baseline=True)
async def fan_actors_batched() -> float:
    async with Syndicate("bench") as system:
        return await _actor_runs(await _fan(system), system, FANOUT_RUNS, BATCH)


@scenario(
    "workflow 1->4->1 (100 conc)", impl="spark.workflow run()", unit="runs/s", target=">= 0.5x"
)
async def fan_workflow_batched() -> float:
    async with Syndicate("bench") as system:
        return await _workflow_runs(_fan_workflow(), system, FANOUT_RUNS, BATCH)
