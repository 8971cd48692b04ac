"""Inboxes of the syndicate and of endpoints: capacity, expiry, closing, reply isolation."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from spark import Actor, ActorTimeout, Syndicate, SyndicateError
from spark.core.message import Message
from tests.conftest import wait_until
from tests.core._delivery_helpers import reasons


class Echo(Actor):
    async def process(self, message: Message) -> Any:
        await asyncio.sleep(0)
        return message.content


async def test_a_full_inbox_refuses_and_dead_letters() -> None:
    async with Syndicate("inbox", inbox_capacity=2) as system:
        assert (await system.tell(1)).success
        assert (await system.tell(2)).success
        result = await system.tell(3)
        assert (result.success, result.reason) == (False, "inbox full")
        assert reasons(system) == ["inbox full"]
        assert [(await system.receive(timeout=1)).content for _ in range(2)] == [1, 2]
        assert (await system.tell(4)).success  # room again once read


async def test_receive_times_out(system: Syndicate) -> None:
    with pytest.raises(ActorTimeout) as caught:
        await system.receive(timeout=0.01)
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.target == system.inbox.address


async def test_expired_messages_are_dead_lettered_not_received(system: Syndicate) -> None:
    await system.tell("stale", ttl=0.01)
    await system.tell("fresh", ttl=30)
    until = time.monotonic() + 0.01
    await wait_until(lambda: time.monotonic() > until)
    assert (await system.receive(timeout=1)).content == "fresh"
    assert reasons(system) == ["message expired"]
    assert system.dead_letters[0].envelope.content == "stale"


async def test_a_reader_waits_past_expired_messages(system: Syndicate) -> None:
    await system.tell("stale", ttl=0.01)
    until = time.monotonic() + 0.01
    await wait_until(lambda: time.monotonic() > until)
    reader = asyncio.create_task(system.receive(timeout=5))
    await asyncio.sleep(0)
    await system.tell("fresh")
    assert (await reader).content == "fresh"
    assert reasons(system) == ["message expired"]


async def test_closed_endpoint_dead_letters_unread_and_refuses(system: Syndicate) -> None:
    endpoint = system.endpoint()
    address = endpoint.address
    await system.tell("read", address)
    await system.tell("unread", address)
    assert (await endpoint.receive(timeout=1)).content == "read"
    endpoint.close()
    assert reasons(system) == ["endpoint closed"]
    assert system.dead_letters[0].envelope.content == "unread"
    result = await system.tell("after close", address)
    assert (result.success, result.reason) == (False, "target not found")


async def test_a_reader_is_woken_by_close(system: Syndicate) -> None:
    endpoint = system.endpoint()
    reader = asyncio.create_task(endpoint.receive(timeout=5))
    await asyncio.sleep(0)
    endpoint.close()
    with pytest.raises(SyndicateError, match="endpoint closed"):
        await reader


async def test_listen_ends_after_a_quiet_period(system: Syndicate) -> None:
    for value in range(3):
        await system.tell(value)
    assert [message.content async for message in system.listen(timeout=0.01)] == [0, 1, 2]


async def test_concurrent_asks_on_one_endpoint_get_their_own_replies(system: Syndicate) -> None:
    echo = await system.create_actor(Echo)
    async with system.endpoint() as endpoint:
        replies = await asyncio.gather(*(endpoint.ask(value, echo) for value in range(20)))
        assert replies == list(range(20))
        await endpoint.tell("via inbox", echo)
        assert (await endpoint.receive(timeout=1)).content == "via inbox"
