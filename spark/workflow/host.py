"""The actor that runs a user's node instance inside a syndicate.

The core builds actors from classes (``ActorSpec``); a workflow is built from node *instances*.
A host actor bridges the two: the spec builds a host holding the instance, and before the host
starts it attaches the node to the same actor cell, so the node's own helpers (``address``,
``tell``, ``ask``, timers, children) work as for any actor. Lifecycle hooks are forwarded.

A host is made per node class (``host_class``) so diagnostics and events show the node's class
name and the class attributes the core reads (``supervisor_strategy``, ``trap_exits``) are the
node's.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, cast

from spark.core.actor import Actor, MissedTickPolicy
from spark.core.exceptions import ActorAlreadyStartedError
from spark.core.identity import ActorAddress
from spark.core.message import Message
from spark.workflow.engine import Run, Token
from spark.workflow.graph import running_cell
from spark.workflow.node import Node

__all__ = ["AsyncNodeHost", "NodeHost", "SyncNodeHost", "host_class"]


class NodeHost(Actor):
    """Base of the hosts: holds the node and forwards the lifecycle to it."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._node_process = node.process

    def process(self, message: Message) -> Any:
        raise NotImplementedError

    # -- lifecycle forwarding ----------------------------------------------------------------

    async def _spark_before_start(self) -> None:
        node = self.node
        cell = self._spark_cell
        current = running_cell(node)
        if current is not None and current is not cell:
            raise ActorAlreadyStartedError(
                f"node {node.name!r} already runs as {current.address!r} in syndicate"
                f" {current.kernel.syndicate_id}; a node instance runs in one place at a time"
            )
        node._spark_cell = cell
        await node._spark_before_start()

    async def _spark_after_stop(self) -> None:
        node = self.node
        try:
            await node._spark_after_stop()
        finally:
            if node._spark_cell is self._spark_cell:
                node._spark_cell = None

    def pre_start(self) -> Any:
        return self.node.pre_start()

    def post_stop(self) -> Any:
        return self.node.post_stop()

    def pre_restart(self, error: BaseException) -> Any:
        return self.node.pre_restart(error)

    def on_child_exited(self, child: ActorAddress, reason: str) -> Any:
        return self.node.on_child_exited(child, reason)

    def on_child_restarted(
        self, child: ActorAddress, old_incarnation: int, new_incarnation: int, reason: str
    ) -> Any:
        return self.node.on_child_restarted(child, old_incarnation, new_incarnation, reason)

    def _spark_schedule_durable(
        self,
        delay: float,
        payload: Any,
        timer_id: str | None,
        interval: float | None,
        missed: MissedTickPolicy,
    ) -> str:
        return self.node._spark_schedule_durable(delay, payload, timer_id, interval, missed)

    def _spark_cancel_durable(self, timer_id: str) -> bool:
        return self.node._spark_cancel_durable(timer_id)


class AsyncNodeHost(NodeHost):
    """Hosts a node whose ``process`` is ``async``."""

    async def process(self, message: Message) -> Any:
        token = message.content
        if token.__class__ is not Token:
            # A plain message sent to the node's address: the node answers like any actor.
            return await self._node_process(message)
        run = token.run
        if run.finished:
            return None  # a branch of a run that already ended (failed or timed out)
        try:
            output = await self._node_process(
                Message(token.value, None, message.id, run.run_id, None, run.state)
            )
        except (Exception, asyncio.CancelledError) as error:
            # The core records the failure too: dead letter, actor_failed event, supervision.
            _fail_run(run, token, error)
            raise
        if not run.finished:
            run.completed(token, output)
        return None


class SyncNodeHost(NodeHost):
    """Hosts a node whose ``process`` is a plain function (no coroutine per message)."""

    def process(self, message: Message) -> Any:
        token = message.content
        if token.__class__ is not Token:
            return self._node_process(message)
        run = token.run
        if run.finished:
            return None
        try:
            output = self._node_process(
                Message(token.value, None, message.id, run.run_id, None, run.state)
            )
        except (Exception, asyncio.CancelledError) as error:
            # The core records the failure too: dead letter, actor_failed event, supervision.
            _fail_run(run, token, error)
            raise
        if not run.finished:
            run.completed(token, output)
        return None


def _fail_run(run: Run, token: Token, error: BaseException) -> None:
    """Fail ``run`` for the node's ``error``.

    A ``CancelledError`` while the actor's task is being cancelled (a kill, a shutdown) is left
    alone: the core reports the input as dropped, which fails the run. Any other error -
    including a ``CancelledError`` the node raised itself, which the core treats as an ordinary
    handler failure - fails the run here, naming the node.
    """
    if isinstance(error, asyncio.CancelledError):
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            return
    run.node_failed(token.step, error)


def host_class(node: Node) -> type[NodeHost]:
    """A host class for ``node``: sync or async like its ``process``, carrying the node class's
    name and supervision attributes."""
    node_class = type(node)
    base = AsyncNodeHost if inspect.iscoroutinefunction(node.process) else SyncNodeHost
    namespace = {
        "__module__": node_class.__module__,
        "__qualname__": node_class.__qualname__,
        "supervisor_strategy": node_class.supervisor_strategy,
        "trap_exits": node_class.trap_exits,
    }
    return cast(type[NodeHost], type(node_class.__name__, (base,), namespace))
