"""What a run returns and what a workflow reports about itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spark.workflow.node import Node

__all__ = ["RunResult", "TerminalOutput", "WorkflowStatistics"]


@dataclass(frozen=True, slots=True)
class TerminalOutput:
    """The output of a node that had no matching outgoing edge (a terminal of the run)."""

    name: str
    node: Node
    output: Any


@dataclass(frozen=True, slots=True)
class RunResult:
    """Everything a finished run produced.

    ``output`` is the output of the first terminal in branch order (the one ``run()`` returns);
    ``terminals`` lists every terminal output in branch order; ``state`` is the run's state
    mapping as the nodes left it; ``visited`` names the nodes in the order they finished (branches
    of a fan-out interleave); ``steps`` counts node executions.
    """

    run_id: int
    output: Any
    terminals: tuple[TerminalOutput, ...]
    state: dict[str, Any]
    visited: tuple[str, ...]

    @property
    def steps(self) -> int:
        return len(self.visited)


@dataclass(frozen=True, slots=True)
class WorkflowStatistics:
    """A snapshot of one workflow: its runs and the branches waiting at fan-ins right now."""

    active_runs: int
    waiting_branches: int
    runs_started: int
    runs_succeeded: int
    runs_failed: int
    nodes_started: int
