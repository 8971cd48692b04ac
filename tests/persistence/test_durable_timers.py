"""Durable timers: stored before returning, survive restarts, at-least-once, missed policies."""

from __future__ import annotations

import asyncio
import pickle
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from spark import (
    Actor,
    ActorFailed,
    ActorSpec,
    MailboxPolicy,
    PersistenceError,
    SparkException,
    SupervisorStrategy,
    Syndicate,
)
from spark.core.message import Message
from spark.core.messages import WakeupMessage
from spark.persistence import DurableTimer, PersistentActor, TimerId
from tests.conftest import wait_until
from tests.persistence.conftest import JournalKind

MakeSyndicate = Callable[..., Syndicate]
Wakeups = list[tuple[Any, str, int]]


class Sleeper(PersistentActor):
    """Records every wakeup in a list shared across instances (restarts, syndicates)."""

    def __init__(self, persistence_id: str, wakeups: Wakeups, failures: list[str] | None = None):
        super().__init__(persistence_id)
        self.wakeups = wakeups
        self.failures = failures if failures is not None else []

    def apply_event(self, event: Any) -> None:
        return None

    async def process(self, message: Message) -> Any:
        content = message.content
        if isinstance(content, WakeupMessage):
            self.wakeups.append((content.payload, content.timer_id, content.missed))
            if content.payload == "fail-once" and not self.failures:
                self.failures.append("failed")
                raise RuntimeError("wakeup handler failed")
            return None
        match content:
            case ("after", delay, payload, timer_id):
                return await self.schedule_after(delay, payload, durable=True, timer_id=timer_id)
            case ("every", interval, payload, timer_id, missed):
                return await self.schedule_every(
                    interval, payload, durable=True, timer_id=timer_id, missed=missed
                )
            case ("cancel", timer_id):
                return self.cancel_timer(timer_id)
            case ("cancel_and_wait", timer_id):
                return await self.cancel_durable_timer(timer_id)
            case ("hold", event, then, schedule):
                if schedule is not None:  # fires while this handler is still running
                    await self.schedule_after(0, schedule, durable=True, timer_id=schedule)
                await event.wait()
                if then == "boom":
                    raise RuntimeError("boom while holding")
                if then is not None:
                    self.cancel_timer(then)
            case ("crowd", event, timer_id):
                await self.tell("filler", self.address)  # fills a one-slot mailbox
                await self.schedule_after(0, "retry", durable=True, timer_id=timer_id)
                await event.wait()
            case "unpicklable":
                try:
                    self.schedule_after(1, threading.Lock(), durable=True)
                except PersistenceError as error:
                    return f"refused: {error}"
            case "plain":
                timer_id = self.schedule_after(30, "in-memory", timer_id="plain")
                assert isinstance(timer_id, TimerId)
                return await timer_id
        return None


async def rows(system: Syndicate, persistence_id: str = "sleeper") -> list[DurableTimer]:
    timers: list[DurableTimer] = await system.journal.list_timers(persistence_id)
    return timers


async def test_fires_and_deletes_its_row_after_processing(make_syndicate: MakeSyndicate) -> None:
    wakeups: Wakeups = []
    async with make_syndicate() as system:
        sleeper = await system.create_actor(Sleeper, "sleeper", wakeups)
        before = time.time()
        assert await system.ask(("after", 0.05, "ping", None), sleeper) is not None
        (row,) = await rows(system)  # stored before the awaited schedule_after returned
        assert row.payload == "ping" and row.interval is None
        assert before + 0.05 <= row.due_at <= time.time() + 0.05
        await wait_until(lambda: wakeups == [("ping", row.timer_id, 0)])

        async def row_deleted() -> bool:
            return await rows(system) == []

        await wait_until(row_deleted)
        fired = [e for e in system.events if e.kind == "timer_fired"]
        assert fired[0].fields["durable"] is True


async def test_survives_a_restart_of_the_syndicate(make_syndicate: MakeSyndicate) -> None:
    wakeups: Wakeups = []
    async with make_syndicate() as system:
        sleeper = await system.create_actor(Sleeper, "sleeper", wakeups)
        await system.ask(("after", 0.4, "later", "t1"), sleeper)
    assert wakeups == []  # shut down before it was due
    async with make_syndicate() as system:
        await system.create_actor(Sleeper, "sleeper", wakeups)
        await wait_until(lambda: wakeups == [("later", "t1", 0)])

        async def row_deleted() -> bool:
            return await rows(system) == []

        await wait_until(row_deleted)


