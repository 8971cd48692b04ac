"""The worker-process pool (spark/execution/_pool.py): death, replacement, shutdown."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
from typing import Any

import pytest

from spark import ActorSpec, MessageDeliveryError, Syndicate, SyndicateError
from spark.core.identity import ActorAddress
from spark.core.messages import DeliveryResult
from spark.execution import configure_execution
from tests.conftest import wait_until
from tests.execution.support import open_fds, process_alive, process_backend
from tests.execution.workers import ReportsThenSleeps, Sleeper


async def test_killed_worker_is_replaced_and_its_message_dead_lettered(
    system: Syndicate,
) -> None:
    configure_execution(system, max_processes=1)
    actor = await system.create_actor_from_spec(
        ActorSpec(ReportsThenSleeps, execution="process", stateless=True)
    )
    asking = asyncio.ensure_future(system.ask(30, actor, timeout=None))
    started = await system.receive(timeout=5)
    _, victim = started.content
    os.kill(victim, signal.SIGKILL)
    with pytest.raises(MessageDeliveryError) as caught:
        await asyncio.wait_for(asking, 5)
    assert caught.value.reason.startswith("worker died")
    assert "SIGKILL" in caught.value.reason
    assert system.dead_letters[-1].reason == caught.value.reason
    # The actor keeps serving, from a new worker process.
    replacement = await system.ask(0, actor)
    assert replacement != victim and process_alive(replacement)
    await system.receive(timeout=5)  # the replacement's "started" report
    stats = process_backend(system).statistics()
    assert (stats.died, stats.started, stats.pids) == (1, 2, (replacement,))
    assert not process_alive(victim)


async def test_worker_killed_while_idle_is_noticed_and_replaced(system: Syndicate) -> None:
    configure_execution(system, max_processes=1)
    actor = await system.create_actor_from_spec(
        ActorSpec(Sleeper, execution="process", stateless=True)
    )
    victim = await system.ask(0, actor)
    os.kill(victim, signal.SIGKILL)
    await wait_until(lambda: process_backend(system).statistics().died == 1)
    assert process_backend(system).statistics().workers == 0
    replacement = await system.ask(0, actor)
    assert replacement != victim


async def test_jobs_beyond_the_pool_size_wait_for_a_worker(system: Syndicate) -> None:
    configure_execution(system, max_processes=1)
    actor = await system.create_actor_from_spec(
        ActorSpec(Sleeper, execution="process", stateless=True, max_concurrency=3)
    )
    pids = await asyncio.gather(*(system.ask(0.05, actor) for _ in range(3)))
    assert len(set(pids)) == 1
    assert process_backend(system).statistics().waiting == 0


async def test_stopping_a_process_actor_mid_job_kills_its_worker() -> None:
    async with Syndicate("stop-mid-job", stop_timeout=0.2) as system:
        actor = await system.create_actor_from_spec(
            ActorSpec(ReportsThenSleeps, execution="process", stateless=True)
        )
        asking = asyncio.ensure_future(system.ask(30, actor, timeout=None))
        _, busy = (await system.receive(timeout=5)).content
        await system.stop(actor)  # the handler outlives stop_timeout: the proxy is killed
        with pytest.raises(MessageDeliveryError, match="actor stopped"):
            await asking
        # Nobody waits for that work any more, and a process cannot be interrupted: retired.
        await wait_until(lambda: not process_alive(busy))
        assert process_backend(system).statistics().died == 0  # on purpose, not a crash
        # A kill skips post_stop, yet the workers are told to drop the actor's instance.
        await wait_until(lambda: not process_backend(system)._pool._recipes)


async def test_a_job_waiting_for_a_worker_can_be_abandoned() -> None:
    async with Syndicate("abandon", stop_timeout=0.2) as system:
        configure_execution(system, max_processes=1)
        spec = ActorSpec(ReportsThenSleeps, execution="process", stateless=True)
        busy = await system.create_actor_from_spec(spec)
        waiting = await system.create_actor_from_spec(spec)
        first = asyncio.ensure_future(system.ask(30, busy, timeout=None))
        await system.receive(timeout=5)
        second = asyncio.ensure_future(system.ask(0, waiting, timeout=None))
        await wait_until(lambda: process_backend(system).statistics().waiting == 1)
        await system.stop(waiting)  # its handler waits for the pool: killed, waiter withdrawn
        with pytest.raises(MessageDeliveryError):
            await second
        stats = process_backend(system).statistics()
        assert (stats.waiting, stats.busy, stats.workers) == (0, 1, 1)
        assert not first.done()
        first.cancel()


async def test_dead_workers_release_their_pipes_and_handles(system: Syndicate) -> None:
    configure_execution(system, max_processes=1)
    actor = await system.create_actor_from_spec(
        ActorSpec(Sleeper, execution="process", stateless=True)
    )
    victim = await system.ask(0, actor)
    baseline = open_fds()
    for died in range(1, 4):
        os.kill(victim, signal.SIGKILL)
        await wait_until(lambda count=died: process_backend(system).statistics().died == count)
        victim = await system.ask(0, actor)  # a replacement worker, with its own pipe
    # Each replacement holds what its predecessor held; the dead ones hold nothing.
    await wait_until(lambda: open_fds() <= baseline)
    assert len(process_backend(system)._pool._everyone) == 1


async def test_shutdown_while_a_worker_starts_fails_create_with_the_shutdown() -> None:
    system = Syndicate("closing-while-starting")
    await system.start()
    creating = asyncio.ensure_future(
        system.create_actor_from_spec(ActorSpec(Sleeper, execution="process", stateless=True))
    )
    await wait_until(lambda: process_backend(system).statistics().busy == 1)
    await system.shutdown()
    # Not the internal "worker died: ... killed by SIGKILL": the user shut the syndicate down.
    with pytest.raises(SyndicateError, match="shut down"):
        await creating


async def test_cancelling_a_job_at_each_await_point_leaves_the_pool_consistent(
    system: Syndicate,
) -> None:
    configure_execution(system, max_processes=1)
    pool = process_backend(system).pool
    recipe = pool.register(pickle.dumps((Sleeper, (), {})))
    address = ActorAddress(system.syndicate_id, 999)
    fields = (address, None, 0, system.syndicate_id, None, 1, None)

    async def refuse(kind: int, target: object, value: object) -> DeliveryResult:
        return DeliveryResult(False, "no requests in this test")

    def job(seconds: float, padding: int = 0) -> asyncio.Task[Any]:
        payload = pickle.dumps((seconds, {"padding": b"x" * padding}, None))
        return asyncio.ensure_future(pool.run(recipe, payload, fields, refuse))

    async def cancel(task: asyncio.Task[Any]) -> None:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    def consistent() -> bool:
        stats = pool.statistics()
        return (stats.busy, stats.waiting) == (0, 0) and stats.workers <= 1

    starting = job(0)  # the first job spawns the worker: cancelled before it could answer
    await wait_until(lambda: pool.statistics().busy == 1)
    await cancel(starting)
    await wait_until(consistent)
    assert await job(0) > 0  # a replacement serves
    await wait_until(lambda: len(pool._everyone) == 1)  # the retired one is reaped
    baseline = open_fds()  # one live worker
    running = job(30)  # mid-job
    await wait_until(lambda: pool.statistics().busy == 1)
    waiting = job(0)  # waiting for the only worker
    await wait_until(lambda: pool.statistics().waiting == 1)
    await cancel(waiting)
    await cancel(running)
    await wait_until(consistent)
    sending = job(0, padding=8 * 1024 * 1024)  # a large frame, written by a thread
    await asyncio.sleep(0)
    await cancel(sending)
    await wait_until(consistent)
    assert await job(0) > 0  # the pool still serves
    assert pool.statistics().died == 0  # every worker that went was retired on purpose
    await wait_until(lambda: open_fds() <= baseline)  # retired workers hold nothing
