"""Edges and their conditions.

An edge says "after ``source`` ran, send its output to ``target`` if the condition holds". A
condition is one of: always (``a >> b``), a safe expression (``expr=``), a Python callable
(``predicate=``) or a pattern of expected values (``equals=``) - never more than one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from spark.workflow.expression import EdgeContext, Expression, read_member

if TYPE_CHECKING:
    from spark.workflow.node import Node

__all__ = [
    "Always",
    "Condition",
    "Edge",
    "EqualsCondition",
    "ExpressionCondition",
    "PendingEdge",
    "PredicateCondition",
    "make_condition",
]

Predicate = Callable[[EdgeContext], Any]


class Condition:
    """When an edge fires. ``matches`` may raise; the run then fails naming the edge."""

    __slots__ = ()

    #: True only for the unconditional edge, so routing can skip building an EdgeContext.
    always: ClassVar[bool] = False

    def matches(self, context: EdgeContext) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"


class Always(Condition):
    """The condition of ``a >> b``."""

    __slots__ = ()
    always = True

    def matches(self, context: EdgeContext) -> bool:
        return True

    def describe(self) -> str:
        return "always"


class ExpressionCondition(Condition):
    """``expr="$.score >= 90"``: a safe expression, parsed and checked once."""

    __slots__ = ("expression",)

    def __init__(self, expression: Expression) -> None:
        self.expression = expression

    def matches(self, context: EdgeContext) -> bool:
        return bool(self.expression(context))

    def describe(self) -> str:
        return f"expr={self.expression.source!r}"


class PredicateCondition(Condition):
    """``predicate=callable``: called with an :class:`EdgeContext` (``inputs``, ``outputs``,
    ``state``); the edge fires when it returns a truthy value."""

    __slots__ = ("predicate",)

    def __init__(self, predicate: Predicate) -> None:
        self.predicate = predicate

    def matches(self, context: EdgeContext) -> bool:
        return bool(self.predicate(context))

    def describe(self) -> str:
        name = getattr(self.predicate, "__qualname__", None) or repr(self.predicate)
        return f"predicate={name}"


class EqualsCondition(Condition):
    """``equals={"status": "ok"}``: fires when the output has every key (or attribute) with an
    equal value. A missing key is simply no match."""

    __slots__ = ("expected",)

    def __init__(self, expected: Mapping[str, Any]) -> None:
        self.expected = MappingProxyType(dict(expected))

    def matches(self, context: EdgeContext) -> bool:
        outputs = context.outputs
        for key, value in self.expected.items():
            try:
                if read_member(outputs, key) != value:
                    return False
            except LookupError:
                return False
        return True

    def describe(self) -> str:
        return f"equals={dict(self.expected)!r}"


_ALWAYS = Always()


def make_condition(
    expr: str | Expression | None, predicate: Predicate | None, equals: Mapping[str, Any] | None
) -> Condition:
    """Build the one condition given; ``TypeError`` when more than one style is given."""
    given = [
        name
        for name, value in (("expr", expr), ("predicate", predicate), ("equals", equals))
        if value is not None
    ]
    if len(given) > 1:
        raise TypeError(
            f"an edge takes exactly one condition style, got {' and '.join(given)};"
            " combine the tests into one expression or one predicate"
        )
    if expr is not None:
        if isinstance(expr, Expression):
            return ExpressionCondition(expr)
        if not isinstance(expr, str):
            raise TypeError(f"expr must be a string, got {expr!r}")
        return ExpressionCondition(Expression(expr))
    if predicate is not None:
        if not callable(predicate):
            raise TypeError(f"predicate must be callable, got {predicate!r}")
        if inspect.iscoroutinefunction(predicate):
            raise TypeError(
                "predicate must be a plain function (routing is synchronous); do async work in"
                " the node and return what the condition needs"
            )
        return PredicateCondition(predicate)
    if equals is not None:
        if not isinstance(equals, Mapping):
            raise TypeError(f"equals must be a mapping of expected values, got {equals!r}")
        if not equals:
            raise ValueError("equals must name at least one key; use >> for an unconditional edge")
        for key in equals:
            if not isinstance(key, str):
                raise TypeError(f"equals keys must be strings, got {key!r}")
        return EqualsCondition(equals)
    return _ALWAYS


def check_priority(priority: int) -> int:
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise TypeError(f"priority must be an int, got {priority!r}")
    return priority


@dataclass(frozen=True, slots=True, eq=False)
class Edge:
    """A connection ``source -> target``. Edges leaving one node fire in descending
    ``priority``; equal priorities keep the order in which the edges were created."""

    source: Node
    target: Node
    condition: Condition
    priority: int = 0

    def describe(self) -> str:
        suffix = "" if self.condition.always else f" [{self.condition.describe()}]"
        if self.priority:
            suffix += f" (priority {self.priority})"
        return f"{self.source.name} -> {self.target.name}{suffix}"

    def __repr__(self) -> str:
        return f"<Edge {self.describe()}>"


class PendingEdge:
    """``a.on(expr=...)``: a condition waiting for its target (``a.on(...) >> b``).

    Until it gets one it is a dangling edge, which ``Workflow`` refuses.
    """

    __slots__ = ("condition", "priority", "source")

    def __init__(self, source: Node, condition: Condition, priority: int) -> None:
        self.source = source
        self.condition = condition
        self.priority = priority

    def __rshift__(self, other: Any) -> Any:
        from spark.workflow.node import Node, connect_many

        if isinstance(other, Node):
            self.source._connect(other, self.condition, self.priority)
            self.source._resolve(self)
            return other
        if isinstance(other, list | tuple):
            connect_many(self.source, other, self.condition, self.priority)
            self.source._resolve(self)
            return other
        raise TypeError(
            f"{self.source.name}.on(...) >> {other!r}: the target must be a Node or a list of"
            " Nodes"
        )

    def describe(self) -> str:
        return f"{self.source.name}.on({self.condition.describe()}) >> ?"

    def __repr__(self) -> str:
        return f"<PendingEdge {self.describe()}>"
