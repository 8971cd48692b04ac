"""In-memory timers: one-shot, periodic, cancel, cleared on stop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from spark import Actor, Syndicate, WakeupMessage
from spark.core.message import Message
from tests.conftest import wait_until


class Sleeper(Actor):
    def __init__(self) -> None:
        self.wakeups: list[WakeupMessage] = []
        self.order: list[Any] = []

    async def process(self, message: Message) -> Any:
        content = message.content
        if isinstance(content, WakeupMessage):
            self.wakeups.append(content)
            self.order.append(("wakeup", content.payload))
            return None
        command, *args = content
        if command == "after":
            return self.schedule_after(*args)
        if command == "every":
            return self.schedule_every(*args)
        if command == "every_named":
            interval, payload, timer_id = args
            return self.schedule_every(interval, payload, timer_id=timer_id)
        if command == "cancel":
            return self.cancel_timer(args[0])
        if command == "busy":
            self.order.append(("busy", args[0]))
            await asyncio.sleep(args[0])
            return "done"
        if command == "sequence":
            await self.tell(("mark", "queued before the timer fired"), self.address)
            self.schedule_after(0, "timer")
            await asyncio.sleep(0.02)  # the timer fires while we are busy
            await self.tell(("mark", "queued after the timer fired"), self.address)
            return "sequenced"
        if command == "withdraw":
            timer_id = self.schedule_after(0, "withdrawn")
            await asyncio.sleep(0.02)  # fired: the wakeup waits in the mailbox
            return self.cancel_timer(timer_id)
        if command == "mark":
            self.order.append(("mark", args[0]))
            return "marked"
        if command == "order":
            return list(self.order)
        if command == "state":
            return list(self.wakeups)
        return None


async def wakeups(system: Syndicate, actor: Any) -> list[WakeupMessage]:
    return list(await system.ask(("state",), actor))


async def test_schedule_after_delivers_one_wakeup(system: Syndicate) -> None:
    sleeper = await system.create_actor(Sleeper)
    timer_id = await system.ask(("after", 0.01, "ping"), sleeper)
    assert isinstance(timer_id, str)
    await wait_until(lambda: system.diagnostics().actor(sleeper).processed >= 2)
    got = await wakeups(system, sleeper)
    assert got == [WakeupMessage("ping", timer_id, 0)]
    assert system.diagnostics().actor(sleeper).timers == 0


async def test_schedule_every_repeats_until_cancelled(system: Syndicate) -> None:
    sleeper = await system.create_actor(Sleeper)
    timer_id = await system.ask(("every", 0.01, "tick"), sleeper)

    async def ticks() -> bool:
        return len(await wakeups(system, sleeper)) >= 3

    await wait_until(ticks)
    assert await system.ask(("cancel", timer_id), sleeper) is True
    count = len(await wakeups(system, sleeper))
    # Give the loop a moment: no further ticks may arrive after the cancel.
    await asyncio.sleep(0.05)
    assert len(await wakeups(system, sleeper)) == count
    assert await system.ask(("cancel", timer_id), sleeper) is False


async def test_cancelled_timer_never_delivers(system: Syndicate) -> None:
    sleeper = await system.create_actor(Sleeper)
    timer_id = await system.ask(("after", 0.02, "never"), sleeper)
    assert await system.ask(("cancel", timer_id), sleeper) is True
    await asyncio.sleep(0.05)
    assert await wakeups(system, sleeper) == []


async def test_reusing_a_timer_id_replaces_the_timer(system: Syndicate) -> None:
    sleeper = await system.create_actor(Sleeper)
    await system.ask(("every_named", 10.0, "slow", "t"), sleeper)
    await system.ask(("every_named", 0.01, "fast", "t"), sleeper)

    async def fired() -> bool:
        return len(await wakeups(system, sleeper)) >= 2

    await wait_until(fired)
    assert {w.payload for w in await wakeups(system, sleeper)} == {"fast"}
    assert system.diagnostics().actor(sleeper).timers == 1


async def test_periodic_timer_does_not_pile_up_behind_a_busy_actor(system: Syndicate) -> None:
    sleeper = await system.create_actor(Sleeper)
    await system.ask(("every", 0.005, "tick"), sleeper)
    await system.ask(("busy", 0.1), sleeper)
    depth = system.diagnostics().actor(sleeper).mailbox_depth
    assert depth <= 1  # "skip": at most one wakeup waits while the actor is busy


async def test_a_timer_never_overtakes_work_queued_before_it_fired(system: Syndicate) -> None:
    sleeper = await system.create_actor(Sleeper)
    assert await system.ask(("sequence",), sleeper) == "sequenced"

    async def all_seen() -> bool:
        return len(await system.ask(("order",), sleeper)) == 3

    await wait_until(all_seen)
    assert await system.ask(("order",), sleeper) == [
        ("mark", "queued before the timer fired"),
        ("wakeup", "timer"),
        ("mark", "queued after the timer fired"),
    ]


async def test_cancel_withdraws_a_wakeup_that_is_already_queued(system: Syndicate) -> None:
    sleeper = await system.create_actor(Sleeper)
    assert await system.ask(("withdraw",), sleeper) is True
    await system.ask(("mark", "after"), sleeper)
    assert await wakeups(system, sleeper) == []
    assert system.diagnostics().actor(sleeper).timers == 0


async def test_timers_are_cleared_when_the_actor_stops(system: Syndicate) -> None:
    sleeper = await system.create_actor(Sleeper)
    await system.ask(("every", 0.01, "tick"), sleeper)
    await system.stop(sleeper)
    handles = [h for h in asyncio.get_running_loop()._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
    assert all("TimerRegistry" not in repr(h) for h in handles)


async def test_invalid_timer_arguments(system: Syndicate) -> None:
    holder: list[Actor] = []

    class Holder(Actor):
        def pre_start(self) -> None:
            holder.append(self)

        def process(self, message: Message) -> None:
            return None

    await system.create_actor(Holder)
    actor = holder[0]
    with pytest.raises(ValueError, match="delay"):
        actor.schedule_after(-1)
    with pytest.raises(ValueError, match="interval"):
        actor.schedule_every(0)
    with pytest.raises(ValueError, match="finite"):
        actor.schedule_after(float("nan"))
    with pytest.raises(ValueError, match="finite"):
        actor.schedule_every(float("inf"))
    with pytest.raises(ValueError, match="missed"):
        actor.schedule_every(1, missed="sometimes")  # type: ignore[arg-type]
    with pytest.raises(Exception, match="PersistentActor"):
        actor.schedule_after(1, durable=True)
