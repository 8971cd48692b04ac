"""Workflow validation and the compiled plan (joins, back edges, reachability, names)."""

from __future__ import annotations

import pytest

from spark import Syndicate
from spark.core.message import Message
from spark.workflow import Node, Workflow, WorkflowError
from spark.workflow.graph import build_plan
from tests.workflow.helpers import Identity


class NoProcess(Node):
    pass


def test_start_must_be_a_node() -> None:
    with pytest.raises(TypeError, match="Node instance"):
        Workflow(start="first")  # type: ignore[arg-type]


def test_nodes_are_discovered_breadth_first_from_start() -> None:
    a, b, c, d = (Identity(name=n) for n in "abcd")
    a >> [b, c]
    b >> d
    c >> d
    workflow = Workflow(start=a)
    assert workflow.nodes == (a, b, c, d)
    assert workflow.names == ("a", "b", "c", "d")
    assert workflow.start_node is a


def test_a_single_node_is_a_valid_workflow() -> None:
    only = Identity()
    assert Workflow(start=only).nodes == (only,)


def test_dangling_on_without_target_is_refused() -> None:
    a, b = Identity(name="a"), Identity(name="b")
    a >> b
    b.on(expr="$.ok")
    with pytest.raises(
        WorkflowError, match=r"dangling edge b\.on\(expr='\$\.ok'\) >> \? has no target"
    ):
        Workflow(start=a)


def test_node_connected_but_unreachable_from_start_is_refused() -> None:
    a, b, orphan = Identity(name="a"), Identity(name="b"), Identity(name="orphan")
    a >> b
    orphan >> b
    with pytest.raises(WorkflowError, match="'orphan' has an edge to 'b' but is not reachable"):
        Workflow(start=a)
    with pytest.raises(WorkflowError, match="remove that edge, or start from a node that reaches"):
        Workflow(start=a)


def test_node_without_process_is_refused() -> None:
    a = Identity(name="a")
    a >> NoProcess(name="broken")
    with pytest.raises(WorkflowError, match="'broken' does not define process"):
        Workflow(start=a)


def test_duplicate_explicit_names_are_refused_and_class_names_are_numbered() -> None:
    a = Identity(name="same")
    a >> Identity(name="same")
    with pytest.raises(WorkflowError, match="several nodes are named 'same'"):
        Workflow(start=a)
    first = Identity()
    first >> [Identity(), Identity(name="Identity#2")]
    assert Workflow(start=first).names == ("Identity", "Identity#3", "Identity#2")


def test_several_problems_are_reported_together() -> None:
    a, b, orphan = Identity(name="a"), Identity(name="b"), Identity(name="orphan")
    a >> b
    a.on(equals={"k": 1})
    orphan >> b
    with pytest.raises(WorkflowError) as caught:
        Workflow(start=a)
    assert "dangling edge" in str(caught.value)
    assert "not reachable" in str(caught.value)


async def test_nodes_running_in_different_syndicates_are_refused() -> None:
    a, b = Identity(name="a"), Identity(name="b")
    async with Syndicate("one") as one, Syndicate("two") as two:
        await Workflow(start=a).start(one)
        await Workflow(start=b).start(two)
        a >> b
        with pytest.raises(WorkflowError, match="different syndicates"):
            Workflow(start=a)


def _joins(start: Node) -> dict[str, bool]:
    return {step.name: step.is_join for step in build_plan(start).steps}


def test_join_steps_have_two_forward_incoming_edges() -> None:
    split, left, right, merge = (Identity(name=n) for n in ("split", "left", "right", "merge"))
    split >> [left, right] >> merge
    assert _joins(split) == {"split": False, "left": False, "right": False, "merge": True}


def test_back_edges_of_a_loop_do_not_make_a_join() -> None:
    start, check, fix, done = (Identity(name=n) for n in ("start", "check", "fix", "done"))
    start >> check
    check.goto(fix, expr="not $")
    check.goto(done, expr="$")
    fix >> check
    assert _joins(start)["check"] is False
    self_loop = Identity(name="self")
    self_loop.goto(self_loop, expr="$ < 3")
    assert _joins(self_loop) == {"self": False}


def test_reachability_masks() -> None:
    a, b, c = Identity(name="a"), Identity(name="b"), Identity(name="c")
    a >> b >> c
    steps = {step.name: step for step in build_plan(a).steps}
    assert steps["a"].reach_plus == steps["b"].bit | steps["c"].bit
    assert steps["c"].reach_plus == 0
    assert steps["c"].reach_star == steps["c"].bit


def test_edges_fire_in_descending_priority_then_creation_order() -> None:
    a = Identity(name="a")
    low, mid1, mid2, high = (Identity(name=n) for n in ("low", "mid1", "mid2", "high"))
    a.goto(low, priority=-1)
    a.goto(mid1)
    a.goto(high, priority=5)
    a.goto(mid2)
    plan = build_plan(a)
    assert [target.name for target in plan.start.targets] == ["high", "mid1", "mid2", "low"]


def test_max_steps_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_steps"):
        Workflow(start=Identity(), max_steps=0)


class Plain(Node):
    def process(self, message: Message) -> None:
        return None


def test_initial_state_must_be_a_deep_copyable_mapping() -> None:
    import threading

    with pytest.raises(TypeError, match="mapping"):
        Workflow(start=Plain(), initial_state=[("a", 1)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="deep-copyable"):
        Workflow(start=Plain(), initial_state={"lock": threading.Lock()})
