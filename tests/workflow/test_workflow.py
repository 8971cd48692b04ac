"""Workflow lifecycle: README example, explicit syndicates, re-runs, concurrency, shutdown."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest

from spark import Syndicate
from spark.core.message import Message
from spark.workflow import Node, Workflow, WorkflowError
from tests.conftest import wait_until
from tests.workflow.helpers import Identity, Inc, Tag

ROOT = Path(__file__).resolve().parents[2]

ISSUE_EXAMPLE = """\
class Normalize(Node):
    def process(self, message: Message) -> str:
        return str(message.content).strip().lower()

first = Normalize()
workflow = Workflow(start=first)
async with Syndicate("workflow-app") as system:
    print(await workflow.run("  Spark  ", system=system))   # spark
"""


async def _run_top_level(source: str, namespace: dict[str, Any]) -> str:
    code = compile(source, "<example>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        result = eval(code, namespace)
        if result is not None:
            await result
    return output.getvalue()


async def test_issue_example_runs_exactly_as_printed() -> None:
    namespace = {"Node": Node, "Workflow": Workflow, "Syndicate": Syndicate, "Message": Message}
    assert await _run_top_level(ISSUE_EXAMPLE, namespace) == "spark\n"


async def test_readme_workflow_example_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Workflows") :]
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert block is not None
    source = block.group(1)
    assert ISSUE_EXAMPLE in source
    assert await _run_top_level(source, {}) == "spark\n"


async def test_run_without_a_system_raises() -> None:
    workflow = Workflow(start=Identity())
    with pytest.raises(WorkflowError, match="no syndicate"):
        await workflow.run("x")
    assert workflow.system is None


async def test_start_then_run_without_passing_the_system(system: Syndicate) -> None:
    workflow = Workflow(start=Tag("t"))
    await workflow.start(system)
    await workflow.start(system)  # idempotent
    assert workflow.system is system
    assert await workflow.run("x") == "x-t"
    assert await workflow.run("y", system=system) == "y-t"


async def test_invalid_arguments_to_run(system: Syndicate) -> None:
    workflow = Workflow(start=Identity())
    with pytest.raises(TypeError, match="Syndicate"):
        await workflow.run("x", system="app")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        await workflow.run("x", system=system, timeout=-1)
    with pytest.raises(ValueError, match="timeout"):  # would silently mean "no timeout"
        await workflow.run("x", system=system, timeout=float("nan"))
    with pytest.raises(WorkflowError, match="not running"):
        await workflow.run("x", system=Syndicate("never-started"))


async def test_rerun_in_a_new_syndicate_after_shutdown() -> None:
    first, second = Tag("a"), Tag("b")
    first >> second
    workflow = Workflow(start=first)
    async with Syndicate("one") as one:
        assert await workflow.run("x", system=one) == "x-a-b"
        old_address = first.address
        with pytest.raises(WorkflowError, match=r"call `await workflow\.shutdown"):
            async with Syndicate("two") as two:
                await workflow.run("x", system=two)
        await workflow.shutdown()
        await workflow.shutdown()  # idempotent
        assert workflow.system is None
        assert one.diagnostics().actor_count == 0
        async with Syndicate("three") as three:
            assert await workflow.run("y", system=three) == "y-a-b"
            assert first.address.syndicate_id == three.syndicate_id
            assert first.address != old_address


async def test_rerun_after_the_old_syndicate_shut_down() -> None:
    workflow = Workflow(start=Tag("t"))
    async with Syndicate("one") as one:
        assert await workflow.run("x", system=one) == "x-t"
    with pytest.raises(WorkflowError, match="not running any more"):
        await workflow.run("x")
    async with Syndicate("two") as two:
        assert await workflow.run("y", system=two) == "y-t"
        assert workflow.system is two


async def test_a_node_running_in_another_syndicate_is_refused() -> None:
    shared = Tag("shared")
    owner = Workflow(start=shared)
    start = Identity(name="start")
    start >> shared
    async with Syndicate("one") as one, Syndicate("two") as two:
        await owner.start(one)
        borrower = Workflow(start=start)
        with pytest.raises(WorkflowError, match="'Tag' already runs in syndicate"):
            await borrower.run("x", system=two)
        assert two.diagnostics().actor_count == 0  # what it had started was stopped again
        assert borrower.system is None


async def test_nodes_shared_in_one_syndicate_are_reused_not_restarted(system: Syndicate) -> None:
    shared = Tag("shared")
    owner = Workflow(start=shared)
    await owner.start(system)
    address = shared.address
    start = Identity(name="start")
    start >> shared
    borrower = Workflow(start=start)
    assert await borrower.run("x", system=system) == "x-shared"
    assert shared.address == address
    assert borrower.statistics().nodes_started == 1
    await borrower.shutdown()  # stops only what it started
    assert await system.ask("y", shared.address) == "y-shared"


async def test_a_hundred_concurrent_runs_return_their_own_outputs(system: Syndicate) -> None:
    class Square(Node):
        async def process(self, message: Message) -> int:
            await asyncio.sleep(0)
            return int(message.content) ** 2

    split, merge = Inc(name="split"), Identity(name="merge")
    split >> [Square(), Inc(10, name="plus")] >> merge
    workflow = Workflow(start=split)  # not started: the first runs race to start it
    results = await asyncio.gather(*(workflow.run(n, system=system) for n in range(100)))
    assert results == [[(n + 1) ** 2, n + 11] for n in range(100)]
    statistics = workflow.statistics()
    assert statistics.nodes_started == 4
    assert (statistics.runs_started, statistics.runs_succeeded) == (100, 100)
    assert (statistics.active_runs, statistics.waiting_branches) == (0, 0)


async def test_shutdown_fails_runs_in_flight(system: Syndicate) -> None:
    release = asyncio.Event()

    class Wait(Node):
        async def process(self, message: Message) -> Any:
            await release.wait()
            return message.content

    workflow = Workflow(start=Wait())
    await workflow.start(system)
    run = asyncio.create_task(workflow.run("x"))
    await wait_until(lambda: workflow.statistics().active_runs == 1)
    shutting_down = asyncio.create_task(workflow.shutdown())
    with pytest.raises(WorkflowError, match="shut down"):
        await run
    release.set()
    await shutting_down


async def test_edges_added_after_creation_fail_the_next_run(system: Syndicate) -> None:
    start = Identity(name="start")
    workflow = Workflow(start=start)
    assert await workflow.run(1, system=system) == 1
    start >> Tag("late")
    with pytest.raises(WorkflowError, match="'start' changed after this Workflow was created"):
        await workflow.run(1, system=system)
    assert await Workflow(start=start).run(1, system=system) == "1-late"


async def test_a_node_failing_to_start_leaves_nothing_running(system: Syndicate) -> None:
    class BadStart(Node):
        def pre_start(self) -> None:
            raise RuntimeError("cannot start")

        def process(self, message: Message) -> Any:
            return message.content

    first = Tag("first")
    first >> BadStart()
    workflow = Workflow(start=first)
    with pytest.raises(WorkflowError, match="starting node 'BadStart'") as caught:
        await workflow.run("x", system=system)
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert "cannot start" in str(caught.value.__cause__)
    assert system.diagnostics().actor_count == 0
    assert workflow.system is None
    with pytest.raises(WorkflowError, match="cannot start"):
        await workflow.run("x", system=system)  # tried afresh, not a stale half-start


async def test_concurrent_runs_all_see_a_start_failure(system: Syndicate) -> None:
    class BadStart(Node):
        async def pre_start(self) -> None:
            await asyncio.sleep(0)
            raise RuntimeError("cannot start")

        def process(self, message: Message) -> Any:
            return message.content

    workflow = Workflow(start=BadStart())
    results = await asyncio.gather(
        *(workflow.run(n, system=system) for n in range(3)), return_exceptions=True
    )
    assert all(isinstance(result, WorkflowError) for result in results)
    assert all("cannot start" in str(result) for result in results)


async def test_cancelling_the_run_that_starts_the_nodes_does_not_fail_the_others(
    system: Syndicate,
) -> None:
    gate = asyncio.Event()

    class SlowStart(Node):
        async def pre_start(self) -> None:
            await gate.wait()

        def process(self, message: Message) -> Any:
            return message.content

    first = Tag("first")
    first >> SlowStart()
    workflow = Workflow(start=first)
    starting = asyncio.create_task(workflow.run("a", system=system))
    await wait_until(lambda: system.diagnostics().actor_count == 2)  # inside SlowStart.pre_start
    waiting = asyncio.create_task(workflow.run("b", system=system))
    await asyncio.sleep(0)  # let it reach the deployment in progress
    starting.cancel()
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await starting
    assert await waiting == "b-first"
    assert workflow.statistics().nodes_started == 2
    await workflow.shutdown()
    assert system.diagnostics().actor_count == 0


async def test_run_returns_none_output_and_repr(system: Syndicate) -> None:
    class Nothing(Node):
        def process(self, message: Message) -> None:
            return None

    workflow = Workflow(start=Nothing())
    assert "not started" in repr(workflow)
    assert await workflow.run("x", system=system) is None
    assert system.syndicate_id in repr(workflow)
