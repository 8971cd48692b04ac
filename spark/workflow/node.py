"""``Node``: an actor that is a step of a workflow, and the operators that connect nodes.

    first = Normalize()
    first >> Classify() >> Store()                      # a chain
    split >> [left, right] >> merge                     # fan-out, then fan-in
    grade.goto(high, expr="$.score >= 90", priority=1)  # conditional edge
    grade.on(expr="$.score < 90") >> low                # the same, written as an arrow

Users create node *instances* and connect them; ``Workflow`` starts them as actors in the
syndicate a run is given. Until then the actor helpers (``address``, ``tell``, ...) raise
``ActorNotStartedError`` like any actor's before it is started.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

from spark.core.actor import Actor
from spark.core.message import Message
from spark.workflow.edges import (
    Condition,
    Edge,
    PendingEdge,
    Predicate,
    check_priority,
    make_condition,
)
from spark.workflow.expression import Expression

if TYPE_CHECKING:
    from spark.workflow.graph import Plan

__all__ = ["Node", "connect_many"]

NodeT = TypeVar("NodeT", bound="Node")


class Node(Actor):
    """A workflow step. Implement ``process(message)`` (sync or async); its return value flows
    along the node's outgoing edges, and becomes the run's result when no edge matches.

    Inside a run, ``message.content`` is the input (a list after a fan-in), ``message.state``
    is the run's state mapping (read/write) and ``message.correlation_id`` is the run id.

    A subclass may define its own ``__init__`` without calling ``super().__init__()``; pass
    ``name=`` (or set ``node.name``) to label the node in errors and results (default: the
    class name).
    """

    # Class-level defaults, so a subclass __init__ that skips super().__init__() still works;
    # the instance gets its own values on first use.
    _wf_name: str | None = None
    _wf_outgoing: list[Edge] | None = None
    _wf_incoming: list[Edge] | None = None
    _wf_pending: list[PendingEdge] | None = None
    _wf_version: int = 0
    _wf_plans: weakref.WeakSet[Plan] | None = None  # compiled workflows this node is part of

    def __init__(self, *, name: str | None = None) -> None:
        if name is not None:
            self.name = name

    def process(self, message: Message) -> Any:
        """Handle one input; the return value flows along the outgoing edges."""
        raise NotImplementedError

    # -- identity ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """Label used in errors, results and diagnostics (default: the class name)."""
        return self._wf_name or type(self).__name__

    @name.setter
    def name(self, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise TypeError(f"a node name must be a non-empty string, got {value!r}")
        self._wf_name = value

    @property
    def edges(self) -> tuple[Edge, ...]:
        """Outgoing edges in creation order."""
        return tuple(self._wf_outgoing or ())

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} node {self.name!r}>"

    # -- connecting --------------------------------------------------------------------------

    def goto(
        self,
        target: Node,
        expr: str | Expression | None = None,
        *,
        predicate: Predicate | None = None,
        equals: Mapping[str, Any] | None = None,
        priority: int = 0,
    ) -> Edge:
        """Add an edge to ``target`` taken when the condition holds (always when none is given).

        ``expr`` is a safe expression (``"$.score >= 90"``), ``predicate`` a callable receiving
        an ``EdgeContext``, ``equals`` a mapping of expected output values. At most one of them;
        ``TypeError`` otherwise, ``ValueError`` for an expression that is not allowed.
        """
        condition = make_condition(expr, predicate, equals)
        return self._connect(target, condition, check_priority(priority))

    def on(
        self,
        expr: str | Expression | None = None,
        *,
        predicate: Predicate | None = None,
        equals: Mapping[str, Any] | None = None,
        priority: int = 0,
    ) -> PendingEdge:
        """A conditional edge written as an arrow: ``a.on(expr="$.ok") >> b``."""
        pending = PendingEdge(
            self, make_condition(expr, predicate, equals), check_priority(priority)
        )
        if self._wf_pending is None:
            self._wf_pending = []
        self._wf_pending.append(pending)
        self._changed()
        return pending

    @overload
    def __rshift__(self, other: NodeT) -> NodeT: ...

    @overload
    def __rshift__(self, other: list[NodeT]) -> list[NodeT]: ...

    @overload
    def __rshift__(self, other: tuple[NodeT, ...]) -> tuple[NodeT, ...]: ...

    def __rshift__(self, other: Any) -> Any:
        """``a >> b`` adds an unconditional edge and returns ``b`` (so chains work);
        ``a >> [b, c]`` adds one edge to each and returns the list."""
        if isinstance(other, Node):
            self._connect(other, make_condition(None, None, None), 0)
            return other
        if isinstance(other, list | tuple):
            connect_many(self, other, make_condition(None, None, None), 0)
            return other
        return NotImplemented

    def __rrshift__(self, other: Any) -> Any:
        """``[a, b] >> c`` adds an edge from each of ``a`` and ``b`` to ``c``; returns ``c``."""
        if isinstance(other, list | tuple):
            sources = _nodes(other, "source")
            for source in sources:
                source._connect(self, make_condition(None, None, None), 0)
            return self
        return NotImplemented

    def _connect(self, target: Node, condition: Condition, priority: int) -> Edge:
        if not isinstance(target, Node):
            raise TypeError(f"an edge target must be a Node instance, got {target!r}")
        edge = Edge(self, target, condition, priority)
        if self._wf_outgoing is None:
            self._wf_outgoing = []
        self._wf_outgoing.append(edge)
        self._changed()
        if target._wf_incoming is None:
            target._wf_incoming = []
        target._wf_incoming.append(edge)
        target._changed()
        return edge

    def _changed(self) -> None:
        """The node's edges changed: workflows built from it are out of date."""
        self._wf_version += 1
        for plan in self._wf_plans or ():
            plan.stale = True

    def _resolve(self, pending: PendingEdge) -> None:
        if self._wf_pending is not None and pending in self._wf_pending:
            self._wf_pending.remove(pending)


def _nodes(items: Iterable[Any], role: str) -> list[Node]:
    nodes = list(items)
    for item in nodes:
        if not isinstance(item, Node):
            raise TypeError(f"every {role} in the list must be a Node instance, got {item!r}")
    if not nodes:
        raise ValueError(f"an empty list has no {role} to connect")
    return nodes


def connect_many(
    source: Node, targets: Iterable[Any], condition: Condition, priority: int
) -> list[Edge]:
    """One edge from ``source`` to each target, in list order (= branch order)."""
    return [source._connect(target, condition, priority) for target in _nodes(targets, "target")]