async def test_an_overdue_timer_fires_right_after_recovery(journal_kind: JournalKind) -> None:
    wakeups: Wakeups = []
    async with journal_kind.syndicate() as system:
        await system.journal.upsert_timer(
            "sleeper", DurableTimer("overdue", time.time() - 3600, "late")
        )
        sleeper = await system.create_actor(Sleeper, "sleeper", wakeups)
        await system.ask(("after", 60, "far", "far"), sleeper)  # queued behind the wakeup
        assert wakeups == [("late", "overdue", 0)]
        recovered = [e for e in system.events if e.kind == "journal_recovered"]
        assert recovered[0].fields["timers"] == 1


async def test_cancel_deletes_the_row_and_it_never_fires(make_syndicate: MakeSyndicate) -> None:
    wakeups: Wakeups = []
    async with make_syndicate() as system:
        sleeper = await system.create_actor(Sleeper, "sleeper", wakeups)
        await system.ask(("after", 0.05, "cancelled", "c"), sleeper)
        assert await system.ask(("cancel", "c"), sleeper) is True
        assert await system.ask(("cancel", "c"), sleeper) is False
        await system.ask(("after", 0.1, "sentinel", "s"), sleeper)
        await wait_until(lambda: ("sentinel", "s", 0) in wakeups)
        assert wakeups == [("sentinel", "s", 0)]
    async with make_syndicate() as system:
        assert await rows(system) == []


async def test_cancel_durable_timer_waits_for_the_deletion(make_syndicate: MakeSyndicate) -> None:
    async with make_syndicate() as system:
        sleeper = await system.create_actor(Sleeper, "sleeper", [])
        await system.ask(("after", 60, "x", "t"), sleeper)
        assert await system.ask(("cancel_and_wait", "t"), sleeper) is True
        assert await rows(system) == []
        assert await system.ask(("cancel_and_wait", "t"), sleeper) is False


async def test_cancel_removes_a_wakeup_already_queued(make_syndicate: MakeSyndicate) -> None:
    wakeups: Wakeups = []
    async with make_syndicate() as system:
        sleeper = await system.create_actor(Sleeper, "sleeper", wakeups)
        release = asyncio.Event()
        await system.tell(("hold", release, "q", "q"), sleeper)
        await wait_until(lambda: system.diagnostics().actor(sleeper).mailbox_depth == 1)
        release.set()  # the handler now cancels "q", whose wakeup is waiting in the mailbox
        await system.ask(("after", 0, "sentinel", "s"), sleeper)
        await wait_until(lambda: ("sentinel", "s", 0) in wakeups)
        assert wakeups == [("sentinel", "s", 0)]
        assert await rows(system) == []
        assert not [d for d in system.dead_letters if isinstance(d.envelope.content, WakeupMessage)]


async def test_replacing_a_timer_id_keeps_one_row(make_syndicate: MakeSyndicate) -> None:
    wakeups: Wakeups = []
    async with make_syndicate() as system:
        sleeper = await system.create_actor(Sleeper, "sleeper", wakeups)
        await system.ask(("after", 60, "old", "same"), sleeper)
        await system.ask(("after", 0.01, "new", "same"), sleeper)
        await wait_until(lambda: wakeups == [("new", "same", 0)])

        async def row_deleted() -> bool:
            return await rows(system) == []

        await wait_until(row_deleted)


async def test_a_failed_wakeup_is_delivered_again_after_the_restart(
    make_syndicate: MakeSyndicate,
) -> None:
    wakeups: Wakeups = []
    failures: list[str] = []
    async with make_syndicate() as system:
        spec = ActorSpec(
            Sleeper,
            ("sleeper", wakeups, failures),
            supervisor_strategy=SupervisorStrategy.restart(),
        )
        sleeper = await system.create_actor_from_spec(spec)
        await system.ask(("after", 0, "fail-once", "f"), sleeper)
        await wait_until(lambda: len(wakeups) == 2)
        assert wakeups == [("fail-once", "f", 0), ("fail-once", "f", 0)]

        async def row_deleted() -> bool:
            return await rows(system) == []

        await wait_until(row_deleted)
        assert system.diagnostics().actor(sleeper).incarnation == 1


