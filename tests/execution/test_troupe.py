"""Troupe pools (spark/execution/troupe.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from typing import Any

import pytest

from spark import (
    ActorFailed,
    ActorSpec,
    ActorTimeout,
    InvalidActorSpecError,
    MessageDeliveryError,
    Syndicate,
)
from spark.execution import (
    GetTroupeStatus,
    Troupe,
    TroupeStatus,
    UpdateTroupeSettings,
    configure_execution,
)
from tests.conftest import wait_until
from tests.execution.support import process_backend
from tests.execution.workers import (
    BadInit,
    Failing,
    Gate,
    ReportsThenSleeps,
    Sleeper,
    StuckOnce,
    WhereAmI,
)


async def status(system: Syndicate, troupe: Any) -> TroupeStatus:
    reply = await system.ask(GetTroupeStatus(), troupe)
    assert isinstance(reply, TroupeStatus)
    return reply


@pytest.mark.parametrize("mode", ["thread", "process"])
async def test_three_jobs_on_three_workers_run_in_parallel(system: Syndicate, mode: str) -> None:
    configure_execution(system, max_processes=3)
    spec = ActorSpec(Sleeper, execution=mode, stateless=True)  # type: ignore[arg-type]
    troupe = await system.create_actor(Troupe, spec, max_count=3, idle_count=3)
    await asyncio.gather(*(system.ask(0.01, troupe) for _ in range(3)))  # warm every worker
    started = time.perf_counter()
    await asyncio.gather(*(system.ask(0.3, troupe) for _ in range(3)))
    assert time.perf_counter() - started < 0.8  # one after the other would take 0.9 s
    assert (await status(system, troupe)).completed == 6


async def test_replies_go_straight_to_the_original_sender(system: Syndicate) -> None:
    troupe = await system.create_actor(Troupe, WhereAmI, max_count=2)
    assert (await system.tell("hello", troupe)).success
    reply = await system.receive(timeout=5)
    # The worker answered the syndicate inbox itself: the Troupe only forwarded.
    assert reply.content[2] == "hello"
    assert reply.sender in (await status(system, troupe)).worker_addresses
    assert reply.sender != troupe


async def test_status_and_settings(system: Syndicate) -> None:
    troupe = await system.create_actor(Troupe, WhereAmI, max_count=4, idle_count=3)
    before = await status(system, troupe)
    assert (before.workers, before.idle, before.busy, before.in_flight) == (3, 3, 0, 0)
    assert (before.max_count, before.idle_count, before.max_pending) == (4, 3, None)
    assert (before.routing, before.idle_timeout) == ("least_busy", 30.0)
    await system.ask("job", troupe)
    after = await system.ask(
        UpdateTroupeSettings(max_count=2, idle_count=1, max_pending=5, routing="round_robin"),
        troupe,
    )
    assert isinstance(after, TroupeStatus)
    assert (after.max_count, after.idle_count, after.max_pending) == (2, 1, 5)
    assert after.routing == "round_robin" and after.workers == 2  # the surplus was retired
    assert (after.dispatched, after.completed) == (1, 1)
    # An impossible combination fails the ask and leaves the Troupe as it was.
    with pytest.raises(ValueError, match="idle_count=3 exceeds max_count=2"):
        await system.ask(UpdateTroupeSettings(idle_count=3), troupe)
    assert (await status(system, troupe)).idle_count == 1
    assert system.dead_letters[-1].reason.startswith("invalid troupe settings")
    assert (await system.ask("still serving", troupe))[2] == "still serving"
    unbounded = await system.ask(UpdateTroupeSettings(max_pending=None), troupe)
    assert unbounded.max_pending is None and unbounded.max_count == 2


async def test_max_pending_overflow_is_refused_not_a_crash(system: Syndicate) -> None:
    release, seen = asyncio.Event(), []
    spec = ActorSpec(Gate, (release, seen))
    troupe = await system.create_actor(Troupe, spec, max_count=1, idle_count=1, max_pending=1)
    assert (await system.tell("running", troupe)).success
    assert (await system.tell("queued", troupe)).success
    refused = await system.tell("overflow", troupe)
    assert (refused.success, refused.reason) == (False, "troupe full")
    assert system.dead_letters[-1].reason == "troupe full"
    with pytest.raises(MessageDeliveryError) as caught:
        await system.ask("asked", troupe, timeout=5)
    assert caught.value.reason == "troupe full"
    current = await status(system, troupe)
    assert (current.in_flight, current.pending, current.refused) == (1, 1, 2)
    release.set()
    replies = {(await system.receive(timeout=5)).content for _ in range(2)}
    assert replies == {"running", "queued"}
    assert (await status(system, troupe)).completed == 2


async def test_grows_under_load_and_trims_idle_workers(system: Syndicate) -> None:
    spec = ActorSpec(Sleeper, execution="thread", stateless=True)
    troupe = await system.create_actor(Troupe, spec, max_count=3, idle_count=1, idle_timeout=0.05)
    assert (await status(system, troupe)).workers == 1
    await asyncio.gather(*(system.ask(0.1, troupe) for _ in range(3)))
    grown = await status(system, troupe)
    assert grown.dispatched == 3 and grown.completed == 3

    async def trimmed() -> bool:
        return (await status(system, troupe)).workers == 1

    await wait_until(trimmed, timeout=5)


async def test_routing_policies(system: Syndicate) -> None:
    least_busy = await system.create_actor(Troupe, WhereAmI, max_count=3, idle_count=3)
    round_robin = await system.create_actor(
        Troupe, WhereAmI, max_count=3, idle_count=3, routing="round_robin"
    )
    hottest = {(await system.ask(i, least_busy))[3] for i in range(6)}
    spread = [(await system.ask(i, round_robin))[3] for i in range(6)]
    assert len(hottest) == 1  # one at a time: the hottest idle worker takes each
    assert len(set(spread)) == 3 and spread[:3] == spread[3:]


async def test_killed_process_worker_has_its_work_redispatched(system: Syndicate) -> None:
    configure_execution(system, max_processes=2)
    spec = ActorSpec(ReportsThenSleeps, execution="process", stateless=True)
    troupe = await system.create_actor(Troupe, spec, max_count=2, idle_count=2)
    asking = asyncio.ensure_future(system.ask(0.5, troupe, timeout=10))
    _, victim = (await system.receive(timeout=5)).content
    os.kill(victim, signal.SIGKILL)
    # The ask is answered after all: by another worker process.
    survivor = await asking
    assert survivor != victim
    current = await status(system, troupe)
    assert (current.redispatched, current.completed, current.lost) == (1, 1, 0)
    assert not any(letter.reason.startswith("worker died") for letter in system.dead_letters)
    assert process_backend(system).statistics().died == 1
    # Payloads a worker process cannot take are refused at the Troupe's door.
    refused = await system.tell(threading.Lock(), troupe)
    assert not refused.success and "pickl" in refused.reason


async def test_worker_exiting_mid_work_has_its_work_redispatched() -> None:
    async with Syndicate("mid-work", stop_timeout=0.1) as system:
        deliveries: list[Any] = []
        troupe = await system.create_actor(
            Troupe, ActorSpec(StuckOnce, (deliveries,)), max_count=2, idle_count=2
        )
        assert (await system.tell("job", troupe)).success
        await wait_until(lambda: len(deliveries) == 1)
        _, stuck = deliveries[0]
        await system.stop(stuck)  # it hangs, so it is killed after stop_timeout
        reply = await system.receive(timeout=5)
        assert reply.content == ("done", "job")
        assert [content for content, _ in deliveries] == ["job", "job"]
        current = await status(system, troupe)
        assert (current.redispatched, current.completed, current.workers) == (1, 1, 2)


async def test_ask_whose_worker_is_killed_mid_work_never_hangs() -> None:
    async with Syndicate("mid-ask", stop_timeout=0.1) as system:
        deliveries: list[Any] = []
        troupe = await system.create_actor(
            Troupe, ActorSpec(StuckOnce, (deliveries,)), max_count=2, idle_count=2
        )
        asking = asyncio.ensure_future(system.ask("job", troupe, timeout=None))
        await wait_until(lambda: len(deliveries) == 1)
        await system.stop(deliveries[0][1])
        # The killed worker's message is taken back by the Troupe (not failed, not
        # dead-lettered) and answered by the other worker.
        assert await asyncio.wait_for(asking, 5) == ("done", "job")
        assert not [d for d in system.dead_letters if d.envelope.content == "job"]


async def test_failed_work_is_not_redispatched(system: Syndicate) -> None:
    troupe = await system.create_actor(Troupe, Failing, max_count=2)
    with pytest.raises(ActorFailed, match="bad input"):
        await system.ask("poison", troupe)
    current = await status(system, troupe)
    assert (current.failed, current.redispatched) == (1, 0)
    with pytest.raises(ActorFailed):
        await system.ask("again", troupe)  # the restarted worker keeps serving


async def test_stopping_the_troupe_dead_letters_its_queue() -> None:
    async with Syndicate("stop-troupe", stop_timeout=0.2) as system:
        release, seen = asyncio.Event(), []
        troupe = await system.create_actor(
            Troupe, ActorSpec(Gate, (release, seen)), max_count=1, idle_count=1
        )
        running = asyncio.ensure_future(system.ask("running", troupe, timeout=None))
        queued = asyncio.ensure_future(system.ask("queued", troupe, timeout=None))
        await wait_until(lambda: seen == ["running"])
        await system.stop(troupe)
        for pending in (running, queued):
            with pytest.raises(MessageDeliveryError, match="actor stopped"):
                await pending
        assert "actor stopped" in [letter.reason for letter in system.dead_letters]


async def test_broken_worker_spec_fails_create_or_the_queued_work(system: Syndicate) -> None:
    with pytest.raises(RuntimeError, match="cannot build this worker"):
        await system.create_actor(Troupe, BadInit, max_count=2, idle_count=1)
    lazy = await system.create_actor(Troupe, BadInit, max_count=2, idle_count=0)
    with pytest.raises(MessageDeliveryError, match="troupe could not start a worker"):
        await system.ask("x", lazy)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"max_count": 0}, ValueError, "max_count must be >= 1"),
        ({"max_count": "8"}, TypeError, "max_count must be an int"),
        ({"max_count": 2, "idle_count": 3}, ValueError, "idle_count=3 exceeds max_count=2"),
        ({"max_pending": -1}, ValueError, "max_pending must be >= 0"),
        ({"routing": "random"}, ValueError, "routing='random' is not one of"),
        ({"idle_timeout": 0}, ValueError, "idle_timeout must be a finite number > 0"),
        ({"max_redeliveries": -1}, ValueError, "max_redeliveries"),
    ],
)
async def test_invalid_arguments_are_refused(
    system: Syndicate, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        await system.create_actor(Troupe, WhereAmI, **options)
    assert system.diagnostics().actor_count == 0


async def test_invalid_worker_spec_is_refused(system: Syndicate) -> None:
    with pytest.raises(TypeError, match="needs an ActorSpec"):
        await system.create_actor(Troupe, "WhereAmI")
    with pytest.raises(InvalidActorSpecError, match="must not have a name"):
        await system.create_actor(Troupe, ActorSpec(WhereAmI, name="worker"))


async def test_lowering_max_count_retires_busy_workers_once_they_finish(
    system: Syndicate,
) -> None:
    release, seen = asyncio.Event(), []
    troupe = await system.create_actor(
        Troupe, ActorSpec(Gate, (release, seen)), max_count=3, idle_count=3
    )
    asking = [asyncio.ensure_future(system.ask(i, troupe)) for i in range(3)]
    await wait_until(lambda: len(seen) == 3)
    shrunk = await system.ask(UpdateTroupeSettings(max_count=1, idle_count=1), troupe)
    assert (shrunk.workers, shrunk.busy) == (3, 3)  # busy workers finish their work first
    release.set()
    assert sorted(await asyncio.gather(*asking)) == [0, 1, 2]

    async def one_left() -> bool:
        return (await status(system, troupe)).workers == 1

    await wait_until(one_left)


async def test_workers_with_max_concurrency_take_several_messages(system: Syndicate) -> None:
    release, seen = asyncio.Event(), []
    spec = ActorSpec(Gate, (release, seen), stateless=True, max_concurrency=3)
    troupe = await system.create_actor(Troupe, spec, max_count=1, idle_count=1, max_pending=0)
    asking = [asyncio.ensure_future(system.ask(i, troupe)) for i in range(3)]
    await wait_until(lambda: len(seen) == 3)
    assert (await status(system, troupe)).in_flight == 3
    refused = await system.tell("fourth", troupe)
    assert refused.reason == "troupe full"
    release.set()
    assert sorted(await asyncio.gather(*asking)) == [0, 1, 2]


async def test_queued_work_whose_ask_is_over_is_not_dispatched(system: Syndicate) -> None:
    release, seen = asyncio.Event(), []
    troupe = await system.create_actor(
        Troupe, ActorSpec(Gate, (release, seen)), max_count=1, idle_count=1
    )
    running = asyncio.ensure_future(system.ask("running", troupe))
    await wait_until(lambda: seen == ["running"])
    with pytest.raises(ActorTimeout):
        await system.ask("timed out", troupe, timeout=0.05)
    cancelled = asyncio.ensure_future(system.ask("cancelled", troupe))
    assert (await status(system, troupe)).pending == 2  # both wait in the Troupe's own queue
    cancelled.cancel()
    told = await system.tell("told", troupe)  # nobody waits on a tell: it still runs
    assert told.success
    release.set()
    assert await running == "running"
    assert await system.ask("live", troupe) == "live"
    # Nobody could receive an answer for the abandoned asks: the worker never saw them.
    assert seen == ["running", "told", "live"]
    reasons = [letter.reason for letter in system.dead_letters]
    assert reasons.count("ask timed out or cancelled") == 2
    assert (await status(system, troupe)).lost == 2


async def test_raising_idle_count_starts_workers(system: Syndicate) -> None:
    troupe = await system.create_actor(Troupe, WhereAmI, max_count=4, idle_count=1)
    raised = await system.ask(UpdateTroupeSettings(idle_count=3), troupe)
    assert (raised.idle_count, raised.workers, raised.idle) == (3, 3, 3)
