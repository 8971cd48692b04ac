"""Runtime events: kinds, the bounded ring, subscriptions, failing subscribers, tracing."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from spark import EVENT_KINDS, Actor, ActorAddress, RuntimeEvent, Syndicate
from spark.core.message import Message
from tests.conftest import wait_until
from tests.core._delivery_helpers import kinds

NOWHERE = ActorAddress("nowhere", 1)

#: DESIGN.md §4.8, verbatim.
DESIGN_KINDS = {
    "actor_started",
    "actor_stopped",
    "actor_restarted",
    "actor_failed",
    "supervision_decision",
    "supervision_escalated",
    "mailbox_overflow",
    "dead_letter",
    "late_reply",
    "ask_timed_out",
    "ask_cancelled",
    "timer_fired",
    "journal_appended",
    "journal_snapshot_saved",
    "journal_recovered",
    "peer_connected",
    "peer_disconnected",
    "handshake_failed",
    "frame_rejected",
    "member_joined",
    "member_suspect",
    "member_down",
    "member_left",
    "message_enqueued",
    "message_processed",
}


class Echo(Actor):
    def process(self, message: Message) -> Any:
        return message.content


def test_every_documented_kind_exists() -> None:
    assert DESIGN_KINDS <= EVENT_KINDS
    extra = EVENT_KINDS - DESIGN_KINDS
    assert extra == {"subscriber_failed", "lifecycle_hook_failed"}


async def test_an_event_carries_its_facts(system: Syndicate) -> None:
    address = await system.create_actor(Echo)
    (event,) = system.events
    assert isinstance(event, RuntimeEvent)
    assert (event.kind, event.syndicate_id, event.actor) == (
        "actor_started",
        system.syndicate_id,
        address,
    )
    assert event.timestamp > 0 and event.message_id is None and event.reason is None
    assert event.fields["class"] == "Echo"
    with pytest.raises(TypeError):
        event.fields["class"] = "changed"  # type: ignore[index]


async def test_the_ring_keeps_the_newest_events() -> None:
    async with Syndicate("ring", event_capacity=3) as system:
        for value in range(5):
            await system.tell(value, NOWHERE)
        assert len(system.events) == 3
        assert [event.kind for event in system.events] == ["dead_letter"] * 3
        ids = [event.message_id for event in system.events]
        assert ids == sorted(ids)  # newest last
        assert system.diagnostics().event_counts["dead_letter"] == 5


async def test_subscribe_filter_and_unsubscribe(system: Syndicate) -> None:
    everything: list[RuntimeEvent] = []
    dead: list[RuntimeEvent] = []
    unsubscribe_all = system.subscribe(everything.append)
    unsubscribe_dead = system.subscribe(dead.append, kinds=["dead_letter"])
    address = await system.create_actor(Echo)
    await system.tell("x", NOWHERE)
    assert [event.kind for event in everything] == ["actor_started", "dead_letter"]
    assert [event.kind for event in dead] == ["dead_letter"]
    unsubscribe_dead()
    unsubscribe_dead()  # idempotent
    await system.tell("y", NOWHERE)
    assert len(dead) == 1 and len(everything) == 3
    unsubscribe_all()
    await system.stop(address)
    assert len(everything) == 3


async def test_a_single_kind_may_be_given_as_a_string(system: Syndicate) -> None:
    seen: list[RuntimeEvent] = []
    system.subscribe(seen.append, kinds="actor_started")
    await system.create_actor(Echo)
    await system.tell("x", NOWHERE)
    assert [event.kind for event in seen] == ["actor_started"]


async def test_bad_subscriptions_are_refused(system: Syndicate) -> None:
    with pytest.raises(ValueError, match="no_such_kind"):
        system.subscribe(lambda event: None, kinds=["dead_letter", "no_such_kind"])
    with pytest.raises(TypeError):
        system.subscribe("not callable")  # type: ignore[arg-type]


async def test_a_raising_subscriber_is_unsubscribed_and_reported(
    system: Syndicate, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []
    healthy: list[RuntimeEvent] = []

    def broken(event: RuntimeEvent) -> None:
        calls.append(event.kind)
        raise RuntimeError("subscriber bug")

    system.subscribe(broken)
    system.subscribe(healthy.append)
    with caplog.at_level(logging.ERROR, logger="spark"):
        result = await system.tell("x", NOWHERE)  # the emitting code is not disturbed
    assert result.reason == "remote route not found"
    await system.tell("y", NOWHERE)
    assert calls == ["dead_letter"]  # called once, then unsubscribed
    failed = [event for event in system.events if event.kind == "subscriber_failed"]
    assert len(failed) == 1
    assert failed[0].reason == "RuntimeError: subscriber bug"
    assert "broken" in failed[0].fields["callback"]
    assert [event.kind for event in healthy] == ["dead_letter", "subscriber_failed", "dead_letter"]
    assert any("unsubscribed" in record.getMessage() for record in caplog.records)


async def test_an_async_subscriber_is_awaited(system: Syndicate) -> None:
    seen: list[str] = []

    async def subscriber(event: RuntimeEvent) -> None:
        await asyncio.sleep(0)
        seen.append(event.kind)

    system.subscribe(subscriber, kinds={"dead_letter"})
    await system.tell("x", NOWHERE)
    await system.tell("y", NOWHERE)
    await wait_until(lambda: seen == ["dead_letter", "dead_letter"])


async def test_a_raising_async_subscriber_is_unsubscribed_and_reported(
    system: Syndicate,
) -> None:
    calls: list[int] = []

    async def broken(event: RuntimeEvent) -> None:
        calls.append(event.message_id or 0)
        raise ValueError("async subscriber bug")

    system.subscribe(broken, kinds=["dead_letter"])
    await system.tell("x", NOWHERE)
    await wait_until(lambda: "subscriber_failed" in kinds(system))
    await system.tell("y", NOWHERE)
    assert len(calls) == 1
    failed = [event for event in system.events if event.kind == "subscriber_failed"]
    assert len(failed) == 1 and failed[0].reason == "ValueError: async subscriber bug"
    # The runtime keeps working.
    echo = await system.create_actor(Echo)
    assert await system.ask("still fine", echo) == "still fine"


async def test_events_already_handed_to_an_unsubscribed_async_callback_do_not_run(
    system: Syndicate,
) -> None:
    ran: list[str] = []

    async def subscriber(event: RuntimeEvent) -> None:
        ran.append(event.kind)

    unsubscribe = system.subscribe(subscriber, kinds=["dead_letter"])
    await system.tell("x", NOWHERE)  # the coroutine is created, its task not yet run
    unsubscribe()
    await wait_until(lambda: not system._tasks)
    assert ran == []


async def test_no_per_message_events_without_tracing(system: Syndicate) -> None:
    seen: list[RuntimeEvent] = []
    system.subscribe(seen.append)
    echo = await system.create_actor(Echo)
    for value in range(10):
        assert await system.ask(value, echo) == value
    assert [event.kind for event in seen] == ["actor_started"]


async def test_tracing_adds_enqueued_and_processed_events() -> None:
    async with Syndicate("traced", trace_messages=True) as system:
        echo = await system.create_actor(Echo)
        await system.ask("x", echo)
        await wait_until(lambda: "message_processed" in kinds(system))
        traced = [event for event in system.events if event.kind.startswith("message_")]
        assert [event.kind for event in traced] == ["message_enqueued", "message_processed"]
        assert traced[0].message_id == traced[1].message_id
        assert traced[0].actor == echo


async def test_lifecycle_and_ask_events(system: Syndicate) -> None:
    release = asyncio.Event()

    class Quiet(Actor):
        async def process(self, message: Message) -> None:
            await release.wait()

    quiet = await system.create_actor(Quiet)
    with pytest.raises(TimeoutError):
        await system.ask("never answered", quiet, timeout=0.01)
    asking = asyncio.create_task(system.ask("cancelled", quiet, timeout=30))
    await wait_until(lambda: len(system._slots) == 1)
    asking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asking
    release.set()
    await system.stop(quiet)
    seen = kinds(system)
    for kind in ("actor_started", "ask_timed_out", "ask_cancelled", "actor_stopped"):
        assert kind in seen