async def test_a_wakeup_queued_at_restart_is_adopted_not_duplicated(
    make_syndicate: MakeSyndicate,
) -> None:
    wakeups: Wakeups = []
    async with make_syndicate() as system:
        spec = ActorSpec(
            Sleeper, ("sleeper", wakeups), supervisor_strategy=SupervisorStrategy.restart()
        )
        sleeper = await system.create_actor_from_spec(spec)
        release = asyncio.Event()
        holding = asyncio.ensure_future(system.ask(("hold", release, "boom", "o"), sleeper))
        await wait_until(lambda: system.diagnostics().actor(sleeper).mailbox_depth == 1)
        release.set()
        with pytest.raises(ActorFailed):
            await holding
        await system.ask(("after", 0.05, "sentinel", "s"), sleeper)
        await wait_until(lambda: ("sentinel", "s", 0) in wakeups)
        assert wakeups == [("o", "o", 0), ("sentinel", "s", 0)]
        assert system.diagnostics().actor(sleeper).incarnation == 1


async def test_a_refused_wakeup_is_offered_again(
    make_syndicate: MakeSyndicate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("spark.persistence._durable.DROP_RETRY_DELAY", 0.02)
    wakeups: Wakeups = []
    async with make_syndicate() as system:
        spec = ActorSpec(
            Sleeper, ("sleeper", wakeups), mailbox_policy=MailboxPolicy.bounded(1, "reject")
        )
        sleeper = await system.create_actor_from_spec(spec)
        release = asyncio.Event()
        await system.tell(("crowd", release, "r"), sleeper)
        await wait_until(
            lambda: any(
                d.reason == "mailbox full" and isinstance(d.envelope.content, WakeupMessage)
                for d in system.dead_letters
            )
        )
        release.set()
        await wait_until(lambda: wakeups == [("retry", "r", 0)])

        async def row_deleted() -> bool:
            return await rows(system) == []

        await wait_until(row_deleted)


# -- periodic timers and missed ticks --------------------------------------------------------

INTERVAL = 60.0


async def _recover_with_overdue_periodic(
    journal_kind: JournalKind, missed: str, intervals_late: float, wakeups: Wakeups
) -> tuple[Syndicate, float]:
    """Store a periodic timer that fell due ``intervals_late`` intervals ago, then recover."""
    system = journal_kind.syndicate()
    await system.start()
    due = time.time() - intervals_late * INTERVAL
    await system.journal.upsert_timer(
        "sleeper", DurableTimer("tick", due, "tick", interval=INTERVAL, missed=missed)  # type: ignore[arg-type]
    )
    await system.create_actor(Sleeper, "sleeper", wakeups)
    return system, due


async def _stored_due(system: Syndicate) -> float:
    (row,) = await rows(system)
    return row.due_at


async def test_periodic_skip_fires_once_and_reschedules_from_now(
    journal_kind: JournalKind,
) -> None:
    wakeups: Wakeups = []
    system, _ = await _recover_with_overdue_periodic(journal_kind, "skip", 10.5, wakeups)
    try:
        await wait_until(lambda: wakeups == [("tick", "tick", 0)])
        now = time.time()

        async def advanced() -> bool:
            return await _stored_due(system) > now

        await wait_until(advanced)
        assert await _stored_due(system) == pytest.approx(now + INTERVAL, abs=2)
    finally:
        await system.shutdown()


async def test_periodic_coalesce_fires_once_with_the_missed_count(
    journal_kind: JournalKind,
) -> None:
    wakeups: Wakeups = []
    system, due = await _recover_with_overdue_periodic(journal_kind, "coalesce", 10.5, wakeups)
    try:
        await wait_until(lambda: wakeups == [("tick", "tick", 10)])

        async def advanced() -> bool:
            return await _stored_due(system) > due

        await wait_until(advanced)
        assert await _stored_due(system) == pytest.approx(due + 11 * INTERVAL, abs=0.01)
    finally:
        await system.shutdown()


async def test_periodic_catch_up_fires_once_per_missed_tick(journal_kind: JournalKind) -> None:
    wakeups: Wakeups = []
    system, due = await _recover_with_overdue_periodic(journal_kind, "catch_up", 4.5, wakeups)
    try:
        await wait_until(lambda: len(wakeups) == 5)
        assert wakeups == [("tick", "tick", 0)] * 5

        async def advanced() -> bool:
            return await _stored_due(system) == pytest.approx(due + 5 * INTERVAL, abs=0.01)

        await wait_until(advanced)
    finally:
        await system.shutdown()


async def test_periodic_catch_up_is_bounded(
    journal_kind: JournalKind, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("spark.persistence._durable.MAX_CATCH_UP", 3)
    wakeups: Wakeups = []
    system, _ = await _recover_with_overdue_periodic(journal_kind, "catch_up", 9.5, wakeups)
    try:
        await wait_until(lambda: len(wakeups) == 3)
        assert wakeups == [("tick", "tick", 0), ("tick", "tick", 0), ("tick", "tick", 7)]
    finally:
        await system.shutdown()


@pytest.mark.parametrize("missed", ["skip", "coalesce", "catch_up"])
async def test_periodic_ticks_advance_the_stored_due_time(
    make_syndicate: MakeSyndicate, missed: str
) -> None:
    wakeups: Wakeups = []
    async with make_syndicate() as system:
        sleeper = await system.create_actor(Sleeper, "sleeper", wakeups)
        await system.ask(("every", 0.02, "beat", "beat", missed), sleeper)
        first = await _stored_due(system)
        await wait_until(lambda: len(wakeups) >= 3)

        async def advanced() -> bool:
            return await _stored_due(system) > first

        await wait_until(advanced)
        assert await system.ask(("cancel_and_wait", "beat"), sleeper) is True
        assert await rows(system) == []
        assert all(payload == "beat" for payload, _, _ in wakeups)


async def test_a_periodic_timer_survives_a_restart(make_syndicate: MakeSyndicate) -> None:
    wakeups: Wakeups = []
    async with make_syndicate() as system:
        sleeper = await system.create_actor(Sleeper, "sleeper", wakeups)
        await system.ask(("every", 0.05, "beat", "beat", "coalesce"), sleeper)
    count = len(wakeups)
    async with make_syndicate() as system:
        await system.create_actor(Sleeper, "sleeper", wakeups)
        await wait_until(lambda: len(wakeups) >= count + 2)
        assert wakeups[-1][:2] == ("beat", "beat")


# -- API details -----------------------------------------------------------------------------


async def test_unpicklable_payload_is_refused_at_once(make_syndicate: MakeSyndicate) -> None:
    async with make_syndicate() as system:
        sleeper = await system.create_actor(Sleeper, "sleeper", [])
        reply = await system.ask("unpicklable", sleeper)
        assert reply.startswith("refused: cannot serialize")
        assert await rows(system) == []


async def test_in_memory_timers_return_an_awaitable_id_too(make_syndicate: MakeSyndicate) -> None:
    async with make_syndicate() as system:
        sleeper = await system.create_actor(Sleeper, "sleeper", [])
        reply = await system.ask("plain", sleeper)
        assert reply == "plain" and type(reply) is str
        assert await rows(system) == []


def test_timer_id_pickles_as_a_plain_string() -> None:
    async def scenario() -> None:
        stored = asyncio.get_running_loop().create_future()
        timer_id = TimerId("t-1", stored)
        assert timer_id == "t-1" and not timer_id.stored
        restored = pickle.loads(pickle.dumps({"timer": timer_id}))
        assert type(restored["timer"]) is str and restored["timer"] == "t-1"
        stored.set_result(None)
        assert timer_id.stored
        assert await timer_id == "t-1"

    asyncio.run(scenario())


async def test_invalid_durable_timer_arguments(make_syndicate: MakeSyndicate) -> None:
    async with make_syndicate() as system:
        spec = ActorSpec(Sleeper, ("sleeper", []), supervisor_strategy=SupervisorStrategy.resume())
        sleeper = await system.create_actor_from_spec(spec)
        for bad in (
            ("after", -1, None, None),
            ("after", float("nan"), None, None),
            ("after", 1, None, ""),
            ("every", 0, None, None, "skip"),
            ("every", 1, None, None, "later"),
        ):
            with pytest.raises(ActorFailed, match="ValueError"):
                await system.ask(bad, sleeper)


async def test_a_plain_actor_cannot_have_durable_timers(system: Syndicate) -> None:
    class Plain(Actor):
        def process(self, message: Message) -> Any:
            return self.schedule_after(1, durable=True)

    plain = await system.create_actor(Plain)
    with pytest.raises(ActorFailed) as caught:
        await system.ask("go", plain)
    assert isinstance(caught.value.__cause__, SparkException)
    assert "PersistentActor" in str(caught.value.__cause__)
