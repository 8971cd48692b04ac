"""Actor cells and their run loops.

A cell is the runtime's side of one actor: its mailbox, its instance, its place in the tree and
its counters. An idle cell owns no task: the first message scheduled on it starts a run loop,
which drains the control lane first, then the user lane, and ends when both are empty. (It
lingers for one loop iteration first, so a request/reply ping-pong does not create a task per
message.)
"""

from __future__ import annotations

import asyncio
import inspect
import types
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from spark.core.identity import ActorAddress, Envelope
from spark.core.mailbox import Mailbox

if TYPE_CHECKING:
    from spark.core._tree import TreeKernel
    from spark.core.actor import Actor
    from spark.core.spec import ActorSpec
    from spark.core.supervision import RestartWindow
    from spark.core.timers import TimerRegistry

__all__ = ["RUNNING", "STARTING", "STOPPED", "STOPPING", "ActorCell"]

# Cell states, in order.
STARTING, RUNNING, STOPPING, STOPPED = 0, 1, 2, 3


@types.coroutine
def _yield_once() -> Generator[None, None, None]:
    """Let every other ready callback run once (cheaper than ``asyncio.sleep(0)``)."""
    yield


class ActorCell:
    """Runtime state of one actor. Internal."""

    __slots__ = (
        "_timers",
        "accepting",
        "actor",
        "address",
        "busy_time",
        "children",
        "current",
        "escalated_children",
        "exit_code",
        "exit_reason",
        "extended",
        "failures",
        "handler",
        "handler_is_async",
        "incarnation",
        "inflight",
        "kernel",
        "killed",
        "links",
        "mailbox",
        "max_concurrency",
        "monitoring",
        "names",
        "parent",
        "pending_restart",
        "processed",
        "restart_window",
        "restarts",
        "spec",
        "started_ok",
        "state",
        "stopped",
        "suspended",
        "task",
        "waiting_on",
        "watchers",
    )

    def __init__(
        self,
        kernel: TreeKernel,
        address: ActorAddress,
        spec: ActorSpec,
        parent: ActorCell | None,
    ) -> None:
        self.kernel = kernel
        self.address = address
        self.spec = spec
        self.parent = parent
        self.mailbox = Mailbox(spec.mailbox_policy)
        self.max_concurrency = spec.max_concurrency
        self.state = STARTING
        self.accepting = True
        self.task: asyncio.Task[None] | None = None
        self.actor: Actor | None = None
        self.handler: Any = None
        self.handler_is_async = False
        self.started_ok = False
        # The instance whose _spark_before_start completed and whose _spark_after_stop is due.
        self.extended: Actor | None = None
        self.incarnation = 0
        self.current: Envelope | None = None
        self.inflight: dict[asyncio.Task[None], Envelope] | None = None
        # dicts (insertion-ordered) so removing one of many children is O(1)
        self.children: dict[ActorCell, None] | None = None
        self.escalated_children: list[ActorCell] | None = None
        self.watchers: set[ActorAddress] | None = None
        self.monitoring: set[ActorCell] | None = None
        self.links: set[ActorCell] | None = None
        self.waiting_on: list[ActorCell] | None = None
        self.names: list[str] | None = None
        self._timers: TimerRegistry | None = None
        self.restart_window: RestartWindow | None = None
        self.pending_restart: asyncio.TimerHandle | None = None
        self.stopped: asyncio.Future[None] | None = None
        self.suspended = False
        self.killed = False
        self.exit_reason: str | None = None
        self.exit_code = 0
        self.processed = 0
        self.failures = 0
        self.restarts = 0
        self.busy_time = 0.0

    def __repr__(self) -> str:
        return f"<ActorCell {self.address} {type(self.actor).__qualname__} state={self.state}>"

    # -- instance ------------------------------------------------------------------------

    def attach(self, actor: Actor) -> None:
        """Make ``actor`` the current instance (on start and on every restart)."""
        self.actor = actor
        actor._spark_cell = self
        self.handler = actor.process
        self.handler_is_async = inspect.iscoroutinefunction(self.handler)
        self.started_ok = False
        if type(actor)._spark_gated:
            self.mailbox.set_gate(actor._spark_admit)

    def detach(self) -> None:
        actor = self.actor
        if actor is not None and actor._spark_cell is self:
            actor._spark_cell = None

    def timers(self) -> TimerRegistry:
        timers = self._timers
        if timers is None:
            from spark.core.timers import TimerRegistry

            timers = self._timers = TimerRegistry(self)
        return timers

    def cancel_timers(self) -> None:
        if self._timers is not None:
            self._timers.cancel_all()

    def timer_count(self) -> int:
        return 0 if self._timers is None else len(self._timers)

    # -- tree bookkeeping ----------------------------------------------------------------

    def add_child(self, child: ActorCell) -> None:
        if self.children is None:
            self.children = {}
        self.children[child] = None

    def remove_child(self, child: ActorCell) -> None:
        if self.children is not None:
            self.children.pop(child, None)

    def add_name(self, name: str) -> None:
        if self.names is None:
            self.names = []
        if name not in self.names:
            self.names.append(name)

    def discard_name(self, name: str) -> None:
        if self.names is not None and name in self.names:
            self.names.remove(name)

    # -- deadlock detection --------------------------------------------------------------

    def waiting_on_add(self, target: ActorCell) -> None:
        if self.waiting_on is None:
            self.waiting_on = []
        self.waiting_on.append(target)

    def waiting_on_remove(self, target: ActorCell) -> None:
        if self.waiting_on is not None:
            self.waiting_on.remove(target)

    def waits_on(self, other: ActorCell) -> bool:
        """Whether this cell's handler is (transitively) blocked on an ask to ``other``."""
        seen: set[int] = set()
        pending = [self]
        while pending:
            cell = pending.pop()
            for target in cell.waiting_on or ():
                if target is other:
                    return True
                if id(target) not in seen:
                    seen.add(id(target))
                    pending.append(target)
        return False

    def current_deadline(self) -> float | None:
        """Deadline of the message this actor is handling (inherited by nested sends)."""
        if self.max_concurrency == 1:
            current = self.current
            return None if current is None else current.deadline
        if self.inflight:
            envelope = self.inflight.get(asyncio.current_task())  # type: ignore[arg-type]
            if envelope is not None:
                return envelope.deadline
        return None

    # -- scheduling ----------------------------------------------------------------------

    def schedule(self) -> None:
        """Start the run loop (the caller checked that none is running)."""
        loop = self.kernel.loop
        if self.max_concurrency == 1:
            self.task = loop.create_task(self.run())
        else:
            self.task = loop.create_task(self.run_concurrent())

    def post_control(self, item: object) -> None:
        """Queue a control item (served before user messages) and make sure it is seen."""
        if self.state == STOPPED:
            return
        self.mailbox.put_control(item)
        if self.task is None and self.state != STARTING:
            self.schedule()

    # -- run loops -----------------------------------------------------------------------

    async def run(self) -> None:
        """Serial run loop: one message at a time."""
        kernel = self.kernel
        mailbox = self.mailbox
        clock = kernel.clock
        started = clock()
        lingered = False
        try:
            while True:
                control = mailbox.control
                if control:
                    await _lifecycle.handle_control(self, control.popleft())
                    if self.state >= STOPPING:
                        return
                    lingered = False
                    continue
                if self.suspended:
                    return
                user = mailbox.user
                if not user:
                    if lingered:
                        return
                    lingered = True
                    if mailbox.space_waiters:
                        # A queued message left without a dequeue (an ask was cancelled).
                        mailbox.wake_space_waiter()
                    # Idle time is not processing time (diagnostics' mean processing time).
                    self.busy_time += clock() - started
                    await _yield_once()
                    started = clock()
                    continue
                lingered = False
                envelope = user.popleft()
                if mailbox.space_waiters:
                    mailbox.wake_space_waiter()
                deadline = envelope.deadline
                if deadline is not None and deadline <= clock():
                    kernel._dead_letter(envelope, "message expired")
                    continue
                if envelope.incarnation is not None and not _lifecycle.bound_ok(self, envelope):
                    continue
                # The hot path: the body of handle() inlined (one coroutine frame less).
                self.current = envelope
                try:
                    result = self.handler(envelope)
                    if self.handler_is_async:
                        result = await result
                except Exception as error:
                    self.current = None
                    await _lifecycle.handler_failed(self, envelope, error)
                    if self.state >= STOPPING:
                        return
                    continue
                except asyncio.CancelledError as error:
                    self.current = None
                    if _lifecycle.is_cancelled():
                        raise
                    await _lifecycle.handler_failed(self, envelope, error)
                    if self.state >= STOPPING:
                        return
                    continue
                self.current = None
                self.processed += 1
                if result is not None:
                    kernel._reply(envelope, result, self.address)
                if envelope.on_done is not None:
                    _lifecycle.done(envelope, "processed")
                if kernel.trace_messages:
                    kernel.bus.emit("message_processed", self.address, envelope.id)
        except asyncio.CancelledError:
            if self.killed:
                return  # we cancelled ourselves in kill(); the cell is already finalized
            raise
        except Exception:
            kernel.logger.exception("run loop of %s crashed; stopping the actor", self.address)
            _lifecycle.kill(self, "runtime error (see log)")
        finally:
            self.busy_time += clock() - started
            if self.task is asyncio.current_task():
                self.task = None
            self.release_idle_lanes()

    async def handle(self, envelope: Envelope) -> None:
        """Process one envelope outside the inlined hot path (control-lane deliveries)."""
        await _lifecycle.handle_envelope(self, envelope)

    async def run_concurrent(self) -> None:
        """Run loop for stateless actors with ``max_concurrency > 1``."""
        mailbox = self.mailbox
        kernel = self.kernel
        inflight = self.inflight
        if inflight is None:
            inflight = self.inflight = {}
        try:
            while True:
                control = mailbox.control
                if control:
                    await _lifecycle.handle_control(self, control.popleft())
                    if self.state >= STOPPING:
                        return
                    continue
                if self.suspended:
                    return
                user = mailbox.user
                if not user or len(inflight) >= self.max_concurrency:
                    if mailbox.space_waiters:
                        # Slots freed without a dequeue (a cancelled ask) reach blocked senders.
                        mailbox.wake_space_waiter()
                    # Finished handlers restart the loop when work is waiting.
                    return
                envelope = user.popleft()
                if mailbox.space_waiters:
                    mailbox.wake_space_waiter()
                deadline = envelope.deadline
                if deadline is not None and deadline <= kernel.clock():
                    kernel._dead_letter(envelope, "message expired")
                    continue
                task = kernel.loop.create_task(self.handle(envelope))
                inflight[task] = envelope
                task.add_done_callback(self._concurrent_done)
        except asyncio.CancelledError:
            if self.killed:
                return
            raise
        finally:
            if self.task is asyncio.current_task():
                self.task = None
            self.release_idle_lanes()

    def _concurrent_done(self, task: asyncio.Task[None]) -> None:
        if self.inflight is not None:
            self.inflight.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            self.kernel.logger.error(
                "handler task of %s crashed", self.address, exc_info=task.exception()
            )
        if self.task is None and self.state == RUNNING and self.mailbox.user:
            self.schedule()

    def release_idle_lanes(self) -> None:
        """Drop empty deques so an idle actor holds no lane memory."""
        mailbox = self.mailbox
        if mailbox.user is not None and not mailbox.user:
            mailbox.user = None
        if mailbox.control is not None and not mailbox.control:
            mailbox.control = None

    # -- stopping ------------------------------------------------------------------------

    async def wait_stopped(self) -> None:
        if self.state == STOPPED:
            return
        stopped = self.stopped
        if stopped is None:
            stopped = self.stopped = self.kernel.loop.create_future()
        await asyncio.shield(stopped)


# At the bottom: _lifecycle imports this module's names (a cycle resolved at call time).
from spark.core import _lifecycle  # noqa: E402
