"""Node hosts: what happens when a node's handler ends unusually (a stray CancelledError, a
kill), seen from a run and from a plain ask."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from spark import Syndicate
from spark.core.message import Message
from spark.workflow import Node, Workflow, WorkflowError
from tests.conftest import wait_until
from tests.workflow.helpers import Gated, Identity


def _cancelled_future() -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.cancel()
    return future


class AwaitsCancelled(Node):
    """Awaits a future someone else cancelled: CancelledError, yet nobody cancelled the node."""

    async def process(self, message: Message) -> Any:
        if message.content == "cancelled":
            await _cancelled_future()
        return message.content


class ReadsCancelled(Node):
    """The same from a sync node: ``result()`` of a cancelled future."""

    def process(self, message: Message) -> Any:
        if message.content == "cancelled":
            return _cancelled_future().result()
        return message.content


@pytest.mark.parametrize("node_class", [AwaitsCancelled, ReadsCancelled])
async def test_a_node_raising_cancelled_error_fails_the_run_at_once(
    system: Syndicate, node_class: type[Node]
) -> None:
    start = Identity(name="start")
    start >> node_class(name="node")
    workflow = Workflow(start=start)
    await workflow.start(system)
    # the other runs' inputs queue behind the failing one in the node's mailbox
    failed, *others = await asyncio.gather(
        *(workflow.run(data, timeout=2) for data in ("cancelled", "fine", "also fine")),
        return_exceptions=True,
    )
    assert isinstance(failed, WorkflowError)
    assert "node 'node' failed: CancelledError" in str(failed)
    assert isinstance(failed.__cause__, asyncio.CancelledError)
    assert others == ["fine", "also fine"]
    assert any(
        letter.reason.startswith("handler failed: CancelledError") for letter in system.dead_letters
    )


async def test_a_node_killed_by_a_shutdown_fails_the_run_as_dropped() -> None:
    finished: list[str] = []
    stuck = Gated("stuck", finished)
    workflow = Workflow(start=stuck)
    system = Syndicate("killed", stop_timeout=0.1)
    await system.start()
    run = asyncio.create_task(workflow.run("x", system=system))
    await wait_until(lambda: workflow.statistics().active_runs == 1)
    await system.shutdown()
    with pytest.raises(WorkflowError, match="'stuck' did not get its input"):
        await run
    assert finished == []
