"""Discovering, validating and compiling a workflow graph.

``build_plan(start)`` walks the edges from ``start`` and refuses, with a ``WorkflowError`` that
names the culprits: a dangling ``a.on(...)`` without a target, a node that is connected to the
graph but not reachable from ``start``, a node without ``process()``, two nodes with the same
explicit name, and nodes already running in two different syndicates.

The result is a :class:`Plan`: one :class:`Step` per node with its edges sorted by priority, its
join flag and its reachability sets (as bit masks), which is all the run engine needs.
"""

from __future__ import annotations

import reprlib
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any

from spark.core._runtime import STOPPED
from spark.core.actor import Actor
from spark.core.exceptions import WorkflowError
from spark.workflow.edges import Condition, Edge, ExpressionCondition
from spark.workflow.expression import EdgeContext
from spark.workflow.node import Node

if TYPE_CHECKING:
    from spark.core._runtime import ActorCell

__all__ = ["Plan", "Step", "build_plan", "running_cell"]


class Step:
    """A node as compiled into one plan. Internal."""

    __slots__ = (
        "bit",
        "edges",
        "index",
        "is_join",
        "name",
        "node",
        "reach_plus",
        "reach_star",
        "targets",
        "unconditional",
    )

    def __init__(self, index: int, node: Node, name: str) -> None:
        self.index = index
        self.node = node
        self.name = name
        self.bit = 1 << index
        self.edges: tuple[tuple[Condition, Step, Edge], ...] = ()
        self.targets: tuple[Step, ...] = ()
        self.unconditional = True
        self.is_join = False
        # Bit masks of step indices reachable through at least one edge (plus), or zero or
        # more edges (star).
        self.reach_plus = 0
        self.reach_star = self.bit

    def __repr__(self) -> str:
        return f"<Step {self.index} {self.name!r}>"

    def route(self, inputs: Any, outputs: Any, state: Any) -> list[Step]:
        """Targets of every matching edge, in firing order (descending priority)."""
        context = EdgeContext(inputs, outputs, state)
        matched: list[Step] = []
        for condition, target, edge in self.edges:
            if condition.always:
                matched.append(target)
                continue
            try:
                fires = condition.matches(context)
            except Exception as error:
                raise WorkflowError(
                    f"the condition of edge {edge.describe()} could not be evaluated: {error}"
                    f" (output was {_short(outputs)}){_hint(condition, error)}"
                ) from error
            if fires:
                matched.append(target)
        return matched


class Plan:
    """A validated graph: steps in discovery order, ``start`` first. Internal."""

    __slots__ = ("__weakref__", "stale", "start", "steps", "versions")

    def __init__(self, steps: tuple[Step, ...]) -> None:
        self.steps = steps
        self.start = steps[0]
        self.versions = tuple(step.node._wf_version for step in steps)
        # Set by a node when its edges change, so a run checks one flag, not every node.
        self.stale = False
        for step in steps:
            node = step.node
            if node._wf_plans is None:
                node._wf_plans = weakref.WeakSet()
            node._wf_plans.add(self)

    def changed_nodes(self) -> list[str]:
        """Names of nodes whose edges changed after the plan was built."""
        return [
            step.name
            for step, version in zip(self.steps, self.versions, strict=True)
            if step.node._wf_version != version
        ]


def running_cell(node: Node) -> ActorCell | None:
    """The live cell hosting ``node``, or ``None`` (a stale cell of a stopped actor is cleared)."""
    cell = node._spark_cell
    if cell is None:
        return None
    if cell.state == STOPPED:
        node._spark_cell = None
        return None
    return cell


def _ordered(edges: list[Edge] | None) -> list[Edge]:
    # Descending priority; sorted() is stable, so equal priorities keep creation order.
    return sorted(edges or (), key=lambda edge: -edge.priority)


