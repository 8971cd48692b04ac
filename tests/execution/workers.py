"""Actor classes used by the execution tests (module level: worker processes import them)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

from spark import Actor
from spark.core.message import Message
from spark.execution import worker_context


class WhereAmI(Actor):
    """Replies (pid, thread id, content, own address)."""

    def process(self, message: Message) -> Any:
        return (os.getpid(), threading.get_ident(), message.content, self.address)


class Sleeper(Actor):
    """Sleeps ``message.content`` seconds (blocking), replies with the pid."""

    def process(self, message: Message) -> int:
        time.sleep(message.content)
        return os.getpid()


class Failing(Actor):
    def process(self, message: Message) -> None:
        raise ValueError(f"bad input {message.content!r}")


class UsesHelper(Actor):
    """Calls the actor helper named by the message (refused inside a worker)."""

    def process(self, message: Message) -> Any:
        helper = message.content
        if helper == "ask":
            return self.ask("question")
        if helper == "tell":
            return self.tell("note")
        if helper == "create_actor":
            return self.create_actor(WhereAmI)
        if helper == "schedule_after":
            return self.schedule_after(1.0)
        if helper == "stop":
            return self.stop()
        if helper == "children":
            return self.children
        if helper == "system":
            return self.system.ask
        if helper == "identity":
            return (self.address, self.syndicate_id, self.parent)
        raise AssertionError(f"unknown helper {helper!r}")


class ReportsThenSleeps(Actor):
    """Tells ``("started", pid)`` to the syndicate inbox, then sleeps ``message.content`` s."""

    def process(self, message: Message) -> int:
        worker_context().tell(("started", os.getpid()))
        time.sleep(message.content)
        return os.getpid()


class RepliesEarly(Actor):
    def process(self, message: Message) -> str:
        worker_context().reply(message, "early")
        return "late"


class UnpicklableReply(Actor):
    def process(self, message: Message) -> Any:
        return threading.Lock()


class CountsBuilds(Actor):
    """Counts how often this class was built in the current process."""

    builds = 0

    def __init__(self, tag: str) -> None:
        type(self).builds += 1
        self.tag = tag

    def process(self, message: Message) -> tuple[int, int, str]:
        return (os.getpid(), type(self).builds, self.tag)


class BadInit(Actor):
    def __init__(self) -> None:
        raise RuntimeError("cannot build this worker")

    def process(self, message: Message) -> None:
        return None


class AsyncHandler(Actor):
    async def process(self, message: Message) -> None:
        return None


class ReturnsCoroutine(Actor):
    def process(self, message: Message) -> Any:
        return asyncio.sleep(0)


class Gate(Actor):
    """In-process worker: waits for ``event`` (shared through the spec args), then replies."""

    def __init__(self, event: asyncio.Event, seen: list[Any]) -> None:
        self.event = event
        self.seen = seen

    async def process(self, message: Message) -> Any:
        self.seen.append(message.content)
        await self.event.wait()
        return message.content


class StuckOnce(Actor):
    """In-process worker: the first delivery overall hangs forever, later ones answer."""

    def __init__(self, deliveries: list[Any]) -> None:
        self.deliveries = deliveries

    async def process(self, message: Message) -> Any:
        self.deliveries.append((message.content, self.address))
        if len(self.deliveries) == 1:
            await asyncio.Event().wait()
        return ("done", message.content)


class WaitsFor(Actor):
    """Thread worker: blocks its thread until ``event`` (a ``threading.Event``) is set."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def process(self, message: Message) -> str:
        self.event.wait(30)
        return "released"


class SendsFromPostStop(Actor):
    """Tells the syndicate inbox from post_stop()."""

    def process(self, message: Message) -> str:
        return "ok"

    def post_stop(self) -> None:
        worker_context().tell("bye")
