"""Supervision scenarios (issue: supervision): a restart storm against raw asyncio."""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

from bench.registry import scenario
from bench.scenarios.core import Counter
from spark import Actor, ActorFailed, RuntimeEvent, SupervisorStrategy, Syndicate
from spark.core.message import Message

CHILDREN = 1_000


@scenario(
    "restart storm 1000", impl="task restarted by done callback", unit="restarts/s", baseline=True
)
async def storm_raw() -> float:
    """Each worker task fails once; a done-callback supervisor starts a fresh task."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    restarted = [0]
    triggers = [asyncio.Event() for _ in range(CHILDREN)]

    async def worker(index: int, incarnation: int) -> None:
        if incarnation == 0:
            await triggers[index].wait()
            raise RuntimeError("fail once")
        await asyncio.Event().wait()

    def supervise(index: int, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        replacement = loop.create_task(worker(index, 1))
        tasks[index] = replacement
        restarted[0] += 1
        if restarted[0] == CHILDREN:
            done.set_result(None)

    tasks = []
    for index in range(CHILDREN):
        task = loop.create_task(worker(index, 0))
        task.add_done_callback(lambda t, i=index: supervise(i, t))
        tasks.append(task)
    await asyncio.sleep(0)
    started = time.perf_counter()
    for trigger in triggers:
        trigger.set()
    await done
    elapsed = time.perf_counter() - started
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return CHILDREN / elapsed


class Child(Actor):
    def process(self, message: Message) -> Any:
        if message.content == "crash":
            raise RuntimeError("fail once")
        return None


class Parent(Actor):
    supervisor_strategy: ClassVar[SupervisorStrategy | None] = SupervisorStrategy.restart(
        max_restarts=5
    )

    async def pre_start(self) -> None:
        for _ in range(CHILDREN):
            await self.create_actor(Child)

    def process(self, message: Message) -> Any:
        return self.children


@scenario("restart storm 1000", impl="spark one_for_one restarts", unit="restarts/s")
async def storm_spark() -> float:
    async with Syndicate("bench") as system:
        done = asyncio.get_running_loop().create_future()
        restarted = [0]

        def count(event: RuntimeEvent) -> None:
            restarted[0] += 1
            if restarted[0] == CHILDREN and not done.done():
                done.set_result(None)

        parent = await system.create_actor(Parent)
        children = await system.ask("children", parent)
        system.subscribe(count, kinds=["actor_restarted"])
        started = time.perf_counter()
        for child in children:
            await system.tell("crash", child)
        await done
        elapsed = time.perf_counter() - started
        assert not isinstance(done.exception(), ActorFailed)
        return CHILDREN / elapsed


TELLS = 200_000


async def _tell_throughput(strategy: SupervisorStrategy | None) -> float:
    from spark import ActorSpec

    async with Syndicate("bench") as system:
        done = asyncio.get_running_loop().create_future()
        counter = await system.create_actor_from_spec(
            ActorSpec(Counter, (TELLS, done), supervisor_strategy=strategy)
        )
        started = time.perf_counter()
        for i in range(TELLS):
            await system.tell(i, counter)
        await done
        return TELLS / (time.perf_counter() - started)


@scenario("tell: supervised vs not", impl="actor without strategy", unit="msg/s", baseline=True)
async def tell_unsupervised() -> float:
    return await _tell_throughput(None)


@scenario(
    "tell: supervised vs not",
    impl="actor under restart strategy",
    unit="msg/s",
    target=">= 0.95x",
)
async def tell_supervised() -> float:
    return await _tell_throughput(SupervisorStrategy.restart(max_restarts=3, backoff_seconds=0.1))
