"""Actors: handlers, replies, lifecycle hooks, children, helpers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from spark import (
    Actor,
    ActorAddress,
    ActorNotStartedError,
    ActorSpec,
    InvalidActorSpecError,
    Syndicate,
)
from spark.core.message import Message
from tests.conftest import wait_until


class SyncEcho(Actor):
    def process(self, message: Message) -> Any:
        return ("sync", message.content)


class AsyncEcho(Actor):
    async def process(self, message: Message) -> Any:
        await asyncio.sleep(0)
        return ("async", message.content)


async def test_sync_and_async_handlers_both_reply(system: Syndicate) -> None:
    assert await system.ask(1, await system.create_actor(SyncEcho)) == ("sync", 1)
    assert await system.ask(2, await system.create_actor(AsyncEcho)) == ("async", 2)


async def test_constructor_arguments_reach_the_instance(system: Syndicate) -> None:
    class Greeter(Actor):
        def __init__(self, greeting: str, *, punctuation: str = "!") -> None:
            self.greeting = greeting
            self.punctuation = punctuation

        def process(self, message: Message) -> str:
            return f"{self.greeting} {message.content}{self.punctuation}"

    greeter = await system.create_actor(Greeter, "hello", punctuation="?")
    assert await system.ask("bob", greeter) == "hello bob?"


async def test_messages_are_processed_one_at_a_time_in_order(system: Syndicate) -> None:
    class Recorder(Actor):
        def __init__(self) -> None:
            self.active = 0
            self.seen: list[int] = []

        async def process(self, message: Message) -> Any:
            if message.content == "report":
                return self.seen
            self.active += 1
            assert self.active == 1
            await asyncio.sleep(0)
            self.seen.append(message.content)
            self.active -= 1
            return None

    recorder = await system.create_actor(Recorder)
    for i in range(100):
        await system.tell(i, recorder)
    assert await system.ask("report", recorder) == list(range(100))


async def test_each_delivery_gets_its_own_message_object(system: Syndicate) -> None:
    kept: list[Message] = []

    class Keeper(Actor):
        def process(self, message: Message) -> None:
            kept.append(message)

    keeper = await system.create_actor(Keeper)
    payload = {"k": 1}
    await system.tell(payload, keeper, headers={"trace": "a"})
    await system.tell(payload, keeper)
    await wait_until(lambda: len(kept) == 2)
    assert kept[0] is not kept[1]
    assert kept[0].content is payload
    assert kept[0].metadata == {"trace": "a"}
    assert kept[1].metadata == {}
    assert kept[0].id != kept[1].id
    assert kept[0].sender == system.inbox.address


async def test_explicit_reply_can_send_none_and_several_replies(system: Syndicate) -> None:
    class Multi(Actor):
        async def process(self, message: Message) -> None:
            await self.reply(message, None)
            await self.reply(message, "second")

    multi = await system.create_actor(Multi)
    assert await system.ask("x", multi) is None
    # The second reply arrived after the ask had its answer: it is a late reply.
    await wait_until(lambda: len(system.late_replies) == 1)
    assert system.late_replies[0].content == "second"
    replies = [r async for r in system.ask_stream("y", multi, timeout=0.5, max_replies=2)]
    assert replies == [None, "second"]


async def test_return_value_of_a_tell_from_an_actor_goes_to_that_actor(system: Syndicate) -> None:
    class Doubler(Actor):
        def process(self, message: Message) -> int:
            return int(message.content) * 2

    class Client(Actor):
        def __init__(self, doubler: ActorAddress) -> None:
            self.doubler = doubler
            self.results: list[Any] = []

        async def process(self, message: Message) -> Any:
            if message.content == "start":
                await self.tell(21, self.doubler)
                return None
            if message.content == "results":
                return self.results
            self.results.append((message.content, message.sender))
            return None

    doubler = await system.create_actor(Doubler)
    client = await system.create_actor(Client, doubler)
    await system.tell("start", client)
    await wait_until(lambda: system.diagnostics().actor(client).processed >= 2)
    assert await system.ask("results", client) == [(42, doubler)]


async def test_helpers_raise_before_the_actor_is_started() -> None:
    class Early(Actor):
        def __init__(self) -> None:
            self.address  # noqa: B018 - the access is the test

        def process(self, message: Message) -> None:
            return None

    async with Syndicate() as system:
        with pytest.raises(ActorNotStartedError, match="pre_start"):
            await system.create_actor(Early)
    with pytest.raises(ActorNotStartedError):
        await SyncEcho().tell("x")
    with pytest.raises(ActorNotStartedError):
        SyncEcho().schedule_after(1)


async def test_pre_start_failure_propagates_and_the_actor_is_not_registered(
    system: Syndicate,
) -> None:
    calls: list[str] = []

    class Broken(Actor):
        def pre_start(self) -> None:
            calls.append("pre_start")
            raise RuntimeError("cannot start")

        def post_stop(self) -> None:
            calls.append("post_stop")

        def process(self, message: Message) -> None:
            return None

    with pytest.raises(RuntimeError, match="cannot start"):
        await system.create_actor_from_spec(ActorSpec(Broken, name="broken"))
    assert calls == ["pre_start"]
    assert system.diagnostics().actor_count == 0
    # The name was released, so a healthy actor can take it.
    healthy = await system.create_actor_from_spec(ActorSpec(SyncEcho, name="broken"))
    assert system.resolve_name("broken") == healthy


async def test_async_hooks_run_in_order(system: Syndicate) -> None:
    calls: list[str] = []

    class Hooked(Actor):
        async def pre_start(self) -> None:
            await asyncio.sleep(0)
            calls.append("pre_start")

        def process(self, message: Message) -> str:
            calls.append(f"process:{message.content}")
            return "ok"

        async def post_stop(self) -> None:
            await asyncio.sleep(0)
            calls.append("post_stop")

    hooked = await system.create_actor(Hooked)
    assert calls == ["pre_start"]
    await system.ask("a", hooked)
    # A stop request travels on the control lane: it overtakes queued user messages,
    # which become dead letters ("actor stopped").
    await system.tell("never processed", hooked)
    await system.stop(hooked)
    assert calls == ["pre_start", "process:a", "post_stop"]
    assert system.dead_letters[-1].envelope.content == "never processed"
    assert system.dead_letters[-1].reason == "actor stopped"


async def test_children_stop_before_their_parent_newest_first(system: Syndicate) -> None:
    order: list[str] = []

    class Leaf(Actor):
        def __init__(self, label: str) -> None:
            self.label = label

        def process(self, message: Message) -> None:
            return None

        def post_stop(self) -> None:
            order.append(self.label)

    class Parent(Actor):
        async def pre_start(self) -> None:
            await self.create_actor(Leaf, "first")
            await self.create_actor(Leaf, "second")

        def process(self, message: Message) -> Any:
            return self.children

        def post_stop(self) -> None:
            order.append("parent")

    parent = await system.create_actor(Parent)
    children = await system.ask("children", parent)
    assert len(children) == 2
    await system.stop(parent)
    assert order == ["second", "first", "parent"]
    assert system.diagnostics().actor_count == 0


async def test_parent_is_told_when_a_child_exits(system: Syndicate) -> None:
    exits: list[tuple[ActorAddress, str]] = []

    class Parent(Actor):
        async def process(self, message: Message) -> Any:
            if message.content == "spawn":
                return await self.create_actor(SyncEcho)
            return exits

        def on_child_exited(self, child: ActorAddress, reason: str) -> None:
            exits.append((child, reason))

    parent = await system.create_actor(Parent)
    child = await system.ask("spawn", parent)
    assert await system.ask("who is your parent?", child) == ("sync", "who is your parent?")
    await system.stop(child, reason="done with it")
    await wait_until(lambda: len(exits) == 1)
    assert exits == [(child, "done with it")]


async def test_actor_properties(system: Syndicate) -> None:
    class Introspect(Actor):
        async def process(self, message: Message) -> Any:
            if message.content == "child":
                child = await self.create_actor(Introspect)
                return await self.ask("props", child)
            return (self.address, self.parent, self.syndicate_id, self.incarnation)

    actor = await system.create_actor(Introspect)
    address, parent, syndicate_id, incarnation = await system.ask("props", actor)
    assert address == actor and parent is None and incarnation == 0
    assert syndicate_id == system.syndicate_id
    child_address, child_parent, _, _ = await system.ask("child", actor)
    assert child_parent == actor and child_address != actor


async def test_an_actor_can_stop_itself_from_its_handler(system: Syndicate) -> None:
    class Quitter(Actor):
        async def process(self, message: Message) -> str:
            await self.stop()
            return "bye"

    quitter = await system.create_actor(Quitter)
    await system.monitor(quitter)
    assert await system.ask("go", quitter) == "bye"
    exited = await system.receive(timeout=2)
    assert exited.content.actor == quitter
    assert exited.content.reason == "actor stopped"
    assert exited.content.exit_code == 0


async def test_forward_keeps_the_original_sender(system: Syndicate) -> None:
    class Router(Actor):
        def __init__(self, worker: ActorAddress) -> None:
            self.worker = worker

        async def process(self, message: Message) -> None:
            await self.forward(message, self.worker)

    worker = await system.create_actor(SyncEcho)
    router = await system.create_actor(Router, worker)
    assert await system.ask("via router", router) == ("sync", "via router")


async def test_stop_is_idempotent_and_unknown_targets_are_ignored(system: Syndicate) -> None:
    echo = await system.create_actor(SyncEcho)
    await system.stop(echo)
    await system.stop(echo)
    await system.stop(ActorAddress(system.syndicate_id, 999_999))


async def test_creating_a_child_of_a_stopped_actor_is_refused(system: Syndicate) -> None:
    holder: list[Actor] = []

    class Keep(Actor):
        def pre_start(self) -> None:
            holder.append(self)

        def process(self, message: Message) -> None:
            return None

    kept = await system.create_actor(Keep)
    await system.stop(kept)
    with pytest.raises(ActorNotStartedError):
        await holder[0].create_actor(SyncEcho)


def test_spec_validation_messages_name_the_problem() -> None:
    class NoProcess(Actor):
        pass

    with pytest.raises(InvalidActorSpecError, match="process"):
        ActorSpec(NoProcess)
    with pytest.raises(InvalidActorSpecError, match="subclass of spark.Actor"):
        ActorSpec(object)  # type: ignore[arg-type]
    with pytest.raises(InvalidActorSpecError, match="stateless=True"):
        ActorSpec(SyncEcho, execution="thread")
    with pytest.raises(InvalidActorSpecError, match="stateless=True"):
        ActorSpec(SyncEcho, max_concurrency=2)
    with pytest.raises(InvalidActorSpecError, match="one of"):
        ActorSpec(SyncEcho, execution="gpu")  # type: ignore[arg-type]
    with pytest.raises(InvalidActorSpecError, match="max_concurrency"):
        ActorSpec(SyncEcho, max_concurrency=0)
    spec = ActorSpec(SyncEcho, [1], {"a": 1})  # type: ignore[arg-type]
    assert spec.args == (1,) and dict(spec.kwargs) == {"a": 1}
    with pytest.raises(TypeError):
        spec.kwargs["b"] = 2  # type: ignore[index]


async def test_stateless_actor_with_concurrency_handles_messages_at_once(
    system: Syndicate,
) -> None:
    gate = asyncio.Event()
    started: list[int] = []

    class Parallel(Actor):
        async def process(self, message: Message) -> int:
            started.append(message.content)
            await gate.wait()
            return int(message.content)

    parallel = await system.create_actor_from_spec(
        ActorSpec(Parallel, stateless=True, max_concurrency=3)
    )
    asks = [asyncio.create_task(system.ask(i, parallel)) for i in range(5)]
    await wait_until(lambda: len(started) == 3)
    gate.set()
    assert sorted(await asyncio.gather(*asks)) == [0, 1, 2, 3, 4]


async def test_a_child_can_stop_its_parent_without_deadlock(system: Syndicate) -> None:
    class Rebel(Actor):
        async def process(self, message: Message) -> str:
            assert self.parent is not None
            await self.system.stop(self.parent)
            return "asked my parent to stop"

    class Parent(Actor):
        async def process(self, message: Message) -> Any:
            return await self.create_actor(Rebel)

    parent = await system.create_actor(Parent)
    rebel = await system.ask("spawn", parent)
    await system.monitor(parent)
    assert await system.ask("go", rebel) == "asked my parent to stop"
    notice = await system.receive(timeout=2)
    assert notice.content.actor == parent
    assert notice.content.exit_code == 0
    assert system.diagnostics().actor_count == 0


async def test_extension_hooks_are_paired_even_when_start_fails_or_the_actor_is_killed() -> None:
    calls: list[str] = []

    class Extended(Actor):
        def __init__(self, fail_start: bool = False) -> None:
            self.fail_start = fail_start

        async def _spark_before_start(self) -> None:
            calls.append("before")

        async def _spark_after_stop(self) -> None:
            calls.append("after")

        def pre_start(self) -> None:
            if self.fail_start:
                raise RuntimeError("no")

        async def process(self, message: Message) -> None:
            await asyncio.Event().wait()

    async with Syndicate(stop_timeout=0.05) as system:
        with pytest.raises(RuntimeError):
            await system.create_actor(Extended, True)
        await wait_until(lambda: calls == ["before", "after"])
        stuck = await system.create_actor(Extended)
        await system.tell("hang", stuck)
        await wait_until(lambda: system.diagnostics().actor(stuck).busy)
        await system.stop(stuck)  # times out and kills
        await wait_until(lambda: calls == ["before", "after", "before", "after"])
