"""``Workflow``: a validated graph of nodes, started in an explicit syndicate and run on demand.

    workflow = Workflow(start=first)
    async with Syndicate("app") as system:
        print(await workflow.run("  Spark  ", system=system))

A workflow is bound to at most one syndicate at a time: the first ``run(system=...)`` (or
``start(system)``) starts the nodes there; later runs reuse them. ``shutdown()`` stops the nodes
the workflow started, after which it can run in another syndicate. When the syndicate itself
shuts down the nodes stop with it and the next ``run(system=other)`` starts them afresh.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from spark.core._runtime import STOPPING
from spark.core.exceptions import ActorAlreadyStartedError, WorkflowError
from spark.core.spec import ActorSpec
from spark.core.supervision import SupervisorStrategy
from spark.core.syndicate import Syndicate
from spark.workflow.engine import Run
from spark.workflow.graph import build_plan, running_cell
from spark.workflow.host import host_class
from spark.workflow.node import Node
from spark.workflow.result import RunResult, TerminalOutput, WorkflowStatistics
from spark.workflow.state import freeze_initial_state, fresh_state

if TYPE_CHECKING:
    from spark.core._runtime import ActorCell
    from spark.core.identity import ActorAddress
    from spark.workflow.graph import Plan

__all__ = ["DEFAULT_MAX_STEPS", "Workflow"]

#: Node executions allowed per run before it fails (guards against a cycle that never exits).
DEFAULT_MAX_STEPS: Final = 10_000

# A failing node keeps its instance (and serves the next run); the failure is reported to the
# run that hit it, and recorded by the core as a dead letter and an actor_failed event.
_NODE_SUPERVISION: Final = SupervisorStrategy.resume()


class _Deployment:
    """The nodes of one workflow started in one syndicate."""

    __slots__ = ("cells", "error", "owned", "ready", "system", "waiter")

    def __init__(self, system: Syndicate) -> None:
        self.system = system
        self.cells: list[ActorCell] = []
        self.owned: list[ActorAddress] = []
        self.ready = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] = system.loop.create_future()

    async def start(self, plan: Plan) -> None:
        system = self.system
        for step in plan.steps:
            node = step.node
            cell = running_cell(node)
            if cell is None:
                try:
                    address = await system.create_actor_from_spec(
                        ActorSpec(host_class(node), (node,), supervisor_strategy=_NODE_SUPERVISION)
                    )
                except ActorAlreadyStartedError as error:
                    cell = running_cell(node)  # started meanwhile by another workflow
                    if cell is None:
                        raise self._start_failed(step.name, error) from error
                except Exception as error:
                    raise self._start_failed(step.name, error) from error
                else:
                    self.owned.append(address)
                    cell = node._spark_cell
                    if cell is None:  # the host attaches the node before it starts
                        raise WorkflowError(f"node {step.name!r} was started but not attached")
            if cell.kernel is not system:
                raise WorkflowError(
                    f"node {step.name!r} already runs in syndicate {cell.kernel.syndicate_id}, not"
                    f" in {system.syndicate_id}; a node instance lives in one syndicate at a time."
                    " Shut the other workflow down (or stop the node) first, or use new instances"
                )
            self.cells.append(cell)

    def _start_failed(self, name: str, error: Exception) -> WorkflowError:
        return WorkflowError(
            f"starting node {name!r} in syndicate {self.system.syndicate_id} failed: {error!r};"
            " the nodes started before it were stopped again"
        )

    async def stop(self, reason: str) -> None:
        for address in reversed(self.owned):
            await self.system.stop(address, reason)
        self.owned.clear()

    async def wait(self) -> bool:
        """Wait until the nodes started. ``False`` when the run that was starting them was
        cancelled: that is not a failure of the others, which start the nodes afresh."""
        if not self.ready:
            await asyncio.shield(self.waiter)
        error = self.error
        if error is None:
            return True
        if isinstance(error, asyncio.CancelledError):
            return False
        if isinstance(error, WorkflowError):
            raise error
        raise WorkflowError(f"starting the workflow's nodes failed: {error!r}") from error


class Workflow:
    """A graph of :class:`Node` instances reachable from ``start``.

    The graph is validated and captured here: a dangling ``a.on(...)``, a node connected to the
    graph but unreachable from ``start``, a node without ``process()``, duplicate explicit node
    names or nodes running in different syndicates raise :class:`WorkflowError`. Edges added to
    the nodes afterwards make the next ``run()`` fail; build a new ``Workflow`` instead.

    ``initial_state`` is deep-copied for every run (see ``docs/workflow.md``). ``max_steps``
    bounds node executions per run, so a cycle that never exits fails instead of spinning.
    """

    def __init__(
        self,
        start: Node,
        initial_state: Mapping[str, Any] | None = None,
        *,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> None:
        if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1:
            raise ValueError(f"max_steps must be an int >= 1, got {max_steps!r}")
        self._plan = build_plan(start)
        self._initial_state = freeze_initial_state(initial_state)
        self._max_steps = max_steps
        self._deployment: _Deployment | None = None
        self._runs: set[Run] = set()
        self._run_ids = itertools.count(1)
        self._started = 0
        self._succeeded = 0
        self._failed = 0

    def __repr__(self) -> str:
        where = "not started"
        if self._deployment is not None:
            where = f"in {self._deployment.system.syndicate_id}"
        return f"<Workflow start={self._plan.start.name!r} nodes={len(self._plan.steps)} {where}>"

    # -- introspection -----------------------------------------------------------------------

    @property
    def start_node(self) -> Node:
        """The node every run begins with."""
        return self._plan.start.node

    @property
    def nodes(self) -> tuple[Node, ...]:
        """Every node, in discovery order (breadth-first from ``start``)."""
        return tuple(step.node for step in self._plan.steps)

    @property
    def names(self) -> tuple[str, ...]:
        """The node names used in errors and results, parallel to ``nodes``."""
        return tuple(step.name for step in self._plan.steps)

    @property
    def initial_state(self) -> dict[str, Any]:
        """A copy of the template each run's state is copied from."""
        return fresh_state(self._initial_state)

    @property
    def system(self) -> Syndicate | None:
        """The syndicate the nodes run in, or ``None`` when not started."""
        deployment = self._deployment
        return None if deployment is None else deployment.system

    def statistics(self) -> WorkflowStatistics:
        """Runs in flight, branches waiting at fan-ins, and totals since creation."""
        deployment = self._deployment
        return WorkflowStatistics(
            active_runs=len(self._runs),
            waiting_branches=sum(run.waiting for run in self._runs),
            runs_started=self._started,
            runs_succeeded=self._succeeded,
            runs_failed=self._failed,
            nodes_started=0 if deployment is None else len(deployment.owned),
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, system: Syndicate) -> None:
        """Start the nodes in ``system`` (idempotent); later ``run()`` calls may omit it."""
        await self._deploy(system)

    async def shutdown(self) -> None:
        """Stop the nodes this workflow started (idempotent); runs still in flight fail.

        Afterwards the workflow can run again, in the same or another syndicate.
        """
        deployment = self._deployment
        if deployment is None:
            return
        self._deployment = None
        if not deployment.ready:
            try:
                if not await deployment.wait():
                    return
            except WorkflowError:
                return
        for run in list(self._runs):
            run.fail(WorkflowError(f"workflow run {run.run_id}: the workflow was shut down"))
        await deployment.stop("workflow shut down")

    async def _deploy(self, system: Syndicate | None) -> _Deployment:
        current = self._deployment
        if system is None:
            if current is None:
                raise WorkflowError(
                    "this workflow has no syndicate: pass one, as in"
                    " `await workflow.run(data, system=system)`, or call"
                    " `await workflow.start(system)` first"
                )
            system = current.system
        elif not isinstance(system, Syndicate):
            raise TypeError(f"system must be a Syndicate, got {system!r}")
        while current is not None and current.system is system:
            if not system.running:
                raise WorkflowError(
                    f"the syndicate {system.syndicate_id} this workflow runs in is not running"
                    " any more; pass a running one with system="
                )
            if await current.wait():
                return current
            current = self._deployment  # its starter was cancelled: join or begin another start
        if current is not None:
            if current.system.running:
                raise WorkflowError(
                    f"this workflow runs in syndicate {current.system.syndicate_id}; call"
                    " `await workflow.shutdown()` before running it in another one"
                )
            self._deployment = None  # that syndicate shut down and its nodes stopped with it
        if not system.running:
            raise WorkflowError(
                f"the syndicate {system.syndicate_id} is not running; use `async with"
                " Syndicate(...) as system:` or `await system.start()`"
            )
        deployment = self._deployment = _Deployment(system)
        try:
            await deployment.start(self._plan)
        except BaseException as error:
            deployment.error = error
            if self._deployment is deployment:
                self._deployment = None
            await deployment.stop("workflow failed to start")
            raise
        finally:
            deployment.ready = True
            if not deployment.waiter.done():
                deployment.waiter.set_result(None)
        return deployment

    # -- running -----------------------------------------------------------------------------

    async def run(
        self, data: Any, *, system: Syndicate | None = None, timeout: float | None = None
    ) -> Any:
        """Run the workflow on ``data`` and return the output of the first terminal (in branch
        order) once every branch finished.

        ``system`` is the syndicate to run in (needed unless ``start(system)`` was called);
        ``timeout`` (seconds, ``None`` = no limit) bounds the whole run. Raises
        :class:`WorkflowError` when a node fails (``__cause__`` is its exception), a condition
        cannot be evaluated, a node's input is dropped, or the timeout passes.
        """
        run = await self._execute(data, system, timeout)
        terminals = run.terminals
        return terminals[0][2] if terminals else None

    async def run_detailed(
        self, data: Any, *, system: Syndicate | None = None, timeout: float | None = None
    ) -> RunResult:
        """Like :meth:`run`, but return every terminal output, the final state and the visited
        nodes as a :class:`RunResult`."""
        run = await self._execute(data, system, timeout)
        terminals = tuple(
            TerminalOutput(step.name, step.node, output) for _, step, output in run.terminals
        )
        return RunResult(
            run_id=run.run_id,
            output=terminals[0].output if terminals else None,
            terminals=terminals,
            state=run.state,
            visited=tuple(run.visited),
        )

    def _stopped_nodes(self, cells: list[ActorCell]) -> WorkflowError:
        stopped = ", ".join(
            f"{step.name!r} ({cell.exit_reason or 'stopping'})"
            for step, cell in zip(self._plan.steps, cells, strict=True)
            if cell.state >= STOPPING
        )
        return WorkflowError(
            f"nodes of this workflow were stopped outside it: {stopped}; the run was refused"
            " before any node ran. Call `await workflow.shutdown()` and run again to start the"
            " nodes afresh"
        )

    async def _execute(self, data: Any, system: Syndicate | None, timeout: float | None) -> Run:
        if timeout is not None and (
            not isinstance(timeout, int | float) or isinstance(timeout, bool) or not timeout >= 0
        ):
            raise ValueError(f"timeout must be a number of seconds >= 0 or None, got {timeout!r}")
        deployment = self._deployment
        if (
            deployment is None
            or not deployment.ready
            or (system is not None and system is not deployment.system)
            or not deployment.system.running
        ):
            deployment = await self._deploy(system)
        plan = self._plan
        if plan.stale:
            raise WorkflowError(
                f"the edges of {', '.join(map(repr, plan.changed_nodes()))} changed after this"
                " Workflow was created; create a new Workflow for the new graph"
            )
        cells = deployment.cells
        for cell in cells:
            if cell.state >= STOPPING:
                raise self._stopped_nodes(cells)
        system = deployment.system
        run = Run(
            next(self._run_ids),
            plan,
            system,
            cells,
            fresh_state(self._initial_state),
            system.loop.create_future(),
            self._max_steps,
        )
        self._runs.add(run)
        self._started += 1
        succeeded = False
        try:
            run.begin(data)
            if timeout is None:
                await run.future
            else:
                try:
                    async with asyncio.timeout(timeout) as scope:
                        await run.future
                except TimeoutError:
                    if not scope.expired():
                        raise
                    raise WorkflowError(
                        f"workflow run {run.run_id} did not finish within {timeout:g} s:"
                        f" {run.describe_pending()}"
                    ) from None
            succeeded = True
            return run
        finally:
            run.close()
            self._runs.discard(run)
            if succeeded:
                self._succeeded += 1
            else:
                self._failed += 1
