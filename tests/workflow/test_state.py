"""Workflow state: a deep copy per run, visible to nodes and conditions, returned at the end."""

from __future__ import annotations

import asyncio
from typing import Any

from spark import Syndicate
from spark.core.message import Message
from spark.workflow import Node, Workflow
from tests.workflow.helpers import Identity, Tag


class Remember(Node):
    """Writes its input into the run's state."""

    async def process(self, message: Message) -> Any:
        message.state["seen"] = message.content
        message.state["log"].append(f"remember:{message.content}")
        await asyncio.sleep(0)  # let concurrent runs interleave
        return message.content


class Report(Node):
    """Reads what an earlier node wrote."""

    def process(self, message: Message) -> Any:
        message.state["log"].append("report")
        return {"seen": message.state["seen"], "owner": message.state["owner"]}


async def test_state_is_visible_to_nodes_and_returned(system: Syndicate) -> None:
    first, second = Remember(), Report()
    first >> second
    workflow = Workflow(start=first, initial_state={"owner": "ops", "log": []})
    result = await workflow.run_detailed("a", system=system)
    assert result.output == {"seen": "a", "owner": "ops"}
    assert result.state == {"owner": "ops", "log": ["remember:a", "report"], "seen": "a"}
    assert workflow.initial_state == {"owner": "ops", "log": []}


async def test_each_run_gets_its_own_deep_copy(system: Syndicate) -> None:
    first, second = Remember(), Report()
    first >> second
    template = {"owner": "ops", "log": []}
    workflow = Workflow(start=first, initial_state=template)
    template["owner"] = "changed later"  # the workflow copied it already
    results = await asyncio.gather(
        *(workflow.run_detailed(index, system=system) for index in range(50))
    )
    for index, result in enumerate(results):
        assert result.state == {
            "owner": "ops",
            "log": [f"remember:{index}", "report"],
            "seen": index,
        }
    assert workflow.initial_state["log"] == []


async def test_without_initial_state_each_run_gets_an_empty_dict(system: Syndicate) -> None:
    class Write(Node):
        def process(self, message: Message) -> Any:
            before = dict(message.state)
            message.state["n"] = message.content
            return before

    workflow = Workflow(start=Write())
    assert await workflow.run(1, system=system) == {}
    assert await workflow.run(2, system=system) == {}


async def test_conditions_can_read_state(system: Syndicate) -> None:
    start = Identity(name="start")
    start.goto(Tag("over"), expr="$ > state.limit")
    start.goto(Tag("under"), predicate=lambda context: context.outputs <= context.state["limit"])
    workflow = Workflow(start=start, initial_state={"limit": 10})
    assert await workflow.run(11, system=system) == "11-over"
    assert await workflow.run(10, system=system) == "10-under"


async def test_fan_out_branches_share_the_run_state(system: Syndicate) -> None:
    class Count(Node):
        def process(self, message: Message) -> Any:
            message.state["count"] += 1
            return message.state["count"]

    split, merge = Identity(name="split"), Identity(name="merge")
    split >> [Count(name="a"), Count(name="b"), Count(name="c")] >> merge
    result = await Workflow(start=split, initial_state={"count": 0}).run_detailed(
        None, system=system
    )
    assert sorted(result.output) == [1, 2, 3]
    assert result.state == {"count": 3}


async def test_plain_messages_to_a_node_have_no_state(system: Syndicate) -> None:
    class ShowState(Node):
        def process(self, message: Message) -> Any:
            return ("state", message.state)

    node = ShowState()
    await Workflow(start=node, initial_state={"x": 1}).start(system)
    assert await system.ask("hi", node.address) == ("state", None)
