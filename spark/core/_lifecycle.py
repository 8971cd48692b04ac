"""Failure, supervision, restart and stop of actor cells.

Every transition of a cell runs in that cell's own run loop (as a control item), so an actor is
never restarted or stopped while one of its handlers is running. Supervision only *decides*
here and posts the outcome to the control lane; backoff delays are timers, so a backing-off
actor blocks nobody (its queued messages simply wait).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from spark.core._runtime import RUNNING, STOPPED, STOPPING, ActorCell
from spark.core.exceptions import ActorFailed, MessageDeliveryError
from spark.core.identity import ActorAddress, Dropped, Envelope
from spark.core.messages import (
    ABNORMAL_EXIT,
    NORMAL_EXIT,
    ActorExited,
    CancellationRequest,
    ChildActorExited,
    ChildActorRestarted,
    WakeupMessage,
)
from spark.core.supervision import RestartWindow, SupervisorStrategy

if TYPE_CHECKING:
    from spark.core.supervision import Directive

__all__ = [
    "RESUME",
    "Escalation",
    "LinkExit",
    "RestartRequest",
    "StopRequest",
    "bound_ok",
    "done",
    "finalize",
    "handle_control",
    "handle_envelope",
    "handler_failed",
    "kill",
]

_STOP = SupervisorStrategy.stop()


class StopRequest:
    __slots__ = ("code", "reason")

    def __init__(self, reason: str, code: int) -> None:
        self.reason = reason
        self.code = code


class RestartRequest:
    __slots__ = ("error", "reason")

    def __init__(self, error: BaseException, reason: str) -> None:
        self.error = error
        self.reason = reason


class Escalation:
    __slots__ = ("child", "error", "reason")

    def __init__(self, child: ActorCell, error: BaseException, reason: str) -> None:
        self.child = child
        self.error = error
        self.reason = reason


class LinkExit:
    __slots__ = ("actor", "code", "reason")

    def __init__(self, actor: ActorAddress, reason: str, code: int) -> None:
        self.actor = actor
        self.reason = reason
        self.code = code


class _Resume:
    __slots__ = ()


RESUME = _Resume()


def done(envelope: Envelope, outcome: str) -> bool:
    """Tell an extension how the delivery of ``envelope`` ended (at most once).

    Returns ``True`` when the extension took a dropped message back (it will deliver it
    elsewhere), so the caller must not fail its ask.
    """
    on_done = envelope.on_done
    if on_done is None:
        return False
    envelope.on_done = None
    return on_done(envelope, outcome) is True


async def call_hook(cell: ActorCell, name: str, hook: Callable[..., Any], *args: Any) -> bool:
    """Run a lifecycle hook (sync or async). A failure is recorded, never propagated."""
    try:
        result = hook(*args)
        if inspect.isawaitable(result):
            await result
    except Exception as error:
        cell.kernel.bus.emit(
            "lifecycle_hook_failed",
            cell.address,
            reason=f"{name} raised {error!r}",
            fields={"hook": name},
        )
        cell.kernel.logger.warning("%s of %s raised %r", name, cell.address, error)
        return False
    return True


def bound_ok(cell: ActorCell, envelope: Envelope) -> bool:
    """Whether a runtime-originated message still belongs to the current incarnation."""
    if envelope.incarnation != cell.incarnation:
        cell.kernel._dead_letter(envelope, "stale incarnation")
        return False
    content = envelope.content
    if isinstance(content, WakeupMessage) and (
        cell._timers is None or not cell._timers.is_live(envelope)
    ):
        # The timer was cancelled after this wakeup was queued: it must not be delivered.
        done(envelope, Dropped("timer cancelled"))
        return False
    return True


async def handle_envelope(cell: ActorCell, envelope: Envelope) -> None:
    """Process one envelope with failure handling (control lane and concurrent handlers)."""
    kernel = cell.kernel
    serial = cell.max_concurrency == 1
    if serial:
        cell.current = envelope
    try:
        result = cell.handler(envelope)
        if cell.handler_is_async:
            result = await result
    except Exception as error:
        if serial:
            cell.current = None
        await handler_failed(cell, envelope, error)
        return
    except asyncio.CancelledError as error:
        if serial:
            cell.current = None
        if is_cancelled():
            raise
        await handler_failed(cell, envelope, error)
        return
    if serial:
        cell.current = None
    cell.processed += 1
    if result is not None:
        kernel._reply(envelope, result, cell.address)
    done(envelope, "processed")
    if kernel.trace_messages:
        kernel.bus.emit("message_processed", cell.address, envelope.id)


def is_cancelled() -> bool:
    """Whether the running task was asked to cancel, as opposed to a handler raising a stray
    ``CancelledError`` (e.g. from awaiting a future someone else cancelled). A real
    cancellation always propagates; a stray one is an ordinary handler failure."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


