"""Node: naming, actor helpers, lifecycle hooks, and use as a plain actor."""

from __future__ import annotations

from typing import Any

import pytest

from spark import Actor, ActorNotStartedError, Syndicate
from spark.core.message import Message
from spark.workflow import Node, Workflow
from tests.conftest import wait_until
from tests.workflow.helpers import Identity, Tag


class Recorder(Actor):
    def __init__(self) -> None:
        self.received: list[Any] = []

    def process(self, message: Message) -> None:
        self.received.append(message.content)


class Notifier(Node):
    """Uses the actor helpers from inside a workflow run."""

    def __init__(self, recorder: Any) -> None:
        super().__init__()
        self.recorder = recorder
        self.events: list[str] = []

    def pre_start(self) -> None:
        self.events.append(f"pre_start at {self.address}")

    async def post_stop(self) -> None:
        self.events.append("post_stop")

    async def process(self, message: Message) -> dict[str, Any]:
        await self.tell(("seen", message.content), self.recorder)
        return {"me": self.address, "run": message.correlation_id, "sender": message.sender}


def test_name_defaults_to_the_class_and_can_be_set() -> None:
    assert Identity().name == "Identity"
    assert Identity(name="first").name == "first"
    node = Tag("x")  # its __init__ does not call super().__init__()
    assert node.name == "Tag"
    node.name = "tagger"
    assert node.name == "tagger"
    assert repr(node) == "<Tag node 'tagger'>"
    with pytest.raises(TypeError):
        node.name = ""


def test_actor_helpers_raise_before_the_node_is_started() -> None:
    node = Identity()
    with pytest.raises(ActorNotStartedError):
        _ = node.address


async def test_node_helpers_and_hooks_work_inside_a_run(system: Syndicate) -> None:
    recorder = await system.create_actor(Recorder)
    node = Notifier(recorder)
    workflow = Workflow(start=node)
    result = await workflow.run("hello", system=system)
    assert result["me"] == node.address
    assert result["run"] == 1
    assert result["sender"] is None
    assert node.events == [f"pre_start at {node.address}"]
    cell = system._cells[recorder.actor_id]
    await wait_until(lambda: cell.actor.received == [("seen", "hello")])  # type: ignore[union-attr]
    await workflow.shutdown()
    assert node.events[-1] == "post_stop"
    with pytest.raises(ActorNotStartedError):
        _ = node.address


async def test_a_started_node_answers_plain_messages_like_any_actor(system: Syndicate) -> None:
    node = Tag("t")
    workflow = Workflow(start=node)
    await workflow.start(system)
    assert await system.ask("x", node.address) == "x-t"


async def test_diagnostics_show_the_node_class(system: Syndicate) -> None:
    node = Tag("t")
    await Workflow(start=node).start(system)
    classes = [actor.actor_class for actor in system.diagnostics().actors]
    assert "Tag" in classes


class SyncHooks(Node):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    def pre_start(self) -> None:
        self.events.append("pre_start")

    def post_stop(self) -> None:
        self.events.append("post_stop")

    def process(self, message: Message) -> Any:
        return (self.address, message.content)


class AsyncHooks(SyncHooks):
    async def process(self, message: Message) -> Any:
        return (self.address, message.content)


@pytest.mark.parametrize("node_class", [SyncHooks, AsyncHooks])
async def test_sync_and_async_nodes_get_helpers_and_hooks(
    system: Syndicate, node_class: type[SyncHooks]
) -> None:
    node = node_class()
    workflow = Workflow(start=node)
    address, content = await workflow.run("x", system=system)
    assert (address, content) == (node.address, "x")
    assert await system.ask("plain", node.address) == (node.address, "plain")
    await workflow.shutdown()
    assert node.events == ["pre_start", "post_stop"]
