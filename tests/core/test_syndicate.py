"""Syndicate lifecycle, configuration and shutdown."""

from __future__ import annotations

import asyncio

import pytest

from spark import (
    Actor,
    DeliveryResult,
    MessageDeliveryError,
    Syndicate,
    SyndicateError,
    UnsupportedBackendError,
)
from spark.core.message import Message
from tests.conftest import wait_until


class Echo(Actor):
    def process(self, message: Message) -> object:
        return message.content


class Gate(Actor):
    """Blocks in its handler until released, so messages pile up behind it."""

    def __init__(self, release: asyncio.Event) -> None:
        self.release = release

    async def process(self, message: Message) -> object:
        await self.release.wait()
        return message.content


async def test_async_with_starts_and_stops() -> None:
    system = Syndicate("app")
    assert not system.running
    async with system as entered:
        assert entered is system
        assert system.running
    assert not system.running


async def test_start_and_shutdown_are_idempotent() -> None:
    system = Syndicate()
    await system.start()
    await system.start()
    await system.shutdown()
    await system.shutdown()
    with pytest.raises(SyndicateError, match="cannot be restarted"):
        await system.start()


async def test_concurrent_shutdowns_wait_for_the_same_completion() -> None:
    system = Syndicate()
    await system.start()
    await system.create_actor(Echo)
    await asyncio.gather(system.shutdown(), system.shutdown())
    assert not system.running


def test_each_instance_gets_a_random_id_and_the_name_is_a_label() -> None:
    first, second = Syndicate("app"), Syndicate("app")
    assert first.syndicate_id != second.syndicate_id
    assert first.name == second.name == "app"
    assert Syndicate(syndicate_id="fixed").syndicate_id == "fixed"


def test_unknown_keyword_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        Syndicate(remote_hots="x")  # type: ignore[call-arg]


def test_unknown_codec_and_transport_name_the_valid_ones() -> None:
    with pytest.raises(UnsupportedBackendError, match="cbor2, trusted-pickle"):
        Syndicate(transport_codec="json")
    with pytest.raises(UnsupportedBackendError, match="trusted-pickle"):
        Syndicate(transport_codec="pickle")
    with pytest.raises(UnsupportedBackendError, match="tcp, websocket"):
        Syndicate(remote_transport="udp")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("dead_letter_capacity", 0),
        ("event_capacity", -1),
        ("default_ask_timeout", 0),
        ("stop_timeout", 0),
        ("syndicate_id", ""),
        ("remote_port", 70000),
    ],
)
def test_invalid_options_are_refused(option: str, value: object) -> None:
    with pytest.raises(ValueError, match=option):
        Syndicate(**{option: value})  # type: ignore[arg-type]


async def test_remote_without_the_remote_layer_fails_clearly_at_start() -> None:
    system = Syndicate(remote=True)
    with pytest.raises(UnsupportedBackendError, match="remote"):
        await system.start()


async def test_sending_before_start_raises() -> None:
    system = Syndicate()
    with pytest.raises(SyndicateError, match="not started"):
        await system.tell("x")
    with pytest.raises(SyndicateError, match="not started"):
        await system.create_actor(Echo)


async def test_sends_after_shutdown_report_system_is_shut_down() -> None:
    system = Syndicate()
    await system.start()
    echo = await system.create_actor(Echo)
    await system.shutdown()
    result = await system.tell("late", echo)
    assert result == DeliveryResult(False, "system is shut down")
    with pytest.raises(MessageDeliveryError, match="system is shut down"):
        await system.ask("late", echo)
    assert system.dead_letters[-1].reason == "system is shut down"


async def test_shutdown_dead_letters_queued_messages_and_fails_pending_asks() -> None:
    system = Syndicate()
    await system.start()
    release = asyncio.Event()
    gate = await system.create_actor(Gate, release)
    await system.tell("in flight", gate)
    await wait_until(lambda: system.diagnostics().actor(gate).busy)
    pending = asyncio.create_task(system.ask("queued ask", gate, timeout=None))
    await wait_until(lambda: system.diagnostics().actor(gate).mailbox_depth == 1)
    for i in range(2):
        await system.tell(i, gate)
    shutdown = asyncio.create_task(system.shutdown())
    await wait_until(lambda: not system.running)
    release.set()
    await shutdown
    with pytest.raises(MessageDeliveryError, match="system is shut down"):
        await pending
    letters = {letter.envelope.content: letter.reason for letter in system.dead_letters}
    # Queued messages are dead-lettered; the in-flight one finished and its reply, which
    # reached the inbox nobody read, is dead-lettered when the inbox closes.
    assert letters == {
        "queued ask": "system is shut down",
        0: "system is shut down",
        1: "system is shut down",
        "in flight": "system is shut down",
    }


async def test_shutdown_with_drain_lets_mailboxes_empty_first() -> None:
    system = Syndicate()
    await system.start()
    seen: list[int] = []

    class Collector(Actor):
        async def process(self, message: Message) -> None:
            await asyncio.sleep(0)
            seen.append(message.content)

    collector = await system.create_actor(Collector)
    for i in range(50):
        await system.tell(i, collector)
    await system.shutdown(drain=True, timeout=5)
    assert seen == list(range(50))
    assert not system.dead_letters


async def test_shutdown_kills_an_actor_that_does_not_stop_in_time() -> None:
    system = Syndicate(stop_timeout=0.2)
    await system.start()

    class Stuck(Actor):
        async def process(self, message: Message) -> None:
            await asyncio.Event().wait()

    stuck = await system.create_actor(Stuck)
    await system.tell("hang", stuck)
    await wait_until(lambda: system.diagnostics().actor(stuck).busy)
    await system.shutdown()
    stopped = [e for e in system.events if e.kind == "actor_stopped"]
    assert stopped and stopped[-1].reason is not None
    assert stopped[-1].reason.startswith("killed")
    assert system.diagnostics().actor_count == 0


async def test_no_task_is_left_behind_after_shutdown() -> None:
    before = set(asyncio.all_tasks())
    async with Syndicate() as system:
        actors = [await system.create_actor(Echo) for _ in range(20)]
        for actor in actors:
            await system.tell("x", actor)
        await system.ask("y", actors[0])
    await asyncio.sleep(0)
    leftover = {t for t in asyncio.all_tasks() - before if not t.done()}
    assert leftover == set()


async def test_repr_mentions_name_and_state(system: Syndicate) -> None:
    assert "test" in repr(system)
    assert "running" in repr(system)