async def handler_failed(cell: ActorCell, envelope: Envelope, error: BaseException) -> None:
    """A handler raised: dead-letter the message, fail its ask, apply supervision."""
    kernel = cell.kernel
    cell.failures += 1
    reason = f"handler failed: {error!r}"
    if envelope.correlation_id is not None:
        failure = ActorFailed(cell.address, reason)
        failure.__cause__ = error
        kernel._fail_slot(envelope, failure)
    done(envelope, "failed")
    kernel._dead_letter(envelope, reason)
    kernel.bus.emit(
        "actor_failed",
        cell.address,
        envelope.id,
        reason,
        {"error_type": type(error).__qualname__},
    )
    supervise(cell, error, reason)


def strategy_for(cell: ActorCell) -> SupervisorStrategy:
    """The child's own spec strategy, else the parent's class strategy, else stop."""
    strategy = cell.spec.supervisor_strategy
    if strategy is not None:
        return strategy
    parent = cell.parent
    if parent is not None and parent.actor is not None:
        inherited = type(parent.actor).supervisor_strategy
        if inherited is not None:
            return inherited
    return _STOP


def supervise(cell: ActorCell, error: BaseException, reason: str) -> Directive:
    """Decide what happens to ``cell`` after a failure and post the outcome to it."""
    kernel = cell.kernel
    strategy = strategy_for(cell)
    directive: Directive = strategy.directive
    delay = 0.0
    if directive == "resume" and not cell.started_ok:
        directive = "stop"  # no healthy instance to resume (a restart failed to build one)
    elif directive == "restart":
        window = cell.restart_window
        if window is None:
            window = cell.restart_window = RestartWindow()
        attempt = window.admit(kernel.clock(), strategy)
        if attempt is None:
            directive = "stop"
            reason = "restart limit exceeded"
        else:
            delay = strategy.backoff_delay(attempt, kernel.rng)
    elif directive == "escalate" and (cell.parent is None or cell.parent.state != RUNNING):
        kernel.bus.emit("supervision_escalated", cell.address, reason=reason)
        directive = "stop"
    kernel.bus.emit(
        "supervision_decision",
        cell.address,
        reason=reason,
        fields={"directive": directive, "scope": strategy.scope, "backoff": delay},
    )
    if directive == "stop":
        cell.post_control(StopRequest(reason, ABNORMAL_EXIT))
    elif directive == "escalate":
        cell.suspended = True
        cell.parent.post_control(Escalation(cell, error, reason))  # type: ignore[union-attr]
    elif directive == "restart":
        for target in _restart_scope(cell, strategy):
            _schedule_restart(target, error, reason, delay)
    return directive


def _restart_scope(cell: ActorCell, strategy: SupervisorStrategy) -> list[ActorCell]:
    if strategy.scope == "one_for_one":
        return [cell]
    siblings = list(cell.parent.children or ()) if cell.parent else list(cell.kernel.top_level)
    if strategy.scope == "rest_for_one" and cell in siblings:
        siblings = siblings[siblings.index(cell) :]
    return [s for s in siblings if s is cell or s.state == RUNNING]


def _schedule_restart(cell: ActorCell, error: BaseException, reason: str, delay: float) -> None:
    cell.suspended = True
    request = RestartRequest(error, reason)
    if cell.pending_restart is not None:
        cell.pending_restart.cancel()
        cell.pending_restart = None
    if delay <= 0:
        cell.post_control(request)
    else:
        cell.pending_restart = cell.kernel.loop.call_later(delay, cell.post_control, request)


