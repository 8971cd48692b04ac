"""The run engine: tokens, fan-out groups and fan-in joins of one run.

A run moves *tokens*: a token is an input on its way to a step. When a node finishes, the host
actor calls :meth:`Run.advance`, which decides - synchronously, without awaiting - where the
output goes, and then hands the new tokens to the nodes' mailboxes. All bookkeeping of a run
happens on the event loop thread between awaits, so it needs no locks.

Fan-out and fan-in:

* when two or more edges match, each target gets a token that remembers ``(group, branch)``:
  the fan-out group and its branch number (branch order = firing order);
* a token of a group that heads for a *join* step (two or more incoming forward edges) waits
  there in a slot ``(group, step)``;
* the slot opens once no other token of that group can still reach the step (checked on the
  static graph from every unfinished token's position). Two or more waiting tokens become one
  token carrying the list of their values in branch order; a single one passes unchanged;
* the group is then closed for the joined token, unless other tokens of the group may still
  meet it further downstream (then it stays in the group and joins them there).

Buffers belong to the run object and die with it: a timed-out or failed run leaves nothing behind
in the node actors.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from spark.core.exceptions import WorkflowError
from spark.core.identity import Envelope
from spark.workflow.graph import Step

if TYPE_CHECKING:
    from spark.core._runtime import ActorCell
    from spark.core.syndicate import Syndicate
    from spark.workflow.graph import Plan

__all__ = ["Group", "Run", "Token"]


class Group:
    """One fan-out: ``size`` branches leaving ``source``."""

    __slots__ = ("size", "source")

    def __init__(self, source: Step, size: int) -> None:
        self.source = source
        self.size = size


Membership = tuple[tuple[Group, int], ...]


class Token:
    """An input on its way to ``step``. ``groups`` lists the fan-outs it belongs to (outermost
    first) with its branch number in each; ``path`` orders terminals (branch order)."""

    __slots__ = ("groups", "path", "run", "step", "value")

    def __init__(
        self, run: Run, step: Step, value: Any, groups: Membership, path: tuple[int, ...]
    ) -> None:
        self.run = run
        self.step = step
        self.value = value
        self.groups = groups
        self.path = path

    def __repr__(self) -> str:
        return f"<Token run={self.run.run_id} step={self.step.name!r} path={self.path}>"


def _in_group(token: Token, group: Group) -> bool:
    return any(member is group for member, _ in token.groups)


def _token_done(envelope: Envelope, outcome: str) -> None:
    """``on_done`` of every token delivery: a dropped token fails its run at once."""
    if outcome == "processed":
        return
    token: Token = envelope.content
    run = token.run
    if run.finished:
        return
    if outcome == "failed":  # the host records the node's error first; this is a safety net
        run.fail(WorkflowError(f"workflow run {run.run_id}: node {token.step.name!r} failed"))
        return
    reason = getattr(outcome, "reason", outcome)  # a Dropped outcome says why
    run.fail(
        WorkflowError(
            f"workflow run {run.run_id}: node {token.step.name!r} did not get its input"
            f" ({reason}). Was the node or its syndicate stopped? Call"
            " `await workflow.shutdown()` and run again."
        )
    )


class Run:
    """The state of one run. Internal; created by ``Workflow.run``."""

    __slots__ = (
        "cells",
        "finished",
        "future",
        "live",
        "max_steps",
        "plan",
        "run_id",
        "slots",
        "state",
        "system",
        "terminals",
        "visited",
    )

    def __init__(
        self,
        run_id: int,
        plan: Plan,
        system: Syndicate,
        cells: list[ActorCell],
        state: dict[str, Any],
        future: asyncio.Future[None],
        max_steps: int,
    ) -> None:
        self.run_id = run_id
        self.plan = plan
        self.system = system
        self.cells = cells
        self.state = state
        self.future = future
        self.max_steps = max_steps
        self.finished = False
        self.live: set[Token] = set()
        self.slots: dict[tuple[Group, Step], list[Token]] = {}
        self.terminals: list[tuple[tuple[int, ...], Step, Any]] = []
        self.visited: list[str] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def begin(self, data: Any) -> None:
        token = Token(self, self.plan.start, data, (), ())
        self.live.add(token)
        self.dispatch((token,))

    def fail(self, error: BaseException) -> None:
        if self.finished:
            return
        self.finished = True
        if not self.future.done():
            self.future.set_exception(error)

    def node_failed(self, step: Step, error: BaseException) -> None:
        failure = WorkflowError(f"workflow run {self.run_id}: node {step.name!r} failed: {error!r}")
        failure.__cause__ = error
        self.fail(failure)

    def close(self) -> None:
        """Drop every buffer (the run finished, failed, timed out or was cancelled)."""
        self.finished = True
        self.live.clear()
        self.slots.clear()

    def _complete(self) -> None:
        self.finished = True
        self.terminals.sort(key=lambda terminal: terminal[0])
        if not self.future.done():
            self.future.set_result(None)

    @property
    def waiting(self) -> int:
        return sum(len(parked) for parked in self.slots.values())

    # -- moving tokens -----------------------------------------------------------------------

    def completed(self, token: Token, output: Any) -> None:
        """The node at ``token.step`` returned ``output``: route it and deliver what follows."""
        try:
            sends = self.advance(token, output)
        except WorkflowError as error:
            self.fail(error)
            return
        if sends:
            self.dispatch(sends)

    def dispatch(self, tokens: list[Token] | tuple[Token, ...]) -> None:
        system = self.system
        cells = self.cells
        for token in tokens:
            cell = cells[token.step.index]
            envelope = Envelope(
                token, None, cell.address, system._next_id(), None, None, system.clock()
            )
            envelope.on_done = _token_done
            system._deliver(cell, envelope, None)
            if self.finished:
                return

    def advance(self, token: Token, output: Any) -> list[Token]:
        """Bookkeeping after a node ran; returns the tokens to deliver. Never awaits."""
        step = token.step
        visited = self.visited
        visited.append(step.name)
        if len(visited) > self.max_steps:
            raise WorkflowError(
                f"workflow run {self.run_id} exceeded max_steps={self.max_steps} node executions"
                f" (last node: {step.name!r}); a cycle keeps routing. Fix the loop's exit"
                " condition or raise Workflow(max_steps=...)"
            )
        self.live.discard(token)
        if step.unconditional:
            targets: tuple[Step, ...] | list[Step] = step.targets
        else:
            targets = step.route(token.value, output, self.state)
        sends: list[Token] = []
        count = len(targets)
        if count == 0:
            self.terminals.append((token.path, step, output))
        elif count == 1:
            token.step = targets[0]
            token.value = output
            self._arrive(token, sends)
        else:
            group = Group(step, count)
            groups = token.groups
            path = token.path
            for branch, target in enumerate(targets):
                self._arrive(
                    Token(self, target, output, (*groups, (group, branch)), (*path, branch)), sends
                )
        if self.slots:
            self._release(sends)
        if not self.live and not self.slots:
            self._complete()
        return sends

    def _arrive(self, token: Token, sends: list[Token]) -> None:
        if token.groups and token.step.is_join:
            key = (token.groups[-1][0], token.step)
            parked = self.slots.get(key)
            if parked is None:
                self.slots[key] = [token]
            else:
                parked.append(token)
            return
        self.live.add(token)
        sends.append(token)

    # -- fan-in ------------------------------------------------------------------------------

    def _release(self, sends: list[Token]) -> None:
        slots = self.slots
        while slots:
            for key in list(slots):
                if not self._blocked(key):
                    self._open(key, slots.pop(key), sends)
                    break
            else:
                if self.live:
                    return
                # Only waiting tokens are left and they wait on each other (their join steps
                # lie on a cycle): open the slot holding the earliest branch.
                key = min(slots, key=lambda k: min(token.path for token in slots[k]))
                self._open(key, slots.pop(key), sends)

    def _blocked(self, key: tuple[Group, Step]) -> bool:
        """Whether a token of ``key``'s group may still arrive at ``key``'s step."""
        group, step = key
        bit = step.bit
        for token in self.live:
            if token.step.reach_star & bit and token.groups and _in_group(token, group):
                return True
        for other, parked in self.slots.items():
            if other == key:
                continue
            at = other[1]
            # Tokens waiting at another step go on from there; tokens waiting at this very step
            # for an inner fan-out will arrive here again for this one once that opens.
            if at is step or at.reach_plus & bit:
                for token in parked:
                    if _in_group(token, group):
                        return True
        return False

    def _may_meet_downstream(self, group: Group, step: Step) -> bool:
        """Whether another token of ``group`` may reach a step after ``step``."""
        downstream = step.reach_plus
        if not downstream:
            return False
        for token in self.live:
            if token.step.reach_star & downstream and _in_group(token, group):
                return True
        for (_, at), parked in self.slots.items():
            if at.reach_star & downstream:
                for token in parked:
                    if _in_group(token, group):
                        return True
        return False

    def _open(self, key: tuple[Group, Step], parked: list[Token], sends: list[Token]) -> None:
        group, step = key
        if len(parked) == 1:
            token = parked[0]
        else:
            parked.sort(key=lambda waiting: waiting.groups[-1][1])
            first = parked[0]
            token = Token(
                self, step, [waiting.value for waiting in parked], first.groups, first.path
            )
        if self._may_meet_downstream(group, step):
            # Keep the group: the joined token meets the group's other branches later on.
            self.live.add(token)
            sends.append(token)
            return
        token.groups = token.groups[:-1]
        self._arrive(token, sends)

    # -- reporting ---------------------------------------------------------------------------

    def describe_pending(self) -> str:
        parts: list[str] = []
        for (group, step), parked in self.slots.items():
            parts.append(
                f"fan-in at {step.name!r} holds {len(parked)} of the {group.size} branches from"
                f" {group.source.name!r}"
            )
        running = sorted({token.step.name for token in self.live})
        if running:
            parts.append(f"still running or queued: {', '.join(map(repr, running))}")
        return "; ".join(parts) or "nothing pending"
