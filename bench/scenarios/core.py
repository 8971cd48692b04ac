"""Core runtime scenarios (issue: core runtime), each against a raw-asyncio baseline."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from typing import Any

from bench.registry import scenario
from spark import Actor, Syndicate
from spark.core.message import Message

TELLS = 200_000
ASKS = 20_000
FAN_ACTORS = 1_000
FAN_MESSAGES = 100
LIFECYCLE_ACTORS = 10_000
IDLE_ACTORS = 10_000


class Counter(Actor):
    def __init__(self, expected: int, done: asyncio.Future[None]) -> None:
        self.count = 0
        self.expected = expected
        self.done = done

    def process(self, message: Message) -> None:
        self.count += 1
        if self.count == self.expected:
            self.done.set_result(None)


class SharedCounter(Actor):
    """Fan-out target: counts into one shared tally."""

    def __init__(self, tally: list[int], expected: int, done: asyncio.Future[None]) -> None:
        self.tally = tally
        self.expected = expected
        self.done = done

    def process(self, message: Message) -> None:
        self.tally[0] += 1
        if self.tally[0] == self.expected:
            self.done.set_result(None)


class Echo(Actor):
    def process(self, message: Message) -> Any:
        return message.content


class Idle(Actor):
    def process(self, message: Message) -> None:
        return None


# -- 1. tell throughput ----------------------------------------------------------------------


@scenario("tell throughput", impl="asyncio.Queue consumer", unit="msg/s", baseline=True)
async def tell_raw() -> float:
    queue: asyncio.Queue[int] = asyncio.Queue()
    done = asyncio.get_running_loop().create_future()

    async def consumer() -> None:
        count = 0
        while True:
            await queue.get()
            count += 1
            if count == TELLS:
                done.set_result(None)
                return

    task = asyncio.create_task(consumer())
    started = time.perf_counter()
    for i in range(TELLS):
        await queue.put(i)
    await done
    elapsed = time.perf_counter() - started
    await task
    return TELLS / elapsed


@scenario("tell throughput", impl="spark tell (unbounded)", unit="msg/s", target=">= 0.4x")
async def tell_spark() -> float:
    async with Syndicate("bench") as system:
        done = asyncio.get_running_loop().create_future()
        counter = await system.create_actor(Counter, TELLS, done)
        started = time.perf_counter()
        for i in range(TELLS):
            await system.tell(i, counter)
        await done
        return TELLS / (time.perf_counter() - started)


# -- 2. ask round trip ------------------------------------------------------------------------


@scenario(
    "ask round trip",
    impl="future per request",
    unit="us/ask",
    baseline=True,
    higher_is_better=False,
)
async def ask_raw() -> float:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[int, asyncio.Future[int]]] = asyncio.Queue()

    async def server() -> None:
        while True:
            value, future = await queue.get()
            future.set_result(value)

    task = asyncio.create_task(server())
    started = time.perf_counter()
    for i in range(ASKS):
        future: asyncio.Future[int] = loop.create_future()
        queue.put_nowait((i, future))
        await future
    elapsed = time.perf_counter() - started
    task.cancel()
    return elapsed / ASKS * 1e6


@scenario(
    "ask round trip",
    impl="spark ask",
    unit="us/ask",
    higher_is_better=False,
    target="<= 1.6x",
)
async def ask_spark() -> float:
    async with Syndicate("bench") as system:
        echo = await system.create_actor(Echo)
        started = time.perf_counter()
        for i in range(ASKS):
            await system.ask(i, echo)
        return (time.perf_counter() - started) / ASKS * 1e6


# -- 3. fan-out -------------------------------------------------------------------------------


@scenario("fan-out 1000x100", impl="queue per consumer task", unit="msg/s", baseline=True)
async def fanout_raw() -> float:
    total = FAN_ACTORS * FAN_MESSAGES
    done = asyncio.get_running_loop().create_future()
    tally = [0]
    queues: list[asyncio.Queue[int]] = [asyncio.Queue() for _ in range(FAN_ACTORS)]

    async def consumer(queue: asyncio.Queue[int]) -> None:
        for _ in range(FAN_MESSAGES):
            await queue.get()
            tally[0] += 1
            if tally[0] == total:
                done.set_result(None)

    tasks = [asyncio.create_task(consumer(queue)) for queue in queues]
    started = time.perf_counter()
    for i in range(FAN_MESSAGES):
        for queue in queues:
            await queue.put(i)
    await done
    elapsed = time.perf_counter() - started
    await asyncio.gather(*tasks)
    return total / elapsed


@scenario("fan-out 1000x100", impl="spark tell to 1000 actors", unit="msg/s", target=">= 0.3x")
async def fanout_spark() -> float:
    total = FAN_ACTORS * FAN_MESSAGES
    async with Syndicate("bench") as system:
        done = asyncio.get_running_loop().create_future()
        tally = [0]
        actors = [
            await system.create_actor(SharedCounter, tally, total, done) for _ in range(FAN_ACTORS)
        ]
        started = time.perf_counter()
        for i in range(FAN_MESSAGES):
            for actor in actors:
                await system.tell(i, actor)
        await done
        return total / (time.perf_counter() - started)


# -- 4. create + stop -------------------------------------------------------------------------


@scenario("create+stop 10k", impl="task per consumer", unit="actors/s", baseline=True)
async def lifecycle_raw() -> float:
    async def consumer(queue: asyncio.Queue[object]) -> None:
        while await queue.get() is not None:
            pass

    started = time.perf_counter()
    workers = []
    for _ in range(LIFECYCLE_ACTORS):
        queue: asyncio.Queue[object] = asyncio.Queue()
        workers.append((queue, asyncio.create_task(consumer(queue))))
    await asyncio.sleep(0)
    for queue, task in workers:
        queue.put_nowait(None)
        await task
    return LIFECYCLE_ACTORS / (time.perf_counter() - started)


@scenario("create+stop 10k", impl="spark create_actor + stop", unit="actors/s", target=">= 0.3x")
async def lifecycle_spark() -> float:
    async with Syndicate("bench") as system:
        started = time.perf_counter()
        addresses = [await system.create_actor(Idle) for _ in range(LIFECYCLE_ACTORS)]
        for address in addresses:
            await system.stop(address)
        return LIFECYCLE_ACTORS / (time.perf_counter() - started)


# -- 5. memory per idle actor -----------------------------------------------------------------


@scenario(
    "memory per idle actor",
    impl="idle task on a queue",
    unit="bytes",
    baseline=True,
    higher_is_better=False,
    runs=3,
)
async def memory_raw() -> float:
    async def consumer(queue: asyncio.Queue[object]) -> None:
        await queue.get()

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    queues: list[asyncio.Queue[object]] = [asyncio.Queue() for _ in range(IDLE_ACTORS)]
    tasks = [asyncio.create_task(consumer(queue)) for queue in queues]
    await asyncio.sleep(0)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    for queue in queues:
        queue.put_nowait(None)
    await asyncio.gather(*tasks)
    return (after - before) / IDLE_ACTORS


@scenario(
    "memory per idle actor",
    impl="spark idle actor",
    unit="bytes",
    higher_is_better=False,
    target="<= 1536 bytes",
    runs=3,
)
async def memory_spark() -> float:
    async with Syndicate("bench") as system:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        addresses = [await system.create_actor(Idle) for _ in range(IDLE_ACTORS)]
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        assert len(addresses) == IDLE_ACTORS
        # The event ring holds one actor_started event per actor; it is bounded and not
        # per-actor state, so it is excluded by the ring's fixed capacity (2048 events).
        return (after - before) / IDLE_ACTORS