def _discover(start: Node) -> list[Node]:
    seen: dict[Node, None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for edge in _ordered(node._wf_outgoing):
            if edge.target not in seen:
                seen[edge.target] = None
                queue.append(edge.target)
    return list(seen)


def _check(nodes: list[Node], start: Node) -> None:
    members = set(nodes)
    problems: list[str] = []
    for node in nodes:
        for pending in node._wf_pending or ():
            problems.append(f"dangling edge {pending.describe()} has no target")
        if type(node).process is Node.process or type(node).process is Actor.process:
            problems.append(f"node {node.name!r} does not define process(self, message)")
    for node in nodes:
        for edge in node._wf_incoming or ():
            if edge.source not in members:
                problems.append(
                    f"node {edge.source.name!r} has an edge to {node.name!r} but is not"
                    f" reachable from the start node {start.name!r} (remove that edge, or start"
                    " from a node that reaches it)"
                )
    if problems:
        raise WorkflowError("invalid workflow: " + "; ".join(problems))
    kernels = {id(cell.kernel): cell for node in nodes if (cell := running_cell(node)) is not None}
    if len(kernels) > 1:
        where = ", ".join(
            f"{type(cell.actor).__qualname__} in {cell.kernel.syndicate_id}"
            for cell in kernels.values()
        )
        raise WorkflowError(
            f"invalid workflow: its nodes already run in different syndicates ({where}); a"
            " workflow runs all its nodes in one syndicate"
        )


def _names(nodes: list[Node]) -> list[str]:
    """Explicit names must be unique; class-name defaults get ``#2``, ``#3`` suffixes."""
    explicit = [node._wf_name for node in nodes if node._wf_name]
    duplicates = sorted({name for name in explicit if explicit.count(name) > 1})
    if duplicates:
        raise WorkflowError(
            f"invalid workflow: several nodes are named {', '.join(map(repr, duplicates))};"
            " node names must be unique within a workflow"
        )
    taken = set(explicit)
    names: list[str] = []
    for node in nodes:
        if node._wf_name:
            names.append(node._wf_name)
            continue
        base = type(node).__name__
        name, counter = base, 1
        while name in taken:
            counter += 1
            name = f"{base}#{counter}"
        taken.add(name)
        names.append(name)
    return names


def _mark_joins(start: Step, edges_of: dict[Step, list[tuple[Edge, Step]]]) -> None:
    """A join is a step with two or more incoming *forward* edges. Back edges (those closing a
    cycle, found by a depth-first walk in edge order) are not counted, so a loop inside a branch
    does not turn its head into a join."""
    forward_in: dict[Step, int] = {}
    on_stack: set[Step] = {start}
    visited: set[Step] = {start}
    stack: list[tuple[Step, int]] = [(start, 0)]
    while stack:
        step, position = stack[-1]
        outgoing = edges_of[step]
        if position == len(outgoing):
            stack.pop()
            on_stack.discard(step)
            continue
        stack[-1] = (step, position + 1)
        target = outgoing[position][1]
        if target in on_stack:
            continue  # back edge
        forward_in[target] = forward_in.get(target, 0) + 1
        if target not in visited:
            visited.add(target)
            on_stack.add(target)
            stack.append((target, 0))
    for step, count in forward_in.items():
        step.is_join = count >= 2


def build_plan(start: Node) -> Plan:
    """Validate the graph reachable from ``start`` and compile it."""
    if not isinstance(start, Node):
        raise TypeError(f"Workflow(start=...) needs a Node instance, got {start!r}")
    nodes = _discover(start)
    _check(nodes, start)
    steps = tuple(
        Step(index, node, name)
        for index, (node, name) in enumerate(zip(nodes, _names(nodes), strict=True))
    )
    by_node = {step.node: step for step in steps}
    edges_of: dict[Step, list[tuple[Edge, Step]]] = {
        step: [(edge, by_node[edge.target]) for edge in _ordered(step.node._wf_outgoing)]
        for step in steps
    }
    for step in steps:
        outgoing = edges_of[step]
        step.edges = tuple((edge.condition, target, edge) for edge, target in outgoing)
        step.targets = tuple(target for _, target in outgoing)
        step.unconditional = all(edge.condition.always for edge, _ in outgoing)
    _mark_joins(steps[0], edges_of)
    for step in steps:
        reach = 0
        queue = deque(target for _, target in edges_of[step])
        while queue:
            target = queue.popleft()
            if reach & target.bit:
                continue
            reach |= target.bit
            queue.extend(following for _, following in edges_of[target])
        step.reach_plus = reach
        step.reach_star = reach | step.bit
    return Plan(steps)


_BRIEF = reprlib.Repr()
_BRIEF.maxstring = _BRIEF.maxother = 60


def _short(value: Any, limit: int = 80) -> str:
    """A bounded repr: a huge output is not rendered in full, and a failing ``__repr__`` does not
    hide the error being reported."""
    try:
        text = _BRIEF.repr(value)
    except Exception as error:
        return f"<{type(value).__qualname__} object; its repr raised {type(error).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _hint(condition: Condition, error: Exception) -> str:
    if isinstance(condition, ExpressionCondition) and isinstance(error, LookupError):
        return ". To treat a missing field as no match, guard optional fields: 'key' in $ and ..."
    return ""