async def restart_now(cell: ActorCell, request: RestartRequest) -> None:
    """Replace the instance: same address and mailbox, incarnation + 1."""
    cell.pending_restart = None
    if cell.state != RUNNING:
        return
    kernel = cell.kernel
    old = cell.actor
    await stop_children(cell, "parent restarting")
    cell.cancel_timers()
    if old is not None and cell.started_ok:
        await call_hook(cell, "pre_restart", old.pre_restart, request.error)
    cell.detach()
    old_incarnation = cell.incarnation
    cell.incarnation += 1
    try:
        actor = cell.spec.instantiate()
        cell.attach(actor)
        await actor._spark_before_start()
        cell.extended = actor
        result = actor.pre_start()
        if inspect.isawaitable(result):
            await result
    except Exception as error:
        cell.failures += 1
        reason = f"restart failed: {error!r}"
        kernel.bus.emit("lifecycle_hook_failed", cell.address, reason=reason)
        supervise(cell, error, reason)
        return
    cell.started_ok = True
    cell.suspended = False
    cell.restarts += 1
    kernel.bus.emit(
        "actor_restarted",
        cell.address,
        reason=request.reason,
        fields={"old_incarnation": old_incarnation, "new_incarnation": cell.incarnation},
    )
    parent = cell.parent
    if parent is not None:
        parent.post_control(
            ChildActorRestarted(cell.address, old_incarnation, cell.incarnation, request.reason)
        )


def resume(cell: ActorCell) -> None:
    cell.suspended = False
    escalated = cell.escalated_children
    if escalated:
        cell.escalated_children = None
        for child in escalated:
            child.post_control(RESUME)


async def on_escalation(cell: ActorCell, item: Escalation) -> None:
    """A child escalated its failure: it becomes this actor's own failure."""
    child = item.child
    if child.state >= STOPPING:
        return
    if cell.escalated_children is None:
        cell.escalated_children = []
    cell.escalated_children.append(child)
    cell.failures += 1
    reason = f"escalated by {child.address}: {item.reason}"
    cell.kernel.bus.emit(
        "actor_failed", cell.address, reason=reason, fields={"escalated_from": str(child.address)}
    )
    if supervise(cell, item.error, reason) == "resume":
        resume(cell)


async def on_link_exit(cell: ActorCell, item: LinkExit) -> None:
    actor = cell.actor
    if actor is not None and type(actor).trap_exits:
        notice = ActorExited(item.actor, item.reason, item.code)
        kernel = cell.kernel
        envelope = Envelope(
            notice, None, cell.address, kernel._next_id(), None, None, kernel.clock()
        )
        await handle_envelope(cell, envelope)
    elif item.code != NORMAL_EXIT:
        await stop_now(cell, f"linked actor exited: {item.reason}", ABNORMAL_EXIT)


def _cancel_request(cell: ActorCell, item: CancellationRequest) -> None:
    user = cell.mailbox.user
    if not user:
        return
    for envelope in user:
        if envelope.correlation_id == item.correlation_id:
            user.remove(envelope)
            cell.mailbox.wake_space_waiter()  # a slot freed without a dequeue
            cell.kernel._dead_letter(envelope, "ask cancelled")
            return


async def handle_control(cell: ActorCell, item: object) -> None:
    kind = item.__class__
    actor = cell.actor
    if kind is Envelope:
        await handle_envelope(cell, item)  # type: ignore[arg-type]
    elif kind is StopRequest:
        await stop_now(cell, item.reason, item.code)  # type: ignore[attr-defined]
    elif kind is RestartRequest:
        await restart_now(cell, item)  # type: ignore[arg-type]
    elif kind is Escalation:
        await on_escalation(cell, item)  # type: ignore[arg-type]
    elif kind is _Resume:
        resume(cell)
    elif kind is LinkExit:
        await on_link_exit(cell, item)  # type: ignore[arg-type]
    elif kind is ChildActorExited and actor is not None:
        await call_hook(cell, "on_child_exited", actor.on_child_exited, item.child, item.reason)  # type: ignore[attr-defined]
    elif kind is ChildActorRestarted and actor is not None:
        notice: ChildActorRestarted = item  # type: ignore[assignment]
        await call_hook(
            cell,
            "on_child_restarted",
            actor.on_child_restarted,
            notice.child,
            notice.old_incarnation,
            notice.new_incarnation,
            notice.reason,
        )
    elif kind is CancellationRequest:
        _cancel_request(cell, item)  # type: ignore[arg-type]


# -- stopping ---------------------------------------------------------------------------------


async def stop_children(cell: ActorCell, reason: str) -> None:
    """Stop children newest first, each fully, before returning."""
    children = cell.children
    if not children:
        return
    for child in reversed(list(children)):
        await cell.kernel._stop_cell(child, reason, NORMAL_EXIT)


