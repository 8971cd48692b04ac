"""Actors and helpers shared by the delivery / observability tests."""

from __future__ import annotations

import asyncio
from typing import Any

from spark import Actor, ActorAddress, ActorSpec, MailboxPolicy, Syndicate
from spark.core.message import Message
from tests.conftest import wait_until


class Holder(Actor):
    """Records what it processes; a message ``"hold"`` keeps it busy until ``release`` is set,
    so the test controls exactly when its mailbox drains."""

    def __init__(self, release: asyncio.Event, seen: list[Any]) -> None:
        self.release = release
        self.seen = seen

    async def process(self, message: Message) -> Any:
        if message.content == "hold":
            self.seen.append("hold")
            await self.release.wait()
            return None
        self.seen.append(message.content)
        return message.content


class HeldActor:
    """A :class:`Holder` plus its controls."""

    def __init__(self, address: ActorAddress, release: asyncio.Event, seen: list[Any]) -> None:
        self.address = address
        self.release = release
        self.seen = seen

    async def hold(self, system: Syndicate) -> None:
        """Make the actor busy (it returns once the handler is running)."""
        assert (await system.tell("hold", self.address)).success
        await wait_until(lambda: "hold" in self.seen)


async def held_actor(
    system: Syndicate,
    policy: MailboxPolicy | None = None,
    *,
    busy: bool = True,
) -> HeldActor:
    release = asyncio.Event()
    seen: list[Any] = []
    spec = ActorSpec(Holder, (release, seen), mailbox_policy=policy or MailboxPolicy())
    held = HeldActor(await system.create_actor_from_spec(spec), release, seen)
    if busy:
        await held.hold(system)
    return held


def reasons(system: Syndicate) -> list[str]:
    return [letter.reason for letter in system.dead_letters]


def kinds(system: Syndicate) -> list[str]:
    return [event.kind for event in system.events]
