"""Routing, fan-out and fan-in, terminals, failures and timeouts of runs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spark import Syndicate
from spark.core.message import Message
from spark.workflow import Node, Workflow, WorkflowError
from tests.conftest import wait_until
from tests.workflow.helpers import Boom, Collect, Const, Gated, Identity, Inc, Tag


class Fail(Node):
    def process(self, message: Message) -> Any:
        raise ValueError("bad input")


async def test_router_takes_the_matching_edge(system: Syndicate) -> None:
    grade = Identity(name="grade")
    high, low = Tag("high"), Tag("low")
    grade.goto(high, expr="$ >= 90")
    grade.on(expr="$ < 90") >> low
    workflow = Workflow(start=grade)
    assert await workflow.run(95, system=system) == "95-high"
    assert await workflow.run(89, system=system) == "89-low"


async def test_fan_in_joins_branches_in_branch_order_not_finish_order(system: Syndicate) -> None:
    finished: list[str] = []
    split, merge = Identity(name="split"), Collect(name="merge")
    workers = [Gated(f"w{index}", finished) for index in range(4)]
    split >> workers >> merge
    workflow = Workflow(start=split)
    await workflow.start(system)
    run = asyncio.create_task(workflow.run("x"))
    for worker in reversed(workers):
        await wait_until(lambda: workflow.statistics().active_runs == 1)
        worker.gate.set()
        await wait_until(lambda worker=worker: worker.label in finished)  # type: ignore[misc]
    assert finished == ["w3", "w2", "w1", "w0"]
    assert await run == ["w0:x", "w1:x", "w2:x", "w3:x"]
    assert merge.seen == [["w0:x", "w1:x", "w2:x", "w3:x"]]


async def test_fan_out_order_follows_priority(system: Syndicate) -> None:
    split, merge = Identity(name="split"), Identity(name="merge")
    first, second, third = Tag("first"), Tag("second"), Tag("third")
    split.goto(third, priority=-1)
    split.goto(second)
    split.goto(first, priority=10)
    [first, second, third] >> merge
    workflow = Workflow(start=split)
    assert await workflow.run("x", system=system) == ["x-first", "x-second", "x-third"]


async def test_all_matching_conditional_edges_fire(system: Syndicate) -> None:
    split, merge = Identity(name="split"), Identity(name="merge")
    small, even, big = Tag("small"), Tag("even"), Tag("big")
    split.goto(small, predicate=lambda context: context.outputs < 10)
    split.goto(even, equals={"even": True})
    split.goto(big, expr="$ >= 10")
    [small, even, big] >> merge
    workflow = Workflow(start=split)
    # only one edge matches: no fan-out, so the merge sees the bare value
    assert await workflow.run(3, system=system) == "3-small"
    assert await workflow.run(30, system=system) == "30-big"


async def test_router_merge_gets_the_bare_value(system: Syndicate) -> None:
    grade, report = Identity(name="grade"), Collect(name="report")
    high, low = Tag("high"), Tag("low")
    grade.goto(high, expr="$ >= 90")
    grade.goto(low, expr="$ < 90")
    [high, low] >> report
    workflow = Workflow(start=grade)
    assert await workflow.run(91, system=system) == "91-high"
    assert await workflow.run(12, system=system) == "12-low"
    assert report.seen == ["91-high", "12-low"]


async def test_partial_join_collects_only_the_branches_that_reach_it(system: Syndicate) -> None:
    split, join, side = Identity(name="split"), Identity(name="join"), Tag("side")
    side.name = "side"
    a, b, c = Tag("a"), Tag("b"), Tag("c")
    split >> [a, b, c]
    [a, b] >> join
    c >> side
    result = await Workflow(start=split).run_detailed("x", system=system)
    assert [(t.name, t.output) for t in result.terminals] == [
        ("join", ["x-a", "x-b"]),
        ("side", "x-c-side"),
    ]
    assert result.output == ["x-a", "x-b"]


async def test_a_single_branch_arriving_at_a_join_passes_unchanged(system: Syndicate) -> None:
    split, join, other = Identity(name="split"), Collect(name="join"), Tag("other")
    a, b = Tag("a"), Identity(name="b")
    split >> [a, b]
    a >> join
    b.goto(join, expr="$ == 'go'")
    b.goto(other, expr="$ != 'go'")
    workflow = Workflow(start=split)
    await workflow.start(system)
    assert (await workflow.run_detailed("stop")).terminals[0].output == "stop-a"
    assert await workflow.run("go") == ["go-a", "go"]
    assert join.seen == ["stop-a", ["go-a", "go"]]


async def test_nested_fan_outs_join_innermost_first(system: Syndicate) -> None:
    split, inner, join = Identity(name="split"), Identity(name="inner"), Identity(name="join")
    a1, a2, b = Tag("a1"), Tag("a2"), Tag("b")
    split >> [inner, b]
    inner >> [a1, a2]
    [a1, a2, b] >> join
    assert await Workflow(start=split).run("x", system=system) == [["x-a1", "x-a2"], "x-b"]


async def test_a_partial_join_meets_the_rest_of_its_fan_out_downstream(
    system: Syndicate,
) -> None:
    split, first_join, second_join = (Identity(name=n) for n in ("split", "j1", "j2"))
    a, b, c = Tag("a"), Tag("b"), Tag("c")
    split >> [a, b, c]
    [a, b] >> first_join >> second_join
    c >> second_join
    assert await Workflow(start=split).run("x", system=system) == [["x-a", "x-b"], "x-c"]


async def test_a_loop_inside_a_branch_does_not_break_the_join(system: Syndicate) -> None:
    split, check, join = Identity(name="split"), Identity(name="check"), Identity(name="join")
    fix, other = Inc(name="fix"), Const("other", name="const")
    split >> [check, other]
    check.goto(fix, expr="$ < 3")
    fix >> check
    check.goto(join, expr="$ >= 3")
    other >> join
    result = await Workflow(start=split).run_detailed(0, system=system)
    assert result.output == [3, "other"]
    assert result.visited.count("fix") == 3


async def test_join_steps_on_a_cycle_do_not_deadlock(system: Syndicate) -> None:
    split, first, second = Identity(name="split"), Identity(name="first"), Identity(name="second")
    a, b, c = Tag("a"), Tag("b"), Tag("c")
    split >> [a, b, c]
    a >> first
    c >> first
    first.goto(second, expr="$ is not None")
    b >> second
    second.goto(first, expr="$ is None")  # a back edge: never taken here
    assert await Workflow(start=split).run("x", system=system) == [["x-a", "x-c"], "x-b"]


async def test_several_terminals_the_first_in_branch_order_wins(system: Syndicate) -> None:
    finished: list[str] = []
    split = Identity(name="split")
    slow, fast = Gated("slow", finished), Gated("fast", finished)
    split >> [slow, fast]
    workflow = Workflow(start=split)
    await workflow.start(system)
    run = asyncio.create_task(workflow.run_detailed("x"))
    fast.gate.set()
    await wait_until(lambda: finished == ["fast"])
    assert not run.done()  # a run ends only when every branch has finished
    slow.gate.set()
    result = await run
    assert result.output == "slow:x"
    assert [terminal.name for terminal in result.terminals] == ["slow", "fast"]


async def test_a_cycle_that_never_exits_is_stopped_by_max_steps(system: Syndicate) -> None:
    spin = Inc(name="spin")
    spin.goto(spin, expr="$ > 0")
    workflow = Workflow(start=spin, max_steps=50)
    with pytest.raises(WorkflowError, match="exceeded max_steps=50"):
        await workflow.run(1, system=system)
    assert workflow.statistics().runs_failed == 1


async def test_node_failure_fails_the_run_with_the_cause_chained(system: Syndicate) -> None:
    start, boom = Identity(name="start"), Boom(name="boom")
    start >> boom
    workflow = Workflow(start=start)
    with pytest.raises(WorkflowError, match="node 'boom' failed") as caught:
        await workflow.run("x", system=system)
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert "boom on 'x'" in str(caught.value.__cause__)
    assert any("handler failed" in letter.reason for letter in system.dead_letters)
    # the node was resumed, not stopped: the next run reaches it again
    with pytest.raises(WorkflowError, match="boom on 'y'"):
        await workflow.run("y", system=system)


class FailOn(Node):
    def __init__(self, bad: str) -> None:
        super().__init__(name="fail")
        self.bad = bad

    def process(self, message: Message) -> Any:
        if message.content == self.bad:
            raise ValueError("bad input")
        return message.content


async def test_a_failing_branch_fails_the_run_and_frees_the_fan_in(system: Syndicate) -> None:
    finished: list[str] = []
    split, merge = Identity(name="split"), Identity(name="merge")
    held = Gated("held", finished)
    split >> [held, Tag("ok"), FailOn("x")] >> merge
    workflow = Workflow(start=split)
    with pytest.raises(WorkflowError, match="node 'fail' failed: ValueError"):
        await workflow.run("x", system=system)
    statistics = workflow.statistics()
    assert (statistics.active_runs, statistics.waiting_branches) == (0, 0)
    held.gate.set()  # the branch still running finishes later; its output is dropped quietly
    await wait_until(lambda: finished == ["held"])
    assert await workflow.run("y") == ["held:y", "y-ok", "y"]
    assert workflow.statistics().runs_succeeded == 1


async def test_condition_that_cannot_be_evaluated_fails_the_run(system: Syndicate) -> None:
    start = Identity(name="start")
    start.goto(Tag("t"), expr="$.score >= 90")
    with pytest.raises(WorkflowError, match=r"start -> Tag \[expr='\$\.score >= 90'\]") as caught:
        await Workflow(start=start).run({"points": 1}, system=system)
    assert isinstance(caught.value.__cause__, LookupError)


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


async def test_an_output_whose_repr_fails_still_names_the_edge(system: Syndicate) -> None:
    start = Const(Unprintable(), name="start")
    start.goto(Tag("t"), expr="$.score >= 90")
    with pytest.raises(WorkflowError, match="could not be evaluated") as caught:
        await Workflow(start=start).run(None, system=system)
    assert "output was <Unprintable" in str(caught.value)
    assert isinstance(caught.value.__cause__, LookupError)
    assert not system.dead_letters  # the node did not fail: the condition did


async def test_a_huge_output_is_quoted_briefly_with_a_hint(system: Syndicate) -> None:
    start = Const({"rows": list(range(200_000)), "more": "x" * 100_000}, name="start")
    start.goto(Tag("t"), expr="$.score >= 90")
    with pytest.raises(WorkflowError) as caught:
        await Workflow(start=start).run(None, system=system)
    message = str(caught.value)
    assert len(message) < 400
    assert "output was {'more': 'xxx" in message or "output was {'rows': [0, 1" in message
    assert "guard optional fields" in message


async def test_predicate_that_raises_fails_the_run(system: Syndicate) -> None:
    start = Identity(name="start")
    start.goto(Tag("t"), predicate=lambda context: 1 / 0)
    with pytest.raises(WorkflowError, match="could not be evaluated") as caught:
        await Workflow(start=start).run(1, system=system)
    assert isinstance(caught.value.__cause__, ZeroDivisionError)


async def test_fan_in_waiting_past_the_timeout_fails_and_leaks_nothing(system: Syndicate) -> None:
    finished: list[str] = []
    split, merge = Identity(name="split"), Identity(name="merge")
    stuck = Gated("stuck", finished)
    split >> [Tag("a"), Tag("b"), Tag("c"), stuck] >> merge
    workflow = Workflow(start=split)
    with pytest.raises(WorkflowError) as caught:
        await workflow.run("x", system=system, timeout=0.5)
    message = str(caught.value)
    assert "did not finish within 0.5 s" in message
    assert "fan-in at 'merge' holds 3 of the 4 branches from 'split'" in message
    assert "still running or queued: 'stuck'" in message
    statistics = workflow.statistics()
    assert (statistics.active_runs, statistics.waiting_branches) == (0, 0)
    assert statistics.runs_failed == 1
    stuck.gate.set()
    await wait_until(lambda: finished == ["stuck"])
    assert await workflow.run("y", timeout=5) == ["y-a", "y-b", "y-c", "stuck:y"]


async def test_a_node_stopped_during_a_run_fails_it_naming_the_reason(system: Syndicate) -> None:
    start, end = Gated("start", []), Identity(name="end")
    start >> end
    workflow = Workflow(start=start)
    await workflow.start(system)
    run = asyncio.create_task(workflow.run("x"))
    await wait_until(lambda: workflow.statistics().active_runs == 1)
    await system.stop(end.address)
    start.gate.set()
    with pytest.raises(WorkflowError, match=r"node 'end' did not get its input \(actor stopped\)"):
        await run


async def test_a_run_with_a_stopped_node_fails_before_any_node_runs(system: Syndicate) -> None:
    start, end = Collect(name="start"), Identity(name="end")
    start >> end
    workflow = Workflow(start=start)
    await workflow.start(system)
    await system.stop(end.address, "stopped by hand")
    with pytest.raises(WorkflowError) as caught:
        await workflow.run("x")
    message = str(caught.value)
    assert "were stopped outside it: 'end' (stopped by hand)" in message
    assert "before any node ran" in message
    assert "await workflow.shutdown()" in message
    assert start.seen == []  # no half-run with side effects
    await workflow.shutdown()
    assert await workflow.run("y", system=system) == "y"


async def test_each_branch_gets_the_same_output_object(system: Syndicate) -> None:
    split, merge = Const({"k": 1}, name="split"), Identity(name="merge")
    split >> [Identity(name="a"), Identity(name="b")] >> merge
    left, right = await Workflow(start=split).run(None, system=system)
    assert left is right


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_fan_in_order_is_branch_order_for_any_priorities_and_finish_order(
    data: st.DataObject,
) -> None:
    width = data.draw(st.integers(2, 6), label="width")
    priorities = data.draw(st.lists(st.integers(-2, 2), min_size=width, max_size=width))
    finish_order = data.draw(st.permutations(range(width)), label="finish order")

    async def scenario() -> None:
        finished: list[str] = []
        split, merge = Identity(name="split"), Identity(name="merge")
        workers = [Gated(f"w{index}", finished) for index in range(width)]
        for worker, priority in zip(workers, priorities, strict=True):
            split.goto(worker, priority=priority)
        workers >> merge
        expected = [
            f"w{index}:x" for index in sorted(range(width), key=lambda index: -priorities[index])
        ]
        async with Syndicate("property") as system:
            workflow = Workflow(start=split)
            run = asyncio.create_task(workflow.run("x", system=system, timeout=5))
            await wait_until(lambda: workflow.statistics().active_runs == 1)
            for index in finish_order:
                workers[index].gate.set()
            assert await run == expected
            assert workflow.statistics().waiting_branches == 0

    asyncio.run(scenario())


async def test_cancelling_run_ends_the_run_and_frees_its_buffers(system: Syndicate) -> None:
    finished: list[str] = []
    split, merge = Identity(name="split"), Identity(name="merge")
    held = Gated("held", finished)
    split >> [Tag("quick"), held] >> merge
    workflow = Workflow(start=split)
    await workflow.start(system)
    run = asyncio.create_task(workflow.run("x"))
    await wait_until(lambda: workflow.statistics().waiting_branches == 1)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    statistics = workflow.statistics()
    assert (statistics.active_runs, statistics.waiting_branches) == (0, 0)
    assert statistics.runs_failed == 1
    held.gate.set()
    await wait_until(lambda: finished == ["held"])
    assert await workflow.run("y") == ["y-quick", "held:y"]


async def test_timeout_of_a_linear_run_names_the_running_node(system: Syndicate) -> None:
    stuck = Gated("stuck", [])
    start = Identity(name="start")
    start >> stuck
    with pytest.raises(WorkflowError, match="still running or queued: 'stuck'"):
        await Workflow(start=start).run("x", system=system, timeout=0.3)
    stuck.gate.set()