async def stop_now(cell: ActorCell, reason: str, code: int) -> None:
    """The orderly stop, run in the cell's own task."""
    if cell.state >= STOPPING:
        return
    kernel = cell.kernel
    cell.state = STOPPING
    cell.accepting = False
    cell.exit_reason = reason
    cell.exit_code = code
    if cell.pending_restart is not None:
        cell.pending_restart.cancel()
        cell.pending_restart = None
    cell.mailbox.release_all_waiters()
    if cell.inflight:
        pending = list(cell.inflight)
        _, still_running = await asyncio.wait(pending, timeout=kernel.stop_timeout)
        for task in still_running:
            task.cancel()
    await stop_children(cell, "system is shut down" if kernel.closing else "parent stopped")
    cell.cancel_timers()
    actor = cell.actor
    if actor is not None and cell.started_ok:
        await call_hook(cell, "post_stop", actor.post_stop)
    extended = cell.extended
    if extended is not None:
        cell.extended = None
        await call_hook(cell, "_spark_after_stop", extended._spark_after_stop)
    finalize(cell, reason, code)


def finalize(cell: ActorCell, reason: str, code: int, *, notify_parent: bool = True) -> None:
    """Bookkeeping of a stopped actor; synchronous so a kill can always complete it."""
    if cell.state == STOPPED:
        return
    kernel = cell.kernel
    address = cell.address
    cell.state = STOPPED
    cell.accepting = False
    cell.exit_reason = reason
    cell.exit_code = code
    queued_reason = "system is shut down" if kernel.closing else "actor stopped"
    current = cell.current
    if current is not None:
        cell.current = None
        if not done(current, Dropped("actor stopped")):
            kernel._fail_slot(current, MessageDeliveryError(address, "actor stopped"))
    if cell.inflight:
        for task, envelope in list(cell.inflight.items()):
            if not done(envelope, Dropped("actor stopped")):
                kernel._fail_slot(envelope, MessageDeliveryError(address, "actor stopped"))
            task.cancel()
    mailbox = cell.mailbox
    user = mailbox.user
    while user:
        kernel._dead_letter(user.popleft(), queued_reason)
    control = mailbox.control
    while control:
        item = control.popleft()
        if item.__class__ is Envelope:
            kernel._dead_letter(item, queued_reason)
    mailbox.release_all_waiters()
    cell.release_idle_lanes()
    cell.cancel_timers()
    if cell.pending_restart is not None:
        cell.pending_restart.cancel()
        cell.pending_restart = None
    kernel._fail_asks_to(address, "actor stopped")
    kernel._cells.pop(address.actor_id, None)
    for name in cell.names or ():
        if kernel._names.get(name) == address:
            del kernel._names[name]
    cell.names = None
    parent = cell.parent
    if parent is not None and notify_parent:
        parent.remove_child(cell)
        if parent.escalated_children and cell in parent.escalated_children:
            parent.escalated_children.remove(cell)
        parent.post_control(ChildActorExited(address, reason, code))
    else:
        kernel.top_level.pop(cell, None)
    if cell.watchers:
        notice = ActorExited(address, reason, code)
        for watcher in cell.watchers:
            kernel._notify_exit(watcher, notice)
        cell.watchers = None
    if cell.monitoring:
        for target in cell.monitoring:
            if target.watchers:
                target.watchers.discard(address)
        cell.monitoring = None
    if cell.links:
        for other in cell.links:
            if other.links:
                other.links.discard(cell)
            other.post_control(LinkExit(address, reason, code))
        cell.links = None
    extended = cell.extended
    if extended is not None:
        # Killed, or failed to start after its extension started: release what the
        # extension holds (a persistence id, ...) even though no orderly stop ran.
        cell.extended = None
        kernel._spawn(call_hook(cell, "_spark_after_stop", extended._spark_after_stop))
    cell.detach()
    kernel.bus.emit(
        "actor_stopped",
        address,
        reason=reason,
        fields={"exit_code": code, "class": type(cell.actor).__qualname__},
    )
    stopped = cell.stopped
    if stopped is not None and not stopped.done():
        stopped.set_result(None)


def kill(cell: ActorCell, reason: str) -> None:
    """Stop at once, without waiting for handlers or hooks (after a stop timed out)."""
    if cell.state == STOPPED:
        return
    for child in reversed(list(cell.children or ())):
        kill(child, "parent killed")
    cell.killed = True
    task = cell.task
    finalize(cell, reason, ABNORMAL_EXIT)
    if task is not None and task is not asyncio.current_task() and not task.done():
        task.cancel()
