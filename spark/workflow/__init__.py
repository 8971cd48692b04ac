"""Workflows: nodes (actors) connected by conditional edges, run in an explicit syndicate.

    from spark import Syndicate
    from spark.core.message import Message
    from spark.workflow import Node, Workflow

    class Normalize(Node):
        def process(self, message: Message) -> str:
            return str(message.content).strip().lower()

    first = Normalize()
    workflow = Workflow(start=first)
    async with Syndicate("workflow-app") as system:
        print(await workflow.run("  Spark  ", system=system))   # spark

See ``docs/workflow.md`` for edges, the expression language, fan-out/fan-in and state.
"""

from spark.core.exceptions import WorkflowError
from spark.workflow.edges import (
    Always,
    Condition,
    Edge,
    EqualsCondition,
    ExpressionCondition,
    PendingEdge,
    PredicateCondition,
)
from spark.workflow.expression import EdgeContext, Expression
from spark.workflow.node import Node
from spark.workflow.result import RunResult, TerminalOutput, WorkflowStatistics
from spark.workflow.workflow import DEFAULT_MAX_STEPS, Workflow

__all__ = [
    "DEFAULT_MAX_STEPS",
    "Always",
    "Condition",
    "Edge",
    "EdgeContext",
    "EqualsCondition",
    "Expression",
    "ExpressionCondition",
    "Node",
    "PendingEdge",
    "PredicateCondition",
    "RunResult",
    "TerminalOutput",
    "Workflow",
    "WorkflowError",
    "WorkflowStatistics",
]
