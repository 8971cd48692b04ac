"""Thread and process execution of stateless actors (spark/execution/backends.py)."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
import weakref

import pytest

from spark import (
    Actor,
    ActorFailed,
    ActorSpec,
    InvalidActorSpecError,
    MessageDeliveryError,
    SupervisorStrategy,
    Syndicate,
    SyndicateError,
)
from spark.core.message import Message
from spark.execution import ProcessBackend, ThreadBackend, configure_execution
from tests.conftest import wait_until
from tests.execution.support import process_alive, process_backend, spark_threads
from tests.execution.workers import (
    AsyncHandler,
    BadInit,
    CountsBuilds,
    Failing,
    Sleeper,
    UnpicklableReply,
    WaitsFor,
    WhereAmI,
)


def spec(cls: type[Actor], mode: str, *args: object, **options: object) -> ActorSpec:
    return ActorSpec(cls, args, execution=mode, stateless=True, **options)  # type: ignore[arg-type]


async def test_thread_actor_runs_on_another_thread(system: Syndicate) -> None:
    actor = await system.create_actor_from_spec(spec(WhereAmI, "thread"))
    pid, thread_id, content, address = await system.ask("hi", actor)
    assert pid == os.getpid()
    assert thread_id != threading.get_ident()
    assert (content, address) == ("hi", actor)
    # A tell's reply reaches the syndicate inbox, sent by the actor's own address.
    assert (await system.tell("there", actor)).success
    reply = await system.receive(timeout=5)
    assert reply.content[2] == "there" and reply.sender == actor


async def test_thread_actor_with_max_concurrency_handles_messages_at_once(
    system: Syndicate,
) -> None:
    actor = await system.create_actor_from_spec(spec(Sleeper, "thread", max_concurrency=3))
    await system.ask(0, actor)  # warm the pool's threads
    started = time.perf_counter()
    await asyncio.gather(*(system.ask(0.3, actor) for _ in range(3)))
    assert time.perf_counter() - started < 0.8  # serially it would take 0.9 s


async def test_process_actor_runs_in_another_process(system: Syndicate) -> None:
    actor = await system.create_actor_from_spec(spec(WhereAmI, "process"))
    pid, _, content, address = await system.ask({"k": [1, 2]}, actor)
    assert pid != os.getpid() and process_alive(pid)
    assert content == {"k": [1, 2]}
    assert address == actor  # self.address inside the worker is the actor's address
    assert (await system.tell("tell", actor)).success
    reply = await system.receive(timeout=5)
    assert reply.content[2] == "tell" and reply.sender == actor


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_stateful_thread_or_process_spec_is_refused(mode: str) -> None:
    with pytest.raises(InvalidActorSpecError, match="stateless=True"):
        ActorSpec(WhereAmI, execution=mode)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["thread", "process"])
async def test_async_process_is_refused_with_a_hint(system: Syndicate, mode: str) -> None:
    with pytest.raises(InvalidActorSpecError, match=r"async.*plain def.*inprocess"):
        await system.create_actor_from_spec(spec(AsyncHandler, mode))


async def test_process_spec_must_be_importable_and_picklable(system: Syndicate) -> None:
    class Local(Actor):
        def process(self, message: Message) -> None:
            return None

    with pytest.raises(InvalidActorSpecError, match="module level"):
        await system.create_actor_from_spec(spec(Local, "process"))
    with pytest.raises(InvalidActorSpecError, match="cannot pickle CountsBuilds"):
        await system.create_actor_from_spec(spec(CountsBuilds, "process", threading.Lock()))
    assert system.diagnostics().actor_count == 0


@pytest.mark.parametrize("mode", ["thread", "process"])
async def test_handler_exception_fails_the_ask_with_its_cause(system: Syndicate, mode: str) -> None:
    actor = await system.create_actor_from_spec(spec(Failing, mode))
    with pytest.raises(ActorFailed, match="bad input") as caught:
        await system.ask(7, actor)
    assert isinstance(caught.value.__cause__, ValueError)
    if mode == "process":
        notes = "".join(getattr(caught.value.__cause__, "__notes__", []))
        assert "raised in worker process" in notes and "workers.py" in notes
    assert system.dead_letters[-1].reason.startswith("handler failed: ValueError")


async def test_unpicklable_payload_is_refused_at_the_door(system: Syndicate) -> None:
    actor = await system.create_actor_from_spec(spec(WhereAmI, "process"))
    result = await system.tell(threading.Lock(), actor)
    assert not result.success and "pickl" in result.reason
    assert system.dead_letters[-1].reason == result.reason
    with pytest.raises(MessageDeliveryError) as caught:
        await system.ask(lambda: None, actor)
    assert "pickl" in caught.value.reason
    # Nothing crashed: the actor keeps serving.
    assert (await system.ask("still here", actor))[2] == "still here"


async def test_unpicklable_reply_fails_the_ask(system: Syndicate) -> None:
    actor = await system.create_actor_from_spec(spec(UnpicklableReply, "process"))
    with pytest.raises(ActorFailed) as caught:
        await system.ask("x", actor)
    assert "pickl" in caught.value.reason


async def test_process_actor_that_cannot_be_built_fails_create(system: Syndicate) -> None:
    with pytest.raises(RuntimeError, match="cannot build this worker"):
        await system.create_actor_from_spec(spec(BadInit, "process"))
    assert system.diagnostics().actor_count == 0


async def test_class_and_args_reach_each_worker_once(system: Syndicate) -> None:
    configure_execution(system, max_processes=1)
    first = await system.create_actor_from_spec(spec(CountsBuilds, "process", "a"))
    twin = await system.create_actor_from_spec(spec(CountsBuilds, "process", "a"))
    replies = [await system.ask(i, first) for i in range(5)] + [await system.ask(0, twin)]
    assert {pid for pid, _, _ in replies} == {replies[0][0]}
    # One build for the recipe ("a"), however many messages and actors share it.
    assert {builds for _, builds, _ in replies} == {1}
    other = await system.create_actor_from_spec(spec(CountsBuilds, "process", "b"))
    assert (await system.ask(0, other))[1:] == (2, "b")


async def test_configure_execution_sizes_pools_once(system: Syndicate) -> None:
    configure_execution(system, max_threads=3, max_processes=1)
    assert system.extension("execution:thread", ThreadBackend).max_workers == 3
    assert process_backend(system).max_workers == 1
    configure_execution(system, max_threads=3)  # same size: fine
    with pytest.raises(SyndicateError, match="already exists with max_workers=3"):
        configure_execution(system, max_threads=4)
    with pytest.raises(ValueError, match="max_workers"):
        configure_execution(system, max_processes=0)


async def test_shutdown_stops_every_worker_process_and_thread() -> None:
    async with Syndicate("orphans") as system:
        configure_execution(system, max_processes=2)
        process_actor = await system.create_actor_from_spec(
            spec(Sleeper, "process", max_concurrency=2)
        )
        thread_actor = await system.create_actor_from_spec(spec(Sleeper, "thread"))
        pids = set(await asyncio.gather(*(system.ask(0.05, process_actor) for _ in range(2))))
        await system.ask(0, thread_actor)
        pids |= set(process_backend(system).statistics().pids)
        assert len(pids) == 2 and all(process_alive(pid) for pid in pids)
        assert spark_threads()
    assert not [pid for pid in pids if process_alive(pid)]
    assert spark_threads() == []


async def test_shutdown_during_work_kills_the_busy_worker() -> None:
    async with Syndicate("busy", stop_timeout=0.3) as system:
        actor = await system.create_actor_from_spec(spec(Sleeper, "process"))
        pid = await system.ask(0, actor)
        pending = asyncio.ensure_future(system.ask(30, actor, timeout=None))
        await wait_until(lambda: process_backend(system).statistics().busy == 1)
    with pytest.raises(MessageDeliveryError):
        await pending
    assert not process_alive(pid)


async def test_backends_expose_statistics(system: Syndicate) -> None:
    configure_execution(system, max_threads=2)
    thread = system.extension("execution:thread", ThreadBackend)
    assert thread.statistics().max_workers == 2 and thread.statistics().in_flight == 0
    process = system.extension("execution:process", ProcessBackend)
    assert process.statistics().workers == 0  # nothing is spawned before it is needed


async def test_thread_call_outliving_its_killed_actor_still_counts_as_in_flight() -> None:
    release = threading.Event()
    async with Syndicate("outlives", stop_timeout=0.1) as system:
        thread = system.extension("execution:thread", ThreadBackend)
        actor = await system.create_actor_from_spec(spec(WaitsFor, "thread", release))
        asking = asyncio.ensure_future(system.ask("go", actor, timeout=None))
        await wait_until(lambda: thread.statistics().in_flight == 1)
        await system.stop(actor)  # killed after stop_timeout; its thread cannot be interrupted
        with pytest.raises(MessageDeliveryError):
            await asking
        assert thread.statistics().in_flight == 1  # the call still holds a pool thread
        release.set()
        await wait_until(lambda: thread.statistics().in_flight == 0)


async def test_restarted_process_actor_lets_its_old_proxy_go(system: Syndicate) -> None:
    actor = await system.create_actor_from_spec(
        spec(Failing, "process", supervisor_strategy=SupervisorStrategy.restart(max_restarts=10))
    )
    cell = system._local_cell(actor)
    assert cell is not None
    old = weakref.ref(cell.actor)
    with pytest.raises(ActorFailed):
        await system.ask("boom", actor)
    await wait_until(lambda: cell.restarts == 1)
    gc.collect()
    # Nothing registered per incarnation keeps the replaced instance alive.
    assert old() is None
