"""Cancellation at every await point leaves the runtime consistent.

Each test starts an operation in a task, lets the loop run ``steps`` iterations, cancels the
task, and checks the invariants: the CancelledError reaches the caller, no reply slot leaks,
nothing is left half-registered.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from spark import Actor, ActorSpec, MailboxPolicy, Syndicate
from spark.core.message import Message
from tests.conftest import wait_until

STEPS = range(0, 8)


class Echo(Actor):
    async def process(self, message: Message) -> Any:
        for _ in range(3):
            await asyncio.sleep(0)
        return message.content


class Gate(Actor):
    def __init__(self, release: asyncio.Event) -> None:
        self.release = release

    async def process(self, message: Message) -> Any:
        await self.release.wait()
        return message.content


async def _run_then_cancel(coro: Any, steps: int) -> asyncio.Task[Any]:
    task = asyncio.ensure_future(coro)
    for _ in range(steps):
        await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    return task


@pytest.mark.parametrize("steps", STEPS)
async def test_cancelling_an_ask_at_any_point_leaks_no_slot(system: Syndicate, steps: int) -> None:
    echo = await system.create_actor(Echo)
    await _run_then_cancel(system.ask("x", echo, timeout=None), steps)
    assert system._slots == {}
    assert await system.ask("still alive", echo) == "still alive"
    assert system._slots == {}


@pytest.mark.parametrize("steps", STEPS)
async def test_cancelling_an_ask_blocked_on_a_full_mailbox(system: Syndicate, steps: int) -> None:
    release = asyncio.Event()
    gate = await system.create_actor_from_spec(
        ActorSpec(Gate, (release,), mailbox_policy=MailboxPolicy(1, "block"))
    )
    await system.tell("in flight", gate)
    await wait_until(lambda: system.diagnostics().actor(gate).busy)
    await system.tell("fills the mailbox", gate)
    task = await _run_then_cancel(system.ask("blocked", gate, timeout=None), steps)
    assert task.cancelled()
    assert system._slots == {}
    mailbox = system._cells[gate.actor_id].mailbox
    assert not mailbox.space_waiters
    release.set()
    assert await system.ask("after", gate) == "after"


async def test_cancelled_ask_removes_its_queued_message(system: Syndicate) -> None:
    release = asyncio.Event()
    gate = await system.create_actor(Gate, release)
    await system.tell("in flight", gate)
    await wait_until(lambda: system.diagnostics().actor(gate).busy)
    asking = asyncio.create_task(system.ask("queued", gate, timeout=None))
    await wait_until(lambda: system.diagnostics().actor(gate).mailbox_depth == 1)
    asking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asking
    assert any(event.kind == "ask_cancelled" for event in system.events)
    release.set()
    await wait_until(lambda: any(d.reason == "ask cancelled" for d in system.dead_letters))
    letter = next(d for d in system.dead_letters if d.reason == "ask cancelled")
    assert letter.envelope.content == "queued"


@pytest.mark.parametrize("steps", STEPS)
async def test_cancelling_an_ask_stream(system: Syndicate, steps: int) -> None:
    class Talker(Actor):
        async def process(self, message: Message) -> None:
            for i in range(100):
                await self.reply(message, i)
                await asyncio.sleep(0)

    talker = await system.create_actor(Talker)

    async def consume() -> list[int]:
        return [item async for item in system.ask_stream("go", talker, timeout=1)]

    await _run_then_cancel(consume(), steps)
    assert system._slots == {}


@pytest.mark.parametrize("steps", STEPS)
async def test_cancelling_create_actor_during_pre_start(system: Syndicate, steps: int) -> None:
    class SlowStart(Actor):
        async def pre_start(self) -> None:
            for _ in range(4):
                await asyncio.sleep(0)

        def process(self, message: Message) -> None:
            return None

    task = await _run_then_cancel(
        system.create_actor_from_spec(ActorSpec(SlowStart, name="s")), steps
    )
    if task.cancelled():
        assert system.diagnostics().actor_count == 0
        assert "s" not in system._names
    else:
        assert system.diagnostics().actor_count == 1


@pytest.mark.parametrize("steps", STEPS)
async def test_cancelling_receive(system: Syndicate, steps: int) -> None:
    await _run_then_cancel(system.receive(timeout=None), steps)
    assert not system.inbox._waiters
    await system.tell("for the inbox")
    assert (await system.receive(timeout=1)).content == "for the inbox"


@pytest.mark.parametrize("steps", STEPS[1:])  # at step 0 the stop was never requested
async def test_cancelling_the_waiter_of_stop_does_not_stop_the_stop(
    system: Syndicate, steps: int
) -> None:
    echo = await system.create_actor(Echo)
    await _run_then_cancel(system.stop(echo), steps)
    await wait_until(lambda: system.diagnostics().actor_count == 0)
