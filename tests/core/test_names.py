"""Name registry."""

from __future__ import annotations

import pytest

from spark import Actor, ActorAlreadyExists, ActorNotFound, ActorSpec, Syndicate
from spark.core.message import Message


class Echo(Actor):
    def process(self, message: Message) -> object:
        return message.content


async def test_register_resolve_and_send_by_name(system: Syndicate) -> None:
    echo = await system.create_actor(Echo)
    system.register_name("echo", echo)
    assert system.resolve_name("echo") == echo
    assert await system.ask("by name", "echo") == "by name"
    assert (await system.tell("x", "echo")).success


async def test_spec_name_is_registered_and_released_on_stop(system: Syndicate) -> None:
    echo = await system.create_actor_from_spec(ActorSpec(Echo, name="svc"))
    assert system.resolve_name("svc") == echo
    with pytest.raises(ActorAlreadyExists, match="svc"):
        await system.create_actor_from_spec(ActorSpec(Echo, name="svc"))
    await system.stop(echo)
    with pytest.raises(ActorNotFound, match="svc"):
        system.resolve_name("svc")
    result = await system.tell("x", "svc")
    assert not result.success and result.reason == "target not found"


async def test_duplicate_and_invalid_registrations(system: Syndicate) -> None:
    first = await system.create_actor(Echo)
    second = await system.create_actor(Echo)
    system.register_name("one", first)
    system.register_name("one", first)  # re-registering the same address is fine
    with pytest.raises(ActorAlreadyExists, match="one"):
        system.register_name("one", second)
    with pytest.raises(ValueError):
        system.register_name("", first)
    await system.stop(second)
    with pytest.raises(ActorNotFound):
        system.register_name("two", second)
    system.unregister_name("one")
    with pytest.raises(ActorNotFound):
        system.resolve_name("one")
