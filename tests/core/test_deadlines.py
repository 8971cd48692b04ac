"""TTL and deadlines: validation, expiry on send and on dequeue, inheritance by nested sends."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from spark import (
    Actor,
    ActorAddress,
    ActorSpec,
    ActorTimeout,
    MailboxPolicy,
    MessageDeliveryError,
    Syndicate,
)
from spark.core.identity import Envelope
from spark.core.message import Message
from tests.conftest import wait_until
from tests.core._delivery_helpers import Holder, held_actor, reasons


async def _time_passes(seconds: float) -> None:
    """Poll the monotonic clock (what deadlines use) until ``seconds`` have passed."""
    until = time.monotonic() + seconds
    await wait_until(lambda: time.monotonic() > until)


class Recorder(Actor):
    """Records the deadline each message carries (``None`` when it has none)."""

    def __init__(self, deadlines: list[float | None]) -> None:
        self.deadlines = deadlines

    def process(self, message: Message) -> Any:
        assert isinstance(message, Envelope)
        self.deadlines.append(message.deadline)
        return message.content if message.correlation_id is not None else None


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ttl": 1.0, "deadline": datetime.now(UTC) + timedelta(seconds=1)},
        {"deadline": datetime.now() + timedelta(seconds=1)},  # naive
        {"deadline": 5.0},
        {"ttl": -1},
        {"ttl": float("nan")},
        {"ttl": "1"},
        {"ttl": True},
    ],
)
async def test_invalid_ttl_or_deadline_is_a_value_error(
    system: Syndicate, kwargs: dict[str, Any]
) -> None:
    address = await system.create_actor(Recorder, [])
    with pytest.raises(ValueError):
        await system.tell("x", address, **kwargs)
    with pytest.raises(ValueError):
        await system.ask("x", address, **kwargs)
    assert system.dead_letters == ()


async def test_aware_deadline_in_any_timezone_is_accepted(system: Syndicate) -> None:
    deadlines: list[float | None] = []
    address = await system.create_actor(Recorder, deadlines)
    tokyo = timezone(timedelta(hours=9))
    deadline = datetime.now(tokyo) + timedelta(seconds=30)
    assert await system.ask("x", address, deadline=deadline) == "x"
    remaining = deadlines[0] - time.monotonic()  # type: ignore[operator]
    assert 25 < remaining <= 30


# -- checked on send -------------------------------------------------------------------------


async def test_expired_on_send(system: Syndicate) -> None:
    address = await system.create_actor(Recorder, [])
    result = await system.tell("x", address, ttl=0)
    assert (result.success, result.reason) == (False, "message expired")
    past = datetime.now(UTC) - timedelta(seconds=1)
    result = await system.tell("y", address, deadline=past)
    assert (result.success, result.reason) == (False, "message expired")
    with pytest.raises(MessageDeliveryError) as caught:
        await system.ask("z", address, ttl=0)
    assert caught.value.reason == "message expired"
    assert reasons(system) == ["message expired"] * 3
    assert [letter.envelope.content for letter in system.dead_letters] == ["x", "y", "z"]
    assert not system._slots


# -- checked on dequeue ----------------------------------------------------------------------


async def test_expired_while_queued_is_dead_lettered_not_processed(system: Syndicate) -> None:
    held = await held_actor(system)
    assert (await system.tell("stale", held.address, ttl=0.02)).success
    assert (await system.tell("fresh", held.address, ttl=30)).success
    await _time_passes(0.02)
    held.release.set()
    await wait_until(lambda: held.seen == ["hold", "fresh"])
    assert reasons(system) == ["message expired"]
    assert system.dead_letters[0].envelope.content == "stale"


async def test_deadline_passed_while_queued_is_dead_lettered(system: Syndicate) -> None:
    held = await held_actor(system)
    soon = datetime.now(UTC) + timedelta(seconds=0.02)
    assert (await system.tell("stale", held.address, deadline=soon)).success
    await _time_passes(0.03)
    held.release.set()
    await wait_until(lambda: reasons(system) == ["message expired"])
    assert held.seen == ["hold"]


async def test_expired_while_queued_for_a_concurrent_actor(system: Syndicate) -> None:
    release = asyncio.Event()
    seen: list[Any] = []
    concurrent = ActorSpec(Holder, (release, seen), stateless=True, max_concurrency=2)
    address = await system.create_actor_from_spec(concurrent)
    await system.tell("hold", address)
    await system.tell("hold", address)
    await wait_until(lambda: seen == ["hold", "hold"])
    await system.tell("stale", address, ttl=0.02)
    await _time_passes(0.02)
    release.set()
    await wait_until(lambda: reasons(system) == ["message expired"])
    assert "stale" not in seen


async def test_ask_wait_is_capped_by_its_own_ttl(system: Syndicate) -> None:
    held = await held_actor(system)
    with pytest.raises(ActorTimeout) as caught:
        await system.ask("late", held.address, timeout=30, ttl=0.05)
    assert caught.value.timeout is not None and caught.value.timeout < 0.06
    held.release.set()
    await wait_until(lambda: reasons(system) == ["message expired"])
    assert "late" not in held.seen


async def test_blocked_send_gives_up_at_the_deadline(system: Syndicate) -> None:
    held = await held_actor(system, MailboxPolicy(max_size=1, overflow="block"))
    await system.tell("queued", held.address)
    result = await system.tell("impatient", held.address, ttl=0.03)
    assert (result.success, result.reason) == (False, "message expired")
    held.release.set()


# -- inheritance -----------------------------------------------------------------------------


class Relay(Actor):
    """Passes each message on to ``target`` in various ways, reporting what it got back."""

    def __init__(self, target: ActorAddress) -> None:
        self.target = target

    async def process(self, message: Message) -> Any:
        kind, argument = message.content
        if kind == "tell":
            return (await self.tell("nested", self.target, ttl=argument)).reason
        if kind == "ask":
            return await self.ask("nested", self.target, ttl=argument)
        if kind == "gather":
            results = await asyncio.gather(self.tell("a", self.target), self.ask("b", self.target))
            return results[1]
        if kind == "ask_timeout":
            try:
                await self.ask("nested", self.target, timeout=argument)
            except ActorTimeout as error:
                return ("timeout", error.timeout)
            return ("answered", None)
        raise AssertionError(kind)


async def _relay(system: Syndicate, target: ActorAddress) -> ActorAddress:
    return await system.create_actor(Relay, target)


async def test_nested_tell_and_ask_inherit_the_deadline(system: Syndicate) -> None:
    deadlines: list[float | None] = []
    recorder = await system.create_actor(Recorder, deadlines)
    relay = await _relay(system, recorder)
    assert await system.ask(("tell", None), relay, ttl=30) == "delivered"
    assert await system.ask(("ask", None), relay, ttl=30) == "nested"
    await wait_until(lambda: len(deadlines) == 2)
    assert deadlines[0] is not None and deadlines[1] is not None
    assert 25 < deadlines[0] - time.monotonic() <= 30
    # Without a deadline on the outer message, nothing is inherited.
    assert await system.ask(("tell", None), relay) == "delivered"
    await wait_until(lambda: len(deadlines) == 3)
    assert deadlines[2] is None


async def test_a_shorter_nested_ttl_wins_a_longer_one_is_capped(system: Syndicate) -> None:
    deadlines: list[float | None] = []
    recorder = await system.create_actor(Recorder, deadlines)
    relay = await _relay(system, recorder)
    await system.ask(("ask", 5), relay, ttl=30)
    await system.ask(("ask", 300), relay, ttl=30)
    shorter, capped = deadlines
    assert shorter is not None and capped is not None
    now = time.monotonic()
    assert 0 < shorter - now <= 5
    assert 25 < capped - now <= 30


async def test_inherited_deadline_reaches_tasks_the_handler_awaits(system: Syndicate) -> None:
    deadlines: list[float | None] = []
    recorder = await system.create_actor(Recorder, deadlines)
    relay = await _relay(system, recorder)
    assert await system.ask(("gather", None), relay, ttl=30) == "b"
    await wait_until(lambda: len(deadlines) == 2)
    assert all(d is not None and 25 < d - time.monotonic() <= 30 for d in deadlines)


async def test_nested_ask_timeout_is_capped_by_the_inherited_deadline(system: Syndicate) -> None:
    held = await held_actor(system)
    relay = await _relay(system, held.address)
    # A tell, so that only the nested ask is bounded by the deadline; its answer goes to the inbox.
    await system.tell(("ask_timeout", 30), relay, ttl=0.2)
    outcome = (await system.receive(timeout=5)).content
    assert outcome[0] == "timeout"
    assert outcome[1] < 0.21
    held.release.set()


async def test_nested_send_after_the_inherited_deadline_expires_on_send(
    system: Syndicate,
) -> None:
    class Slow(Actor):
        def __init__(self, target: ActorAddress) -> None:
            self.target = target

        async def process(self, message: Message) -> str:
            await _time_passes(0.03)
            return (await self.tell("too late", self.target)).reason

    recorder = await system.create_actor(Recorder, [])
    slow = await system.create_actor(Slow, recorder)
    await system.tell("go", slow, ttl=0.02)
    reply = await system.receive(timeout=5)
    assert reply.content == "message expired"
    assert reasons(system) == ["message expired"]


async def test_ask_stream_ends_at_the_deadline(system: Syndicate) -> None:
    class Streamer(Actor):
        async def process(self, message: Message) -> None:
            await self.reply(message, 1)
            # ... and never a second reply.

    streamer = await system.create_actor(Streamer)
    loop = asyncio.get_running_loop()
    started = loop.time()
    replies = [item async for item in system.ask_stream("go", streamer, timeout=30, ttl=0.05)]
    assert replies == [1]
    assert loop.time() - started < 5
