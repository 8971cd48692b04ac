"""ask, ask_stream, reply slots, deadlock detection."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from spark import (
    Actor,
    ActorAddress,
    ActorDeadlockError,
    ActorFailed,
    ActorSpec,
    ActorTimeout,
    MessageDeliveryError,
    Syndicate,
)
from spark.core.message import Message
from tests.conftest import wait_until


class Echo(Actor):
    def process(self, message: Message) -> Any:
        return message.content


class Silent(Actor):
    """Keeps the messages it gets and never answers by itself."""

    def __init__(self) -> None:
        self.kept: list[Message] = []

    async def process(self, message: Message) -> Any:
        if message.content == "release":
            for kept in self.kept:
                await self.reply(kept, f"late:{kept.content}")
            return "released"
        self.kept.append(message)
        return None


class Boom(Actor):
    def process(self, message: Message) -> Any:
        raise ValueError(f"bad input {message.content!r}")


async def test_ask_timeout_is_an_actor_timeout_and_a_timeout_error(system: Syndicate) -> None:
    silent = await system.create_actor(Silent)
    with pytest.raises(ActorTimeout) as caught:
        await system.ask("x", silent, timeout=0.05)
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.target == silent
    assert system._slots == {}
    assert any(event.kind == "ask_timed_out" for event in system.events)


async def test_reply_after_timeout_is_a_late_reply_not_a_dead_letter(system: Syndicate) -> None:
    silent = await system.create_actor(Silent)
    with pytest.raises(ActorTimeout):
        await system.ask("x", silent, timeout=0.05)
    assert await system.ask("release", silent) == "released"
    await wait_until(lambda: len(system.late_replies) == 1)
    assert system.late_replies[0].content == "late:x"
    assert system.late_replies[0].sender == silent
    assert system.dead_letters == ()
    assert any(event.kind == "late_reply" for event in system.events)


async def test_default_and_unbounded_timeouts() -> None:
    async with Syndicate(default_ask_timeout=0.05) as system:
        silent = await system.create_actor(Silent)
        with pytest.raises(ActorTimeout):
            await system.ask("x", silent)
        waiting = asyncio.create_task(system.ask("y", silent, timeout=None))
        await wait_until(lambda: len(system._slots) == 1)
        await system.tell("release", silent)
        assert await waiting == "late:y"
        with pytest.raises(ValueError, match="timeout"):
            await system.ask("z", silent, timeout=-1)


async def test_ask_to_unknown_target_fails_at_once(system: Syndicate) -> None:
    ghost = ActorAddress(system.syndicate_id, 424242)
    with pytest.raises(MessageDeliveryError) as caught:
        await system.ask("x", ghost, timeout=None)
    assert caught.value.reason == "target not found"
    assert caught.value.target == ghost
    assert system._slots == {}
    assert system.dead_letters[-1].reason == "target not found"


async def test_ask_to_unknown_name_fails_at_once(system: Syndicate) -> None:
    with pytest.raises(MessageDeliveryError, match="target not found"):
        await system.ask("x", "nobody", timeout=None)
    with pytest.raises(TypeError, match="target must be"):
        await system.ask("x", 42, timeout=None)  # type: ignore[arg-type]


async def test_failing_handler_fails_the_ask_with_the_cause(system: Syndicate) -> None:
    boom = await system.create_actor(Boom)
    with pytest.raises(ActorFailed) as caught:
        await system.ask(7, boom, timeout=None)
    assert isinstance(caught.value.__cause__, ValueError)
    assert "bad input 7" in caught.value.reason
    assert caught.value.target == boom
    assert system.dead_letters[-1].reason.startswith("handler failed: ValueError")


async def test_target_stopping_fails_pending_asks_with_actor_stopped(system: Syndicate) -> None:
    silent = await system.create_actor(Silent)
    in_handler = asyncio.create_task(system.ask("held", silent, timeout=None))
    await wait_until(lambda: system.diagnostics().actor(silent).processed == 1)
    await system.stop(silent)
    with pytest.raises(MessageDeliveryError) as caught:
        await in_handler
    assert caught.value.reason == "actor stopped"


async def test_ask_without_target_is_answered_by_the_inbox_reader(system: Syndicate) -> None:
    asking = asyncio.create_task(system.ask("question", timeout=2))
    question = await system.receive(timeout=2)
    assert question.content == "question"
    assert question.correlation_id is not None
    await system.reply(question, "answer")
    assert await asking == "answer"


async def test_concurrent_asks_on_one_endpoint_get_their_own_replies(system: Syndicate) -> None:
    class Slow(Actor):
        async def process(self, message: Message) -> Any:
            await asyncio.sleep(0.001 * (message.content % 5))
            return message.content * 10

    slow = await system.create_actor_from_spec(ActorSpec(Slow, stateless=True, max_concurrency=8))
    async with system.endpoint() as endpoint:
        results = await asyncio.gather(*(endpoint.ask(i, slow) for i in range(50)))
    assert results == [i * 10 for i in range(50)]


async def test_asking_itself_is_a_deadlock_error(system: Syndicate) -> None:
    class Narcissus(Actor):
        async def process(self, message: Message) -> Any:
            try:
                await self.ask("me?", self.address)
            except ActorDeadlockError as error:
                return str(error)
            return "no error"

    narcissus = await system.create_actor(Narcissus)
    answer = await system.ask("go", narcissus, timeout=1)
    assert "asked itself" in answer


async def test_ask_cycle_is_a_deadlock_error(system: Syndicate) -> None:
    class Ping(Actor):
        def __init__(self) -> None:
            self.peer: ActorAddress | None = None

        async def process(self, message: Message) -> Any:
            if isinstance(message.content, ActorAddress):
                self.peer = message.content
                return "ok"
            if message.content == "start":
                return await self.ask("bounce", self.peer)
            try:
                return await self.ask("back", self.peer)
            except ActorDeadlockError as error:
                return f"refused: {error}"

    a = await system.create_actor(Ping)
    b = await system.create_actor(Ping)
    await system.ask(b, a)
    await system.ask(a, b)
    answer = await system.ask("start", a, timeout=1)
    assert answer.startswith("refused:") and "deadlock" in answer


async def test_ask_from_another_task_of_the_actor_is_not_a_deadlock(system: Syndicate) -> None:
    class Background(Actor):
        def __init__(self) -> None:
            self.task: asyncio.Task[Any] | None = None

        async def process(self, message: Message) -> Any:
            if message.content == "start":
                self.task = asyncio.create_task(self.ask("inner", self.address))
                return "started"
            if message.content == "result":
                assert self.task is not None
                return await asyncio.wait_for(asyncio.shield(self.task), 1)
            return f"answered {message.content}"

    actor = await system.create_actor(Background)
    assert await system.ask("start", actor) == "started"
    await wait_until(lambda: system.diagnostics().actor(actor).processed >= 2)
    assert await system.ask("result", actor) == "answered inner"


async def test_ask_stream_collects_replies_until_max_or_gap(system: Syndicate) -> None:
    class Counter(Actor):
        async def process(self, message: Message) -> None:
            for i in range(int(message.content)):
                await self.reply(message, i)

    counter = await system.create_actor(Counter)
    assert [r async for r in system.ask_stream(5, counter, timeout=1)][:5] == [0, 1, 2, 3, 4]
    assert [r async for r in system.ask_stream(5, counter, timeout=1, max_replies=3)] == [0, 1, 2]
    assert [r async for r in system.ask_stream(0, counter, timeout=0.05)] == []
    assert system._slots == {}
    with pytest.raises(ValueError, match="max_replies"):
        async for _ in system.ask_stream(1, counter, max_replies=0):
            pass


async def test_ask_stream_raises_when_the_handler_fails(system: Syndicate) -> None:
    boom = await system.create_actor(Boom)
    with pytest.raises(ActorFailed):
        async for _ in system.ask_stream("x", boom, timeout=1):
            pass


async def test_nested_asks_between_actors(system: Syndicate) -> None:
    class Front(Actor):
        def __init__(self, back: ActorAddress) -> None:
            self.back = back

        async def process(self, message: Message) -> Any:
            return ("front", await self.ask(message.content, self.back))

    back = await system.create_actor(Echo)
    front = await system.create_actor(Front, back)
    assert await system.ask("x", front) == ("front", "x")
